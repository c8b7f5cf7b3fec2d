"""Customer list filters: status, type, assignee, source and the creation range."""
import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from crmApp.filters import CreatedRangeFilterSet
from crmApp.models import Customer
from crmApp.tenancy import parse_id

UNASSIGNED = "none"


class EmployeeIdField(forms.CharField):
    """An employee id, or `none`; anything else (text, zero, negative, past a bigint) is invalid."""

    default_error_messages = {"invalid": "Enter an employee id or 'none'."}

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if value.lower() == UNASSIGNED:
            return UNASSIGNED
        employee_id = parse_id(value)
        if employee_id is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return employee_id


@extend_schema_field(OpenApiTypes.STR)
class EmployeeIdFilter(django_filters.Filter):
    """Rows assigned to an employee id (a foreign or missing id matches nothing); `none`: unassigned rows."""

    field_class = EmployeeIdField

    def filter(self, qs, value):
        if value is None:
            return qs
        if value == UNASSIGNED:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{f"{self.field_name}_id": value})


class CustomerFilter(CreatedRangeFilterSet):
    """Filters for /api/customers/; `source` matches regardless of case."""

    assigned_to = EmployeeIdFilter(field_name="assigned_to")
    source = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields = ["status", "customer_type", "assigned_to", "source"]
