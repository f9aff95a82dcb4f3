from django.apps import AppConfig

from callbacks.signals import recorded, writers


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        # The outbox needs the models loaded: imported once the registry is ready.
        from webhooks.outbox import anyone_subscribed, enqueue_recorded  # noqa: PLC0415

        recorded.connect(enqueue_recorded, dispatch_uid="webhooks.enqueue_recorded")
        if anyone_subscribed not in writers:
            writers.append(anyone_subscribed)
