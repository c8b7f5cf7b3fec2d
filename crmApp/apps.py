from django.apps import AppConfig


class CrmAppConfig(AppConfig):
    """The CRM application."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "crmApp"
    verbose_name = "CRM"

    def ready(self):
        from crmApp import signals

        signals.connect()
