"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class EmployeeViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Employee.objects.all()
    permission_resource = "employees"
