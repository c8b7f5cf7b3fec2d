"""Filters and ordering for deals and pipeline stages."""
import django_filters
from django import forms
from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter

from crmApp.constants import MONEY_DIGITS, MONEY_PLACES, DealStatus
from crmApp.filters import CreatedRangeFilterSet
from crmApp.models import Deal, PipelineStage
from crmApp.tenancy import MAX_ID


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """An exact match on a foreign key id; a non-id (text, 0, overflowing) is a 400, a foreign id matches nothing."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class MoneyFilter(django_filters.NumberFilter):
    """A bound on an amount, limited to what a money column can hold."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_PLACES)
        super().__init__(*args, **kwargs)


class DealFilterSet(CreatedRangeFilterSet):
    """`status, stage, pipeline, customer, assigned_to`, created and expected-close ranges, value bounds."""

    status = django_filters.ChoiceFilter(choices=DealStatus.choices)
    stage = IdFilter(field_name="stage_id")
    pipeline = IdFilter(field_name="pipeline_id")
    customer = IdFilter(field_name="customer_id")
    assigned_to = IdFilter(field_name="assigned_to_id")
    expected_close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    expected_close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")
    value_min = MoneyFilter(field_name="value", lookup_expr="gte")
    value_max = MoneyFilter(field_name="value", lookup_expr="lte")

    class Meta:
        model = Deal
        fields = []


class PipelineStageFilterSet(django_filters.FilterSet):
    """`?pipeline=` narrows stages to one pipeline."""

    pipeline = IdFilter(field_name="pipeline_id")

    class Meta:
        model = PipelineStage
        fields = []


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with empty values last on every database and the id as the final tiebreak."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") == "id" for term in ordering):
            descending = bool(ordering) and ordering[-1].startswith("-")
            ordering.append("-id" if descending else "id")
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        # SQLite sorts NULL first and PostgreSQL last; pin it so both answer the same.
        expressions = [
            F(term[1:]).desc(nulls_last=True) if term.startswith("-") else F(term).asc(nulls_last=True)
            for term in ordering
        ]
        return queryset.order_by(*expressions)
