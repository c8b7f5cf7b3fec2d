"""Pipelines, their stages, and the deals that move through them."""

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import models

from crmApp.constants import LONG_NAME_MAX, MONEY_DIGITS, MONEY_PLACES, NAME_MAX, NOTES_MAX, DealStatus
from crmApp.models.base import LIVE, CodedRecord, OrganizationOwned

CENT = Decimal("0.01")


def expected_revenue(value: Decimal, probability: int) -> Decimal:
    """value × probability / 100, rounded half-up to the cent."""
    return (Decimal(value) * Decimal(probability) / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


class Pipeline(OrganizationOwned):
    """An ordered set of stages deals move through; one per organization is the default."""

    name = models.CharField(max_length=NAME_MAX)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(is_default=True), name="pipeline_one_default_per_org"
            ),
            models.UniqueConstraint(fields=["organization", "name"], name="pipeline_unique_name_per_org"),
        ]

    def __str__(self):
        return self.name


class PipelineStage(OrganizationOwned):
    """One column of a pipeline; a won or lost stage closes the deals that enter it."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=NAME_MAX)
    order = models.PositiveSmallIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0)
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline_id", "order", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="stage_probability_0_100"),
            models.CheckConstraint(
                condition=~(models.Q(is_won=True) & models.Q(is_lost=True)), name="stage_not_won_and_lost"
            ),
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name_per_pipeline"),
        ]
        indexes = [models.Index(fields=["organization", "pipeline", "order"], name="stage_org_pipeline_order_idx")]

    def __str__(self):
        return f"{self.pipeline.name} › {self.name}"


class Deal(CodedRecord):
    """An opportunity worth `value`, sitting in one stage of one pipeline."""

    CODE_PREFIX = "DEAL"

    title = models.CharField(max_length=LONG_NAME_MAX)
    # RESTRICT protects the customer, pipeline and stage from deletion while deals point at them,
    # yet lets an organization's own cascade delete everything together.
    customer = models.ForeignKey("crmApp.Customer", on_delete=models.RESTRICT, related_name="deals")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.RESTRICT, related_name="deals")
    stage = models.ForeignKey(PipelineStage, on_delete=models.RESTRICT, related_name="deals")
    value = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0.00"))
    probability = models.PositiveSmallIntegerField(default=0, editable=False)
    expected_revenue = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0.00"), editable=False
    )
    status = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN, editable=False)
    expected_close_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    assigned_to = models.ForeignKey(
        "crmApp.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    lead = models.ForeignKey("crmApp.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    lost_reason = models.TextField(max_length=NOTES_MAX, blank=True)

    class Meta(CodedRecord.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            *CodedRecord.Meta.constraints,
            models.CheckConstraint(condition=models.Q(value__gte=0), name="deal_value_not_negative"),
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="deal_probability_0_100"),
        ]
        indexes = [
            *CodedRecord.Meta.indexes,
            models.Index(fields=["organization", "created_at", "id"], name="deal_org_created_idx"),
            # Covering (PostgreSQL): the dashboard, revenue and per-employee sums read only this index.
            models.Index(
                fields=["organization", "status", "closed_at"],
                include=["id", "value", "expected_revenue", "assigned_to"],
                name="deal_org_status_cover_idx",
                condition=LIVE,
            ),
            models.Index(fields=["organization", "status", "expected_close_date"], name="deal_org_status_close_idx"),
            models.Index(fields=["organization", "value"], name="deal_org_value_idx"),
            models.Index(fields=["organization", "expected_close_date", "id"], name="deal_org_close_date_idx"),
            models.Index(fields=["organization", "expected_revenue", "id"], name="deal_org_expected_idx"),
            models.Index(fields=["organization", "closed_at", "id"], name="deal_org_closed_at_idx"),
        ]

    def __str__(self):
        return f"{self.code} {self.title}"

    def clean(self):
        super().clean()
        if self.stage_id and self.pipeline_id and self.stage.pipeline_id != self.pipeline_id:
            raise ValidationError({"stage": "The stage does not belong to the deal's pipeline."})

    def save(self, *args, **kwargs):
        # Derived, so it can never drift from value and probability.
        self.expected_revenue = expected_revenue(self.value, self.probability)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"value", "probability"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "expected_revenue"}
        super().save(*args, **kwargs)
