"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class LeadViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Lead.objects.all()
    permission_resource = "leads"
