from django.apps import AppConfig

from callbacks.signals import recorded


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        # The outbox needs the models loaded: imported once the registry is ready.
        from webhooks.outbox import enqueue_recorded  # noqa: PLC0415

        recorded.connect(enqueue_recorded, dispatch_uid="webhooks.enqueue_recorded")
