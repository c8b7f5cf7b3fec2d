"""Audit log filters: who, which record, from where, and when."""

import django_filters

from crmApp.constants import ChangeSource
from crmApp.filters import IdFilter, MomentBoundFilter, MultiChoiceFilter
from crmApp.models import HistoryEntry
from crmApp.serializers.history import RECORD_TYPES


class AuditLogFilter(django_filters.FilterSet):
    """`actor` (a user id), `record_type`, `record_id`, `source`, `after` / `before` (inclusive)."""

    actor = IdFilter(field_name="actor_id")
    record_type = MultiChoiceFilter(choices=[(name, name) for name in RECORD_TYPES])
    record_id = IdFilter(field_name="record_id")
    source = MultiChoiceFilter(choices=ChangeSource.choices)
    after = MomentBoundFilter(field_name="at", upper=False)
    before = MomentBoundFilter(field_name="at", upper=True)

    class Meta:
        model = HistoryEntry
        fields = []
