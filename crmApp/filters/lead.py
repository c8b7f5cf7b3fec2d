"""Lead list filters."""

import django_filters
from django import forms

from crmApp.constants import LeadSource, LeadStatus
from crmApp.filters import AssigneeFilter, MultiChoiceFilter, RecordFilterSet
from crmApp.models import Lead
from crmApp.services.lead_scoring import MAX_SCORE


class ScoreFilter(django_filters.NumberFilter):
    """A whole score bound, 0–100; anything else is a 400."""

    field_class = forms.IntegerField

    def __init__(self, *, lookup_expr: str, **kwargs):
        super().__init__(field_name="score", lookup_expr=lookup_expr, min_value=0, max_value=MAX_SCORE, **kwargs)


class LeadFilter(RecordFilterSet):
    """`status`, `source` (repeated or comma-separated), `assigned_to`, `score_min`/`score_max`, record ranges."""

    status = MultiChoiceFilter(choices=LeadStatus.choices)
    source = MultiChoiceFilter(choices=LeadSource.choices)
    assigned_to = AssigneeFilter()
    score_min = ScoreFilter(lookup_expr="gte")
    score_max = ScoreFilter(lookup_expr="lte")

    class Meta:
        model = Lead
        fields = ["status", "source", "assigned_to", "score_min", "score_max"]
