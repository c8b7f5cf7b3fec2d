"""History shapes: a record's changes, its timeline entries and the audit log."""

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from crmApp.constants import ChangeSource
from crmApp.history import record_type
from crmApp.models import EntryKind, HistoryEntry
from crmApp.serializers.activity import ActivitySerializer
from crmApp.serializers.fields import InputSerializer
from crmApp.services.timeline_service import TIMELINE_KINDS, TimelineActivity

EVENTS = (
    "created",
    "status_changed",
    "assigned",
    "converted",
    "stage_changed",
    "won",
    "lost",
    "reopened",
    "completed",
    "deleted",
    "restored",
    "merged",
    "purged",
)
RECORD_TYPES = ("customer", "lead", "deal", "employee", "vendor", "pipeline", "stage", "activity")
MOMENT = serializers.DateTimeField()


def actor_of(user) -> dict | None:
    """`{id, name}` of the user behind a change; None for the CRM's own or a deleted account."""
    return {"id": user.id, "name": user.full_name or user.email} if user else None


class ActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RecordRefSerializer(serializers.Serializer):
    """The record an entry is about (it may since have been deleted)."""

    type = serializers.ChoiceField(choices=RECORD_TYPES)
    id = serializers.IntegerField()
    code = serializers.CharField()


class FieldChangeSerializer(serializers.Serializer):
    """One field's value before and after a write (ids for relations, strings for money and moments)."""

    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class EntrySerializer(serializers.Serializer):
    """What every entry has: a stable id, when, who and from where."""

    id = serializers.CharField(help_text="Stable across pages: a client can de-duplicate on it.")
    at = serializers.DateTimeField()
    actor = ActorSerializer(allow_null=True)
    source = serializers.ChoiceField(choices=ChangeSource.choices)


class HistoryChangeSerializer(EntrySerializer):
    """One write of a record: the fields it changed."""

    changes = FieldChangeSerializer(many=True)

    def to_representation(self, entry: HistoryEntry):
        return {
            "id": f"h{entry.id}",
            "at": MOMENT.to_representation(entry.at),
            "actor": actor_of(entry.actor),
            "source": entry.source,
            "changes": entry.changes,
        }


class AuditEntrySerializer(EntrySerializer):
    """An entry of the audit log: a write's changes or an event, of any record of the organization."""

    kind = serializers.ChoiceField(choices=EntryKind.choices)
    record = RecordRefSerializer()
    event = serializers.ChoiceField(choices=("", *EVENTS), help_text="Empty for a change.")
    changes = FieldChangeSerializer(many=True)
    data = serializers.DictField()

    def to_representation(self, entry: HistoryEntry):
        return {
            "id": f"h{entry.id}",
            "at": MOMENT.to_representation(entry.at),
            "kind": entry.kind,
            "record": {"type": entry.record_type, "id": entry.record_id, "code": entry.record_code},
            "actor": actor_of(entry.actor),
            "source": entry.source,
            "event": entry.event,
            "changes": entry.changes,
            "data": entry.data,
        }


class TimelineChangeSerializer(EntrySerializer):
    kind = serializers.ChoiceField(choices=[EntryKind.CHANGE.value])
    record = RecordRefSerializer()
    changes = FieldChangeSerializer(many=True)


class TimelineEventSerializer(EntrySerializer):
    kind = serializers.ChoiceField(choices=[EntryKind.EVENT.value])
    record = RecordRefSerializer()
    event = serializers.ChoiceField(choices=EVENTS)
    data = serializers.DictField(help_text="What the event needs: from/to status or stage, lost_reason, …")


class TimelineActivitySerializer(EntrySerializer):
    kind = serializers.ChoiceField(choices=["activity"])
    record = RecordRefSerializer()
    activity = ActivitySerializer()


def timeline_entries_schema() -> PolymorphicProxySerializer:
    """A page of timeline entries: changes, events and activities, told apart by `kind`."""
    return PolymorphicProxySerializer(
        component_name="TimelineEntry",
        serializers={
            "change": TimelineChangeSerializer,
            "event": TimelineEventSerializer,
            "activity": TimelineActivitySerializer,
        },
        resource_type_field_name="kind",
        many=True,
    )


def timeline_entry(item, context) -> dict:
    """One timeline entry as the API shows it."""
    if isinstance(item, TimelineActivity):
        activity, created = item.activity, item.created
        subject = activity.deal or activity.lead or activity.customer
        return {
            "id": f"a{activity.id}",
            "at": MOMENT.to_representation(activity.created_at),
            "kind": "activity",
            "record": {"type": record_type(type(subject)), "id": subject.pk, "code": subject.code} if subject else None,
            "actor": actor_of(created.actor if created else activity.created_by),
            "source": created.source if created else ChangeSource.API.value,
            "activity": ActivitySerializer(activity, context=context).data,
        }
    shown = {
        "id": f"h{item.id}",
        "at": MOMENT.to_representation(item.at),
        "kind": item.kind,
        "record": {"type": item.record_type, "id": item.record_id, "code": item.record_code},
        "actor": actor_of(item.actor),
        "source": item.source,
    }
    if item.kind == EntryKind.CHANGE:
        return {**shown, "changes": item.changes}
    return {**shown, "event": item.event, "data": item.data}


class TimelineQuerySerializer(InputSerializer):
    """`?kind=`: only activities, changes or events."""

    kind = serializers.ChoiceField(choices=TIMELINE_KINDS, required=False)
