"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class DealViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Deal.objects.all()
    permission_resource = "deals"
