"""Lead list filters and ordering."""
import django_filters
from django import forms
from django.db.models import F
from django.utils.dateparse import parse_date
from rest_framework.filters import OrderingFilter

from crmApp.constants import LeadSource, LeadStatus
from crmApp.filters import CreatedBoundFilter, CreatedRangeFilterSet, DateOrDateTimeField
from crmApp.models import Lead
from crmApp.services.lead_scoring import MAX_SCORE
from crmApp.tenancy import MAX_ID


class ScoreFilter(django_filters.NumberFilter):
    """A whole score bound, 0–100; anything else is a 400."""

    field_class = forms.IntegerField

    def __init__(self, *, lookup_expr: str, **kwargs):
        super().__init__(field_name="score", lookup_expr=lookup_expr, min_value=0, max_value=MAX_SCORE, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """A database id; a non-number or an overflowing one is a 400, never a database error."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class DayFirstField(DateOrDateTimeField):
    """Reads `YYYY-MM-DD` as a whole day; parse_datetime alone would take it for midnight."""

    def to_python(self, value):
        text = "" if value in self.empty_values else str(value).strip()
        if len(text) == len("YYYY-MM-DD"):
            try:
                day = parse_date(text)
            except ValueError:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            if day is not None:
                return day, True
        return super().to_python(value)


class DayFirstCreatedBound(CreatedBoundFilter):
    """The shared created-at bound, reading plain dates as whole days."""

    field_class = DayFirstField


class LeadFilter(CreatedRangeFilterSet):
    """`status`, `source` (repeatable), `assigned_to`, `score_min`/`score_max`, `created_after`/`created_before`."""

    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    source = django_filters.MultipleChoiceFilter(choices=LeadSource.choices)
    # A plain id (not a model choice): an id of another organization simply matches nothing.
    assigned_to = IdFilter(field_name="assigned_to_id")
    score_min = ScoreFilter(lookup_expr="gte")
    score_max = ScoreFilter(lookup_expr="lte")
    created_after = DayFirstCreatedBound(upper=False)
    created_before = DayFirstCreatedBound(upper=True)

    class Meta:
        model = Lead
        fields = ["status", "source", "assigned_to", "score_min", "score_max", "created_after", "created_before"]


class TiebreakOrderingFilter(OrderingFilter):
    """`?ordering=` with `id` as the last key (same direction as the first), so pages never overlap.

    Nullable fields sort their nulls last in both directions, identically on SQLite and PostgreSQL.
    """

    nulls_last_fields = frozenset({"estimated_value"})

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            descending = bool(ordering) and ordering[0].startswith("-")
            ordering.append("-id" if descending else "id")
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        return queryset.order_by(*(self._expression(term) for term in ordering))

    def _expression(self, term: str):
        name = term.lstrip("-")
        if name not in self.nulls_last_fields:
            return term
        return F(name).desc(nulls_last=True) if term.startswith("-") else F(name).asc(nulls_last=True)
