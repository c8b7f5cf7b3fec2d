"""Pipelines and pipeline stages: `/api/pipelines/` and `/api/pipeline-stages/`."""

from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view

from crmApp.filters import StableOrderingFilter
from crmApp.filters.deal import PipelineStageFilterSet
from crmApp.mixins import OrganizationScopedModelViewSet
from crmApp.models import Pipeline, PipelineStage
from crmApp.serializers.pipeline import PipelineSerializer, PipelineStageSerializer
from crmApp.services.pipeline_service import PipelineService, PipelineStageService

PROTECTED_DELETE = {
    204: None,
    400: {"description": "The default pipeline cannot be deleted."},
    409: {"description": "The record still holds deals (`code: protected`)."},
}


@extend_schema_view(destroy=extend_schema(responses=PROTECTED_DELETE))
class PipelineViewSet(OrganizationScopedModelViewSet):
    """CRUD on pipelines; `stages` may be sent on create, and `is_default: true` takes the default over."""

    queryset = Pipeline.objects.all()
    serializer_class = PipelineSerializer
    permission_resource = "pipelines"
    service_class = PipelineService
    filter_backends = [StableOrderingFilter]
    ordering_fields = ["name", "created_at"]
    ordering = ["-is_default", "name", "id"]

    def scoped_queryset(self, queryset):
        """Stages in order, fetched once per page."""
        return queryset.prefetch_related(Prefetch("stages", queryset=PipelineStage.objects.order_by("order", "id")))


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: PROTECTED_DELETE[409]}))
class PipelineStageViewSet(OrganizationScopedModelViewSet):
    """CRUD on stages (`?pipeline=` to narrow); a stage's pipeline is fixed once created."""

    queryset = PipelineStage.objects.all()
    serializer_class = PipelineStageSerializer
    permission_resource = "pipelines"
    service_class = PipelineStageService
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = PipelineStageFilterSet
    ordering_fields = ["order", "probability", "name", "created_at"]
    ordering = ["pipeline_id", "order", "id"]
