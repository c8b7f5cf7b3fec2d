"""Employee list filters: `status`, `department`, `created_after`, `created_before`."""

import django_filters

from crmApp.filters import CreatedRangeFilterSet
from crmApp.models import Employee


class EmployeeFilter(CreatedRangeFilterSet):
    """Filters for /api/employees/; `department` matches regardless of case."""

    department = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Employee
        fields = ["status", "department"]
