"""Employee list filters: `status`, `department` and the record ranges."""

import django_filters

from crmApp.constants import ActiveStatus
from crmApp.filters import MultiChoiceFilter, RecordFilterSet
from crmApp.models import Employee


class EmployeeFilter(RecordFilterSet):
    """Filters for /api/employees/; `department` matches regardless of case."""

    status = MultiChoiceFilter(choices=ActiveStatus.choices)
    department = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Employee
        fields = ["status", "department"]
