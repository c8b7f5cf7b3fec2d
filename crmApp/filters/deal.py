"""Filters for deals and pipeline stages."""

import django_filters

from crmApp.constants import MONEY_DIGITS, MONEY_PLACES, DealStatus
from crmApp.filters import AssigneeFilter, IdFilter, MultiChoiceFilter, RecordFilterSet
from crmApp.models import Deal, PipelineStage


class MoneyFilter(django_filters.NumberFilter):
    """A bound on an amount, limited to what a money column can hold."""

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
