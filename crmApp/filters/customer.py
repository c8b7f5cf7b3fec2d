"""Customer list filters: status, type, assignee, source and the creation range."""

import django_filters

from crmApp.filters import AssigneeFilter, CreatedRangeFilterSet
from crmApp.models import Customer


class CustomerFilter(CreatedRangeFilterSet):
    """Filters for /api/customers/; `source` matches regardless of case."""

    assigned_to = AssigneeFilter()
    source = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields = ["status", "customer_type", "assigned_to", "source"]
