"""Pipelines (with their stages nested) and pipeline stages."""

from rest_framework import serializers

from crmApp.models import Pipeline, PipelineStage
from crmApp.serializers.fields import ScopedPrimaryKeyRelatedField, StrictModelSerializer

MAX_STAGES = 50
ORDER_MAX = 32767  # PositiveSmallIntegerField


class PipelineStageSummarySerializer(StrictModelSerializer):
    """A stage inside a pipeline's `stages`; also the shape of each stage sent when creating a pipeline."""

    order = serializers.IntegerField(min_value=0, max_value=ORDER_MAX, required=False)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False)

    class Meta:
        model = PipelineStage
        fields = ["id", "name", "order", "probability", "is_won", "is_lost"]
        read_only_fields = ["id"]
        validators = []  # uniqueness is checked across the whole list by the pipeline serializer

    def validate(self, attrs):
        if attrs.get("is_won") and attrs.get("is_lost"):
            raise serializers.ValidationError("A stage cannot be both won and lost.", code="won_and_lost")
        return attrs


class PipelineSerializer(StrictModelSerializer):
    """`{id, name, is_default, stages}`; `stages` may be sent on create to build them in one go."""

    stages = PipelineStageSummarySerializer(many=True, required=False, max_length=MAX_STAGES)

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "organization",
            "name",
            "is_default",
            "stages",
            "version",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = ["id", "organization", "version", "created_at", "updated_at", "created_by"]
        validators = []  # per-organization uniqueness and the single default are the service's rules

    def validate_stages(self, stages):
        names = [stage["name"] for stage in stages]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Stage names must be unique within a pipeline.", code="unique")
        return stages

    def validate(self, attrs):
        if self.instance is not None:
            # Stages of an existing pipeline change through /api/pipeline-stages/; a PUT that
            # echoes them back is accepted and they are left as they are.
            attrs.pop("stages", None)
        return attrs


class PipelineStageSerializer(StrictModelSerializer):
    """A stage as its own resource: `{pipeline, name, order, probability, is_won, is_lost}`."""

    pipeline = ScopedPrimaryKeyRelatedField(queryset=Pipeline.objects.all())
    order = serializers.IntegerField(min_value=0, max_value=ORDER_MAX, required=False)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False)

    class Meta:
        model = PipelineStage
        fields = [
            "id",
            "organization",
            "pipeline",
            "name",
            "order",
            "probability",
            "is_won",
            "is_lost",
            "version",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = ["version", "id", "organization", "created_at", "updated_at", "created_by"]
        validators = []  # name per pipeline and won-xor-lost are checked by the service against stored rows
