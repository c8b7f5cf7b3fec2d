"""Pieces shared by the people-and-company records: employees, vendors and customers."""

from rest_framework import serializers

from crmApp.serializers.fields import ActiveMemberField, StrictModelSerializer
from crmApp.tenancy import MAX_ID

# Set by the server on every record; a value sent for them is ignored.
RECORD_READ_ONLY_FIELDS = ("id", "code", "organization", "version", "created_at", "updated_at", "created_by")

# The largest id a bulk request may name at once.
BULK_MAX_IDS = 1000


def linked_user_field() -> ActiveMemberField:
    """The optional `user` of an employee, vendor or customer: an active member of the organization."""
    return ActiveMemberField(allow_null=True, required=False)


class RecordSerializer(StrictModelSerializer):
    """A CRM record: the server owns its id, code, organization, timestamps and author."""

    class Meta:
        read_only_fields = RECORD_READ_ONLY_FIELDS


class IdListField(serializers.ListField):
    """A non-empty list of at most BULK_MAX_IDS positive database ids."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.IntegerField(min_value=1, max_value=MAX_ID))
        kwargs.setdefault("allow_empty", False)
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", BULK_MAX_IDS)
        super().__init__(**kwargs)
