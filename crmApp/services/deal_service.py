"""Deals: stage moves, winning, losing and reopening, with status and expected revenue kept in step."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from crmApp import history
from crmApp.caching import cached_for_organization, query_fingerprint
from crmApp.constants import DealStatus
from crmApp.exceptions import BusinessRuleViolation, Conflict
from crmApp.models import Deal, Pipeline, PipelineStage
from crmApp.models.deal import CENT, expected_revenue
from crmApp.services.base import OrganizationService, snapshot
from crmApp.tallies import MoneySum

ZERO = Decimal("0.00")


def apply_stage(deal: Deal, stage: PipelineStage) -> None:
    """Put the deal in `stage`: copy its probability and close or reopen the deal as the stage says.

    A lost stage keeps the deal's `lost_reason`; any other stage clears it.
    """
    deal.stage = stage
    deal.probability = stage.probability
    if stage.is_won or stage.is_lost:
        status = DealStatus.WON if stage.is_won else DealStatus.LOST
        if deal.status != status or deal.closed_at is None:
            deal.closed_at = timezone.now()
        deal.status = status
    else:
        deal.status = DealStatus.OPEN
        deal.closed_at = None
    if not stage.is_lost:
        deal.lost_reason = ""


@dataclass(frozen=True)
class BoardColumn:
    """One kanban column: a stage and the count, value and expected revenue of its deals."""

    stage: PipelineStage
    count: int
    value: Decimal
    expected_revenue: Decimal


class DealService(OrganizationService):
    """The deal rules of API.md › Business rules › Deals."""

    model = Deal

    def check_restore(self, record: Deal) -> None:
        """A deal comes back only to a customer that is not in the trash (409 otherwise)."""
        if record.customer.deleted_at is not None:
            raise Conflict(
                f"This deal's customer {record.customer.code} is in the trash; restore the customer first.",
                code="customer_trashed",
            )

    # --- lookups ----------------------------------------------------------------------------------
    def default_pipeline(self) -> Pipeline:
        """The organization's default pipeline; a 400 if it has none."""
        pipeline = Pipeline.objects.filter(organization=self.organization, is_default=True).first()
        if pipeline is None:
            raise BusinessRuleViolation("The organization has no default pipeline.", code="no_default_pipeline")
        return pipeline

    def first_stage(self, pipeline: Pipeline) -> PipelineStage:
        """The first open stage of a pipeline (lowest order)."""
        stage = pipeline.stages.filter(is_won=False, is_lost=False).order_by("order", "id").first()
        if stage is None:
            raise BusinessRuleViolation(f"Pipeline '{pipeline.name}' has no open stage.", code="no_open_stage")
        return stage

    def _closing_stage(self, pipeline: Pipeline, *, won: bool) -> PipelineStage:
        stage = (
            pipeline.stages.filter(**({"is_won": True} if won else {"is_lost": True})).order_by("order", "id").first()
        )
        if stage is None:
            kind = "won" if won else "lost"
            raise BusinessRuleViolation(f"Pipeline '{pipeline.name}' has no {kind} stage.", code=f"no_{kind}_stage")
        return stage

    def _check_stage_in_pipeline(self, stage: PipelineStage, pipeline: Pipeline) -> None:
        """A stage of another pipeline (or organization) is a validation error on `stage`."""
        if stage.pipeline_id != pipeline.id or stage.organization_id != self.organization.id:
            raise ValidationError(
                {"stage": "The stage does not belong to the deal's pipeline."}, code="stage_not_in_pipeline"
            )

    @staticmethod
    def _lock_stage(stage: PipelineStage) -> PipelineStage:
        # Entering a stage locks it, so a concurrent probability change cannot miss this deal
        # or leave it with the old probability; the stage is always locked before the deal.
        locked = PipelineStage.objects.select_for_update().filter(pk=stage.pk).first()
        if locked is None:
            raise ValidationError({"stage": "That stage no longer exists (it was deleted meanwhile)."})
        return locked

    # --- events ---------------------------------------------------------------------------------
    def events_for(self, record: Deal, before: dict | None) -> list:
        """`created`, `assigned`, `stage_changed` (with both stages), and `won`, `lost` or `reopened`."""
        if before is None:
            return [("created", {})]
        events = [event for event in super().events_for(record, before) if event[0] == "assigned"]
        if record.stage_id != before["stage_id"]:
            names = dict(
                PipelineStage.objects.filter(pk__in=[before["stage_id"], record.stage_id]).values_list("id", "name")
            )
            events.append(
                (
                    "stage_changed",
                    {
                        "from": {"id": before["stage_id"], "name": names.get(before["stage_id"])},
                        "to": {"id": record.stage_id, "name": names.get(record.stage_id)},
                    },
                )
            )
        if record.status != before["status"]:
            if record.status == DealStatus.WON:
                # At the column's two places, as the history shows it: a form holds what was typed (`70000`).
                events.append(("won", {"value": history.column_json(Deal._meta.get_field("value"), record.value)}))
            elif record.status == DealStatus.LOST:
                events.append(("lost", {"lost_reason": record.lost_reason}))
            else:
                events.append(("reopened", {"from": before["status"]}))
        return events

    # --- writes -----------------------------------------------------------------------------------
    @transaction.atomic
    def create(
        self, *, pipeline: Pipeline | None = None, stage: PipelineStage | None = None, value=Decimal("0"), **fields
    ) -> Deal:
        """Create a deal in `stage`, or the pipeline's first open stage.

        The pipeline defaults to the stage's, then to the organization's default one.
        """
        if pipeline is None:
            pipeline = stage.pipeline if stage is not None else self.default_pipeline()
        if stage is None:
            stage = self.first_stage(pipeline)
        self._check_stage_in_pipeline(stage, pipeline)
        stage = self._lock_stage(stage)
        deal = Deal(
            organization=self.organization,
            created_by=self.actor,
            pipeline=pipeline,
            value=Decimal("0") if value is None else value,
            **fields,
        )
        apply_stage(deal, stage)
        return self.insert_record(deal)

    @transaction.atomic
    def update(
        self, instance: Deal, *, stage: PipelineStage | None = None, pipeline: Pipeline | None = None, **fields
    ) -> Deal:
        """Apply field changes; a stage change follows the move rules, a new pipeline needs one of its stages.

        Raises ValidationError (`stage`) for a stage outside the deal's pipeline and
        BusinessRuleViolation when a new pipeline has no open stage to start in.
        """
        target_pipeline = pipeline if pipeline is not None and pipeline.id != instance.pipeline_id else None
        if target_pipeline is not None:
            stage = stage or self.first_stage(target_pipeline)
        if stage is not None:
            self._check_stage_in_pipeline(stage, target_pipeline or instance.pipeline)
            stage = self._lock_stage(stage)
        deal = self.lock(instance)
        before = snapshot(deal)
        for name, value in fields.items():
            setattr(deal, name, value)
        if target_pipeline is not None:
            deal.pipeline = target_pipeline
        if stage is not None and stage.id != deal.stage_id:
            apply_stage(deal, stage)
        if deal.status != DealStatus.LOST:
            deal.lost_reason = ""  # a reason only means something on a lost deal
        deal.expected_revenue = expected_revenue(deal.value, deal.probability)
        return self.save_record(deal, before)

    def move_stage(self, deal: Deal, *, stage: PipelineStage) -> Deal:
        """Move a deal to another stage of its own pipeline (ValidationError on `stage` otherwise)."""
        return self.update(deal, stage=stage)

    def win(self, deal: Deal) -> Deal:
        """Move a deal to its pipeline's won stage; BusinessRuleViolation when the pipeline has none."""
        return self.update(deal, stage=self._closing_stage(deal.pipeline, won=True))

    def lose(self, deal: Deal, *, lost_reason: str | None = None) -> Deal:
        """Move a deal to its pipeline's lost stage, recording why; BusinessRuleViolation when it has none.

        Without a reason, a deal lost already keeps the one it has (an open deal has none).
        """
        reason = deal.lost_reason if lost_reason is None else lost_reason
        return self.update(deal, stage=self._closing_stage(deal.pipeline, won=False), lost_reason=reason)

    # --- reads ------------------------------------------------------------------------------------
    def board(self, deals: QuerySet, *, pipeline: Pipeline | None = None) -> list[BoardColumn]:
        """The kanban of one pipeline (default: the default one): every stage in order, empty ones too.

        `deals` is an already scoped (and possibly filtered) deal queryset; two queries: stages and one
        grouped aggregate.
        """
        pipeline = pipeline or self.default_pipeline()
        stages = list(pipeline.stages.order_by("order", "id"))
        grouped = (
            deals.filter(organization=self.organization, pipeline=pipeline)
            .order_by()
            .values("stage_id")
            .annotate(count=Count("id"), value=MoneySum("value"), expected=MoneySum("expected_revenue"))
        )
        # Kept until the organization's data changes; the key carries the pipeline and every filter.
        rows = cached_for_organization(
            self.organization.id, "deal-board", lambda: list(grouped), query_fingerprint(grouped)
        )
        totals = {row["stage_id"]: row for row in rows}
        columns = []
        for stage in stages:
            row = totals.get(stage.id, {})
            columns.append(
                BoardColumn(
                    stage=stage,
                    count=row.get("count", 0),
                    value=Decimal(row.get("value") or ZERO).quantize(CENT),
                    expected_revenue=Decimal(row.get("expected") or ZERO).quantize(CENT),
                )
            )
        return columns
