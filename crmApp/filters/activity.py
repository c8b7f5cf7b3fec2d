"""Activity list filters: type, subjects, assignee, done, due range, overdue and the record ranges."""

import django_filters
from django import forms
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from crmApp.constants import ActivityType
from crmApp.filters import (
    AssigneeFilter,
    GivenValueMixin,
    IdFilter,
    MomentBoundFilter,
    MultiChoiceFilter,
    RecordFilterSet,
)
from crmApp.models import Activity

TRUE, FALSE = ("true", "1"), ("false", "0")


class StrictBooleanField(GivenValueMixin, forms.Field):
    """`true`/`false` (or `1`/`0`); anything else is a 400 rather than quietly no filter."""

    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value):
        if value is None:
            return None
        text = str(value).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.Filter):
    """An exact match on a boolean column."""

    field_class = StrictBooleanField


class OverdueFilter(StrictBooleanFilter):
    """`overdue=true`: not done and due before now; `overdue=false`: everything else."""

    # What it selects changes as time passes, with no write: a list count using it is never cached.
    reads_the_clock = True

    def filter(self, qs, value):
        if value is None:
            return qs
        overdue = {"is_done": False, "due_at__lt": timezone.now()}
        return qs.filter(**overdue) if value else qs.exclude(**overdue)


class ActivityFilter(RecordFilterSet):
    """Filters for /api/activities/."""

    type = MultiChoiceFilter(choices=ActivityType.choices)
    customer = IdFilter(field_name="customer_id")
    lead = IdFilter(field_name="lead_id")
    deal = IdFilter(field_name="deal_id")
    assigned_to = AssigneeFilter()
    is_done = StrictBooleanFilter(field_name="is_done")
    due_after = MomentBoundFilter(field_name="due_at", upper=False)
    due_before = MomentBoundFilter(field_name="due_at", upper=True)
    overdue = OverdueFilter()

    class Meta:
        model = Activity
        fields = []
