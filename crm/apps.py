from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app, for its management commands and template tags.

    It has no models. Its label is not "crm": that label belongs to the subscribers app.
    """

    name = "crm"
    label = "project"
    verbose_name = "Sumotext CRM"

    def ready(self) -> None:
        from lib.admin_lists import headers_once_per_list

        headers_once_per_list()
