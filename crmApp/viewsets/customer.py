"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class CustomerViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Customer.objects.all()
    permission_resource = "customers"
