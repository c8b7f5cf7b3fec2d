from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CrmAppConfig(AppConfig):
    """The CRM application."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "crmApp"
    verbose_name = "CRM"

    def ready(self):
        from crmApp import access, timestamps

        access.connect()
        timestamps.connect()


class CRMAdminConfig(admin_apps.AdminConfig):
    """Django's admin, on a site whose sign-in form is throttled like the API's login."""

    default = False  # crmApp's own config stays the default of this module
    default_site = "crmApp.admin_site.CRMAdminSite"
