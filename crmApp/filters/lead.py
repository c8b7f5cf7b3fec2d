"""Lead list filters."""

import django_filters
from drf_spectacular.utils import extend_schema_field

from crmApp.constants import LeadSource, LeadStatus
from crmApp.filters import AssigneeFilter, GivenIntegerField, MultiChoiceFilter, RecordFilterSet
from crmApp.models import Lead
from crmApp.services.lead_scoring import MAX_SCORE


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": MAX_SCORE})
class ScoreFilter(django_filters.NumberFilter):
    """A whole score bound, 0–100; anything else is a 400."""

    field_class = GivenIntegerField

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
