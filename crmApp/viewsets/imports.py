"""`/api/imports/`: upload a CSV of leads or customers; follow the job; page through its row errors."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from crmApp.imports.resources import needed_codes
from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import ImportJob
from crmApp.permissions import INTERNAL_MEMBER
from crmApp.serializers.imports import ImportCreateSerializer, ImportJobSerializer, ImportRowErrorSerializer
from crmApp.services.import_service import ImportService


class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Imports run in the background; the job shows their progress (`processed_rows`) and outcome."""

    queryset = ImportJob.objects.defer("file")
    serializer_class = ImportJobSerializer
    service_class = ImportService
    parser_classes = [MultiPartParser]
    filter_backends = ()
    # Creating needs the resource's codes, checked once the form says which resource.
    permission_codes = dict.fromkeys(("list", "retrieve", "metadata", "create", "errors"), INTERNAL_MEMBER)
    business_rules = {
        "create": [
            "the file is not UTF-8 or Windows-1252 text, is over 50 MB or 200,000 rows, or has no column that "
            "maps to a field (`file`)",
            "the mapping names a column the file lacks or a field that can't be imported (`mapping`)",
            "in upsert mode, no column holds the `match_on` field",
        ]
    }

    def scoped_queryset(self, queryset):
        """Jobs of resources the caller may read, and the caller's own; with a narrower record scope, only their own.

        Their own job shows only their own file's rows: a member (or key) that may import but not read
        follows it too. A key's own jobs are those started with it.
        """
        readable = [resource for resource in ("leads", "customers") if self.tenant.has(f"{resource}:view")]
        key = self.tenant.api_key
        own = Q(api_key=key) if key is not None else Q(created_by=self.request.user)
        queryset = queryset.filter(Q(resource__in=readable) | own)
        queryset = queryset.order_by("-created_at", "-id")
        return queryset if self.tenant.visible_users is None else queryset.filter(created_by=self.request.user)

    @extend_schema(request=ImportCreateSerializer, responses={202: ImportJobSerializer})
    def create(self, request):
        """Queue an import (`:create` on the resource, and `:update` for upsert); answers 202 with the job."""
        form = self.validated(ImportCreateSerializer, request.data)
        self.require_codes(*needed_codes(form["resource"], form["mode"]))
        job = self.get_service().start(
            upload=form["file"],
            resource=form["resource"],
            mode=form["mode"],
            match_on=form["match_on"],
            mapping=form.get("mapping"),
            dry_run=form["dry_run"],
        )
        job.refresh_from_db()  # a job run in line (no broker, tests) has moved on already
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ImportRowErrorSerializer(many=True))
    @action(detail=True, methods=["get"], paginated=True)
    def errors(self, request, pk=None):
        """The rows that were not stored, and why (row 1 is the first data row)."""
        rows = self.get_object().errors.order_by("row", "id")
        return self.get_paginated_response(ImportRowErrorSerializer(self.paginate_queryset(rows), many=True).data)
