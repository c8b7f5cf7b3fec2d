"""Serializer fields shared by the resources."""
from rest_framework import serializers

from crmApp.tenancy import get_tenant, parse_id


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable foreign key that resolves ids only inside the active organization.

    An id of another organization is "does not exist" on that field (a 400), exactly like a missing id.
    `organization_lookup` is the ORM path from the related model to its organization.
    """

    def __init__(self, *, organization_lookup: str = "organization", **kwargs):
        self.organization_lookup = organization_lookup
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None or getattr(self.parent, "swagger_fake_view", False):
            return queryset.none()
        organization = get_tenant(request).organization
        return queryset.filter(**{self.organization_lookup: organization})

    def to_internal_value(self, data):
        if parse_id(data) is None:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)
