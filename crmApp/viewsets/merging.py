"""`GET …/duplicates/` and `POST …/{id}/merge/`, shared by customers and leads."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.serializers.merging import DuplicateGroupSerializer, MergeSerializer

MERGE_RULES = [
    "a source is the record itself, or not found in the organization (or outside your record scope)",
    "a source is a converted lead",
]


def merge_codes(resource: str) -> dict[str, str]:
    """Merge needs `<resource>:update` (and `<resource>:delete`, checked in the action)."""
    return {"merge": f"{resource}:update"}


class DuplicatesMergeMixin:
    """Duplicate groups of the resource, and merging records into one."""

    @extend_schema(responses=DuplicateGroupSerializer(many=True))
    @action(detail=False, methods=["get"], paginated=True, filter_backends=[])
    def duplicates(self, request):
        """Groups of records sharing a normalised email, phone (digits only) or company name."""
        service = self.get_service()
        groups = self.paginate_queryset(service.duplicate_groups())
        return self.get_paginated_response(DuplicateGroupSerializer(service.with_records(groups), many=True).data)

    @extend_schema(request=MergeSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge the sources into this record: it keeps its values and fills its blanks from theirs; their
        deals, activities and conversion links move to it; they go to the trash (`merged_into`). Needs
        `:update` and `:delete`. With `dry_run`, the answer is the merged record and nothing is stored."""
        self.require_codes(f"{self.permission_resource}:delete")
        body = self.validated(MergeSerializer, request.data)
        merged = self.get_service().merge(self.get_object(), body["source_ids"], dry_run=body["dry_run"])
        response = Response(self.get_serializer(merged).data)
        # A dry run shows a version that was never stored: as an ETag it would fail the real merge's If-Match.
        response.is_preview = body["dry_run"]
        return response
