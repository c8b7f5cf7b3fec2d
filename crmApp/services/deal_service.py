"""Deals: stage moves, winning, losing and reopening, with status and expected revenue kept in step."""
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crmApp.constants import DealStatus
from crmApp.exceptions import BusinessRuleViolation
from crmApp.models import Deal, Pipeline, PipelineStage
from crmApp.services.base import OrganizationService


def apply_stage(deal: Deal, stage: PipelineStage) -> None:
    """Put the deal in `stage`: copy its probability and close or reopen the deal as the stage says."""
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


class DealService(OrganizationService):
    """The deal rules of API.md › Business rules › Deals."""

    model = Deal

    def default_pipeline(self) -> Pipeline:
        """The organization's default pipeline; a 400 if it has none."""
        pipeline = Pipeline.objects.filter(organization=self.organization, is_default=True).first()
        if pipeline is None:
            raise BusinessRuleViolation("The organization has no default pipeline.")
        return pipeline

    def first_stage(self, pipeline: Pipeline) -> PipelineStage:
        """The first open stage of a pipeline (lowest order)."""
        stage = pipeline.stages.filter(is_won=False, is_lost=False).order_by("order", "id").first()
        if stage is None:
            raise BusinessRuleViolation(f"Pipeline '{pipeline.name}' has no open stage.")
        return stage

    def _closing_stage(self, pipeline: Pipeline, *, won: bool) -> PipelineStage:
        stage = pipeline.stages.filter(**({"is_won": True} if won else {"is_lost": True})).order_by("order", "id").first()
        if stage is None:
            kind = "won" if won else "lost"
            raise BusinessRuleViolation(f"Pipeline '{pipeline.name}' has no {kind} stage.")
        return stage

    @staticmethod
    def _check_stage_in_pipeline(stage: PipelineStage, pipeline: Pipeline) -> None:
        if stage.pipeline_id != pipeline.id:
            raise BusinessRuleViolation("The stage does not belong to the deal's pipeline.", code="stage_not_in_pipeline")

    @transaction.atomic
    def create(self, *, pipeline: Pipeline | None = None, stage: PipelineStage | None = None, value=Decimal("0"), **fields) -> Deal:
        """Create a deal in `stage`, or the pipeline's first stage; the pipeline defaults to the stage's, then the default one."""
        if pipeline is None:
            pipeline = stage.pipeline if stage is not None else self.default_pipeline()
        if stage is None:
            stage = self.first_stage(pipeline)
        self._check_stage_in_pipeline(stage, pipeline)
        deal = Deal(organization=self.organization, created_by=self.actor, pipeline=pipeline, value=value, **fields)
        apply_stage(deal, stage)
        if stage.is_lost:
            deal.lost_reason = fields.get("lost_reason", "")
        deal.save()
        return deal

    @transaction.atomic
    def update(self, instance: Deal, *, stage: PipelineStage | None = None, pipeline: Pipeline | None = None, **fields) -> Deal:
        """Apply field changes; a new pipeline needs a stage of it (its first stage when none is given)."""
        deal = Deal.objects.select_for_update().get(pk=instance.pk)
        for name, value in fields.items():
            setattr(deal, name, value)
        if pipeline is not None and pipeline.id != deal.pipeline_id:
            deal.pipeline = pipeline
            stage = stage or self.first_stage(pipeline)
        if stage is not None and stage.id != deal.stage_id:
            self._check_stage_in_pipeline(stage, deal.pipeline)
            lost_reason = deal.lost_reason
            apply_stage(deal, stage)
            if stage.is_lost:
                deal.lost_reason = lost_reason
        deal.save()
        return deal

    def move_stage(self, deal: Deal, *, stage: PipelineStage) -> Deal:
        """Move a deal to another stage of its own pipeline."""
        return self.update(deal, stage=stage)

    def win(self, deal: Deal) -> Deal:
        """Move a deal to its pipeline's won stage."""
        return self.update(deal, stage=self._closing_stage(deal.pipeline, won=True))

    def lose(self, deal: Deal, *, lost_reason: str = "") -> Deal:
        """Move a deal to its pipeline's lost stage, recording why."""
        return self.update(deal, stage=self._closing_stage(deal.pipeline, won=False), lost_reason=lost_reason)
