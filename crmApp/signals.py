"""Keeps cached reads exact: every saved or deleted tenant row moves its organization's data version."""

from django.apps import apps
from django.db.models.signals import post_delete, post_save

from crmApp.caching import mark_organization_changed


def _invalidate(sender, instance, **kwargs):
    organization_id = getattr(instance, "organization_id", None)
    if organization_id is not None:
        mark_organization_changed(organization_id)


def connect() -> None:
    """Connect the receivers for every CRM model that belongs to an organization."""
    for model in apps.get_app_config("crmApp").get_models():
        if any(field.name == "organization" for field in model._meta.concrete_fields):
            post_save.connect(_invalidate, sender=model, dispatch_uid=f"counts-save-{model._meta.label_lower}")
            post_delete.connect(_invalidate, sender=model, dispatch_uid=f"counts-delete-{model._meta.label_lower}")
