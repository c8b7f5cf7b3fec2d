"""Filters for deals and pipeline stages."""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from crmApp.constants import MONEY_DIGITS, MONEY_PATTERN, MONEY_PLACES, DealStatus
from crmApp.filters import AssigneeFilter, GivenValueMixin, IdFilter, MultiChoiceFilter, RecordFilterSet
from crmApp.models import Deal, PipelineStage


class GivenDecimalField(GivenValueMixin, forms.DecimalField):
    """An amount that, once sent, must be one."""


class GivenDateField(GivenValueMixin, forms.DateField):
    """A date that, once sent, must be one."""


class DayFilter(django_filters.DateFilter):
    """A bound on a date column (inclusive)."""

    field_class = GivenDateField


@extend_schema_field({"type": "string", "pattern": MONEY_PATTERN, "description": "An amount such as `1500.00`."})
class MoneyFilter(django_filters.NumberFilter):
    """A bound on an amount, limited to what a money column can hold."""

    field_class = GivenDecimalField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_PLACES)
        super().__init__(*args, **kwargs)


class DealFilterSet(RecordFilterSet):
    """`status, stage, pipeline, customer, assigned_to`, created and expected-close ranges, value bounds."""

    status = MultiChoiceFilter(choices=DealStatus.choices)
    stage = IdFilter(field_name="stage_id")
    pipeline = IdFilter(field_name="pipeline_id")
    customer = IdFilter(field_name="customer_id")
    assigned_to = AssigneeFilter()
    expected_close_after = DayFilter(field_name="expected_close_date", lookup_expr="gte")
    expected_close_before = DayFilter(field_name="expected_close_date", lookup_expr="lte")
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
