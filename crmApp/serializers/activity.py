"""Activity input and output."""

from crmApp.constants import LONG_NAME_MAX, NOTES_MAX
from crmApp.models import Activity, Customer, Deal, Employee, Lead
from crmApp.serializers.common import RECORD_READ_ONLY_FIELDS, RecordSerializer
from crmApp.serializers.fields import MomentField, ScopedPrimaryKeyRelatedField, StrictCharField


class ActivitySerializer(RecordSerializer):
    """A note, call, meeting, task or email about a customer, a lead and/or a deal of the organization."""

    subject = StrictCharField(max_length=LONG_NAME_MAX)
    body = StrictCharField(max_length=NOTES_MAX, required=False, allow_blank=True)
    due_at = MomentField(required=False, allow_null=True)
    assigned_to = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), required=False, allow_null=True)
    customer = ScopedPrimaryKeyRelatedField(queryset=Customer.objects.all(), required=False, allow_null=True)
    lead = ScopedPrimaryKeyRelatedField(queryset=Lead.objects.all(), required=False, allow_null=True)
    deal = ScopedPrimaryKeyRelatedField(queryset=Deal.objects.all(), required=False, allow_null=True)

    class Meta(RecordSerializer.Meta):
        model = Activity
        fields = (
            *RECORD_READ_ONLY_FIELDS,
            "type",
            "subject",
            "body",
            "due_at",
            "assigned_to",
            "customer",
            "lead",
            "deal",
            "is_done",
            "done_at",
            "done_by",
        )
        read_only_fields = (*RECORD_READ_ONLY_FIELDS, "is_done", "done_at", "done_by")
