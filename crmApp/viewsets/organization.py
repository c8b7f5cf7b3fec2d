"""Placeholder until the organization endpoints land."""
from rest_framework import mixins, viewsets

from crmApp.models import Organization


class OrganizationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Organization.objects.none()
