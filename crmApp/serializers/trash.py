"""The trash: what a trashed record looks like in the list, and the list's query."""

from rest_framework import serializers

from crmApp.constants import TRASH_RESOURCES

# The attribute that names a record of each resource in the trash list.
DISPLAY_NAMES = {
    "customers": "display_name",
    "leads": "full_name",
    "deals": "title",
    "activities": "subject",
    "employees": "full_name",
    "vendors": "name",
}


class TrashQuerySerializer(serializers.Serializer):
    resource = serializers.ChoiceField(choices=TRASH_RESOURCES, help_text="Which kind of trashed records to list.")


class TrashedRecordSerializer(serializers.Serializer):
    """A trashed record: enough to recognise it, restore it or purge it."""

    resource = serializers.SerializerMethodField()
    id = serializers.IntegerField()
    code = serializers.CharField()
    display_name = serializers.SerializerMethodField()
    deleted_at = serializers.DateTimeField()
    deleted_by = serializers.IntegerField(source="deleted_by_id", allow_null=True)
    version = serializers.IntegerField(help_text="What `If-Match` names to restore or purge this version only.")

    def get_resource(self, record) -> str:
        return self.context["resource"]

    def get_display_name(self, record) -> str:
        return getattr(record, DISPLAY_NAMES[self.context["resource"]])
