"""Filters for role assignments."""

import django_filters

from crmApp.filters import IdFilter
from crmApp.models import UserRole


class UserRoleFilter(django_filters.FilterSet):
    """`?user=<id>` and `?role=<id>`; a value that can't be an id is a 400, never a database error."""

    user = IdFilter(field_name="user_id")
    role = IdFilter(field_name="role_id")

    class Meta:
        model = UserRole
        fields = ["user", "role"]
