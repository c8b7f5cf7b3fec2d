"""Bodies and answers of duplicates and merge."""

from rest_framework import serializers

from crmApp.serializers.common import IdListField
from crmApp.serializers.fields import InputSerializer

MAX_MERGE_SOURCES = 100


class MergeSerializer(InputSerializer):
    """`{source_ids, dry_run?}`: the records merged into this one (they go to the trash)."""

    source_ids = IdListField(max_length=MAX_MERGE_SOURCES)
    dry_run = serializers.BooleanField(default=False, help_text="Answer the merged record without storing anything.")

    def validate_source_ids(self, value):
        return list(dict.fromkeys(value))


class DuplicateRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    display_name = serializers.CharField()


class DuplicateGroupSerializer(serializers.Serializer):
    """Records sharing one normalised value: `email` (lower-cased), `phone` (digits) or `company` (lower-cased)."""

    reason = serializers.ChoiceField(choices=["email", "phone", "company"])
    value = serializers.CharField()
    count = serializers.IntegerField(help_text="How many records share it; `records` lists the first 100 by id.")
    records = DuplicateRecordSerializer(many=True)
