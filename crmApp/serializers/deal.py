"""Deals, the bodies of their stage actions, and the kanban board."""

from rest_framework import serializers

from crmApp.constants import MONEY_PLACES, NOTES_MAX
from crmApp.listing import related_property
from crmApp.models import Customer, Deal, Employee, Lead, Pipeline, PipelineStage
from crmApp.serializers.fields import (
    InputSerializer,
    MoneyField,
    ScopedPrimaryKeyRelatedField,
    StrictCharField,
    StrictModelSerializer,
)


class DealSerializer(StrictModelSerializer):
    """A deal; status, probability, expected revenue and closing are owned by the stage workflow."""

    customer = ScopedPrimaryKeyRelatedField(queryset=Customer.objects.all())
    pipeline = ScopedPrimaryKeyRelatedField(queryset=Pipeline.objects.all(), required=False)
    stage = ScopedPrimaryKeyRelatedField(queryset=PipelineStage.objects.all(), required=False)
    assigned_to = ScopedPrimaryKeyRelatedField(queryset=Employee.objects.all(), required=False, allow_null=True)
    lead = ScopedPrimaryKeyRelatedField(queryset=Lead.objects.all(), required=False, allow_null=True)
    value = MoneyField(required=False)
    lost_reason = StrictCharField(max_length=NOTES_MAX, required=False, allow_blank=True)
    customer_name = serializers.CharField(source="customer.display_name", read_only=True)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    assigned_to_name = serializers.CharField(source="assigned_to.full_name", read_only=True, allow_null=True)
    row_fields = {
        "customer_name": related_property("customer", Customer.display_name, Customer.DISPLAY_NAME_READS),
        "assigned_to_name": related_property("assigned_to", Employee.full_name, ("first_name", "last_name")),
    }

    class Meta:
        model = Deal
        fields = [
            "id",
            "code",
            "organization",
            "title",
            "customer",
            "customer_name",
            "pipeline",
            "pipeline_name",
            "stage",
            "stage_name",
            "value",
            "probability",
            "expected_revenue",
            "status",
            "expected_close_date",
            "closed_at",
            "assigned_to",
            "assigned_to_name",
            "lead",
            "lost_reason",
            "version",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = [
            "version",
            "id",
            "code",
            "organization",
            "probability",
            "expected_revenue",
            "status",
            "closed_at",
            "created_at",
            "updated_at",
            "created_by",
        ]


class MoveStageSerializer(InputSerializer):
    """`{stage}`: a stage of the deal's own pipeline."""

    stage = ScopedPrimaryKeyRelatedField(queryset=PipelineStage.objects.all())


class LoseSerializer(InputSerializer):
    """`{lost_reason}`: why the deal was lost (optional)."""

    lost_reason = StrictCharField(max_length=NOTES_MAX, required=False, allow_blank=True)


class BoardQuerySerializer(serializers.Serializer):
    """`?pipeline=`: the pipeline to show; the organization's default one when absent."""

    pipeline = ScopedPrimaryKeyRelatedField(queryset=Pipeline.objects.all(), required=False)


class BoardStageSerializer(serializers.ModelSerializer):
    """The stage heading a board column."""

    class Meta:
        model = PipelineStage
        fields = ["id", "name", "probability"]
        read_only_fields = fields


class BoardColumnSerializer(serializers.Serializer):
    """One column: `{stage: {id, name, probability}, count, value, expected_revenue}`."""

    stage = BoardStageSerializer(read_only=True)
    count = serializers.IntegerField(read_only=True)
    value = serializers.DecimalField(max_digits=None, decimal_places=MONEY_PLACES, read_only=True)
    expected_revenue = serializers.DecimalField(max_digits=None, decimal_places=MONEY_PLACES, read_only=True)
