"""Import jobs: the upload's form fields, the job as it progresses, and its row errors."""

from rest_framework import serializers

from crmApp.constants import ImportMode
from crmApp.imports.resources import MATCH_FIELDS, RESOURCES
from crmApp.models import ImportJob, ImportRowError
from crmApp.serializers.fields import InputSerializer


class ImportCreateSerializer(InputSerializer):
    """The multipart form of an upload."""

    file = serializers.FileField(help_text="CSV: UTF-8 (with or without BOM) or Windows-1252, ≤ 50 MB, ≤ 200,000 rows.")
    resource = serializers.ChoiceField(choices=sorted(RESOURCES))
    mode = serializers.ChoiceField(choices=ImportMode.choices, default=ImportMode.CREATE)
    match_on = serializers.ChoiceField(choices=MATCH_FIELDS, default="email")
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='JSON {"<column>": "<field>"}; by default columns match fields by name.',
    )
    dry_run = serializers.BooleanField(default=False)


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id",
            "resource",
            "mode",
            "match_on",
            "status",
            "dry_run",
            "total_rows",
            "processed_rows",
            "created",
            "updated",
            "skipped",
            "error_count",
            "failure",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportRowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowError
        fields = ["row", "field", "message"]
        read_only_fields = fields
