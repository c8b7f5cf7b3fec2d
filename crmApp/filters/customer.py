"""Customer list filters: status, type, assignee, source and the record ranges."""

import django_filters

from crmApp.constants import CustomerStatus, CustomerType
from crmApp.filters import AssigneeFilter, MultiChoiceFilter, RecordFilterSet
from crmApp.models import Customer


class CustomerFilter(RecordFilterSet):
    """Filters for /api/customers/; `source` matches regardless of case."""

    status = MultiChoiceFilter(choices=CustomerStatus.choices)
    customer_type = MultiChoiceFilter(choices=CustomerType.choices)
    assigned_to = AssigneeFilter()
    source = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields = ["status", "customer_type", "assigned_to", "source"]
