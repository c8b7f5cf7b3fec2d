"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class VendorViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Vendor.objects.all()
    permission_resource = "vendors"
