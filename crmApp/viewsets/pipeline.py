"""Pipelines and pipeline stages: `/api/pipelines/` and `/api/pipeline-stages/`."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from crmApp.filters import FilterBackend, StableOrderingFilter
from crmApp.filters.deal import PipelineStageFilterSet
from crmApp.mixins import OrganizationScopedModelViewSet, RecordHistoryMixin
from crmApp.models import Pipeline, PipelineStage
from crmApp.serializers.errors import ErrorSerializer
from crmApp.serializers.pipeline import PipelineSerializer, PipelineStageSerializer
from crmApp.services.pipeline_service import PipelineService, PipelineStageService

PROTECTED = OpenApiResponse(ErrorSerializer, description="The record still holds deals (`code: protected`).")
PROTECTED_DELETE = {
    204: None,
    400: OpenApiResponse(ErrorSerializer, description="The default pipeline cannot be deleted."),
    409: PROTECTED,
}


@extend_schema_view(destroy=extend_schema(responses=PROTECTED_DELETE))
class PipelineViewSet(RecordHistoryMixin, OrganizationScopedModelViewSet):
    """CRUD on pipelines; `stages` may be sent on create, and `is_default: true` takes the default over."""

    business_rules = {
        "create": ["the organization already has a pipeline of this name", "two of the stages share a name"],
        **{
            action: ["the organization already has a pipeline of this name", "the default pipeline would be unset"]
            for action in ("update", "partial_update")
        },
        "destroy": ["the pipeline is the default one"],
    }
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


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: PROTECTED}))
class PipelineStageViewSet(RecordHistoryMixin, OrganizationScopedModelViewSet):
    """CRUD on stages (`?pipeline=` to narrow); a stage's pipeline is fixed once created."""

    business_rules = {
        "create": ["the pipeline already has a stage of this name", "the stage would be both won and lost"],
        **{
            action: [
                "the pipeline already has a stage of this name",
                "the stage would be both won and lost",
                "won/lost would change while the stage holds deals",
                "the stage would move to another pipeline",
            ]
            for action in ("update", "partial_update")
        },
    }
    queryset = PipelineStage.objects.all()
    serializer_class = PipelineStageSerializer
    permission_resource = "pipelines"
    service_class = PipelineStageService
    filter_backends = [FilterBackend, StableOrderingFilter]
    filterset_class = PipelineStageFilterSet
    ordering_fields = ["order", "probability", "name", "created_at"]
    ordering = ["pipeline_id", "order", "id"]
