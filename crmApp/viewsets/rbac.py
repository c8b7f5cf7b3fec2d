"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class RoleViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Role.objects.all()
    permission_resource = "roles"


class UserRoleViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = UserRole.objects.all()
    permission_resource = "roles"


class PermissionViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Role.objects.all()
    permission_resource = "roles"
