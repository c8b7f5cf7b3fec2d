"""`GET …/export/`: the list as CSV, streamed, with the list's filters, search and ordering and no cap.

Rows are read with one statement through a server-side cursor (PostgreSQL) or one chunked cursor
(SQLite), so the file is one consistent snapshot however long it takes, and memory stays flat.
"""

import csv
import json
from datetime import date

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer

from crmApp.imports import formulas
from crmApp.renderers import FastJSONRenderer

CHUNK_ROWS = 2000
BOM = "\ufeff"


class CSVRenderer(BaseRenderer):
    """Lets a client ask for `text/csv`; the export writes its own body, and errors still go out as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class Echo:
    """A file whose `write` hands back what it was given, so csv.writer can format one row at a time."""

    def write(self, value: str) -> str:
        return value


def cell(value, *, number: bool = False) -> str:
    """A field as it appears in the file: ids for relations, plain decimals, ISO moments, empty for null,
    and text that a spreadsheet would run as a formula behind a `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, str) and not number:
        return formulas.neutralised(value)
    return str(value)


class ExportMixin:
    """The list as a CSV download (needs the resource's view code)."""

    def export_queryset(self, queryset):
        """Hook: one statement for the whole export (select_related rather than a prefetch per chunk)."""
        return queryset

    def rows(self, queryset, serializer):
        writer = csv.writer(Echo())
        # Money is shown as a string, but a spreadsheet reads it as the number it is: never prefixed.
        fields = serializer.child.fields
        columns = [(name, isinstance(field, serializers.DecimalField)) for name, field in fields.items()]
        yield BOM + writer.writerow([name for name, _ in columns])
        for record in queryset.iterator(chunk_size=CHUNK_ROWS):
            shown = serializer.child.to_representation(record)
            yield writer.writerow([cell(shown[name], number=number) for name, number in columns])

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="UTF-8 CSV with a BOM")}
    )
    @action(detail=False, methods=["get"], filtered=True, renderer_classes=[FastJSONRenderer, CSVRenderer])
    def export(self, request):
        """Every record the list would show with the same query, as CSV: a header row, then one row per record."""
        queryset = self.export_queryset(self.filter_queryset(self.get_queryset()))
        serializer = self.get_serializer(many=True)
        response = StreamingHttpResponse(self.rows(queryset, serializer), content_type="text/csv; charset=utf-8")
        filename = f"{self.permission_resource}-{date.today().isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
