"""The base of the services: bound to one organization and one actor, so every query is scoped."""

from typing import ClassVar

from django.db import models, transaction


class OrganizationService:
    """Plain create/update/delete of one organization's records; resource services extend it."""

    model: ClassVar[type[models.Model]]

    def __init__(self, *, organization, actor=None):
        self.organization = organization
        self.actor = actor if getattr(actor, "is_authenticated", False) else None

    @property
    def records(self) -> models.QuerySet:
        """This organization's rows of the service's model."""
        return self.model.objects.filter(organization=self.organization)

    @transaction.atomic
    def create(self, **fields):
        """Create a record in the organization, authored by the actor."""
        instance = self.model(organization=self.organization, created_by=self.actor, **fields)
        instance.save()
        return instance

    @transaction.atomic
    def update(self, instance, **fields):
        """Apply the given fields to one of the organization's records."""
        for name, value in fields.items():
            setattr(instance, name, value)
        instance.save()
        return instance

    def delete(self, instance) -> None:
        """Delete a record; RESTRICT/PROTECT references surface as a 409 `protected`."""
        instance.delete()
