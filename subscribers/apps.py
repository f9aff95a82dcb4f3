from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    # The label the app had when it lived in crm/: tables (crm_subscriber), migration history,
    # permissions ("crm.view_subscriber") and content types all carry it.
    label = "crm"
    verbose_name = "Subscribers"
