"""Pipelines and their stages: one default per organization, stages that keep their deals' figures right."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from crmApp.exceptions import BusinessRuleViolation, Protected
from crmApp.models import Deal, Organization, Pipeline, PipelineStage
from crmApp.models.deal import expected_revenue
from crmApp.services.base import OrganizationService, snapshot
from crmApp.services.deal_service import DealService

RECOMPUTE_BATCH = 1000


def check_stage_flags(*, is_won: bool, is_lost: bool) -> None:
    """A stage closes deals as won or as lost, never both."""
    if is_won and is_lost:
        raise ValidationError("A stage cannot be both won and lost.", code="won_and_lost")


class PipelineService(OrganizationService):
    """Pipelines of one organization; switching the default is atomic and there is always one."""

    model = Pipeline

    def _lock_organization(self) -> None:
        # Serialises default switches of one organization, so two concurrent switches cannot
        # both clear the old default and then collide on the one-default constraint.
        Organization.objects.select_for_update().filter(pk=self.organization.pk).first()

    def _check_name(self, name: str, *, exclude_pk: int | None = None) -> None:
        clash = self.records.filter(name=name)
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            raise ValidationError({"name": "A pipeline with this name already exists."}, code="unique")

    def _clear_default(self, *, keep_pk: int | None = None) -> None:
        """Unset the current default (all but `keep_pk`), inside the caller's transaction."""
        current = self.records.filter(is_default=True)
        if keep_pk is not None:
            current = current.exclude(pk=keep_pk)
        self.update_rows(current, is_default=False)

    @transaction.atomic
    def create(self, *, stages: list[dict] | None = None, is_default: bool = False, **fields) -> Pipeline:
        """Create a pipeline, optionally with its stages; it becomes the default when asked or when there is none."""
        self._lock_organization()
        self._check_name(fields.get("name", ""))
        if not is_default and not self.records.filter(is_default=True).exists():
            is_default = True  # an organization always has a default pipeline
        if is_default:
            self._clear_default()
        pipeline = self.insert_record(
            Pipeline(organization=self.organization, created_by=self.actor, is_default=is_default, **fields)
        )
        self.insert_rows(
            [
                PipelineStage(
                    organization=self.organization,
                    created_by=self.actor,
                    pipeline=pipeline,
                    **{"order": position, **stage},
                )
                for position, stage in enumerate(stages or (), start=1)
            ]
        )
        return pipeline

    @transaction.atomic
    def update(self, instance: Pipeline, *, stages=None, **fields) -> Pipeline:
        """Rename or make default; stages change through their own resource. Unsetting the default is refused."""
        self._lock_organization()
        pipeline = self.lock(instance)
        before = snapshot(pipeline)
        if "name" in fields:
            self._check_name(fields["name"], exclude_pk=pipeline.pk)
        is_default = fields.pop("is_default", pipeline.is_default)
        if pipeline.is_default and not is_default:
            raise ValidationError(
                {"is_default": "The organization needs a default pipeline; make another pipeline the default instead."},
                code="default_required",
            )
        if is_default and not pipeline.is_default:
            self._clear_default(keep_pk=pipeline.pk)
        pipeline.is_default = is_default
        for name, value in fields.items():
            setattr(pipeline, name, value)
        return self.save_record(pipeline, before)

    def remove_record(self, record: Pipeline) -> None:
        """Delete the pipeline; its stages go with it, each logged with a `deleted` event of its own."""
        stages = list(record.stages.select_for_update().order_by("pk"))
        self.log_writes([(stage, [], [("deleted", {})]) for stage in stages])
        super().remove_record(record)

    def check_delete(self, pipeline: Pipeline) -> None:
        """Refused while it holds deals (409, whatever else stands in the way) and for the default pipeline (400)."""
        if Deal.with_trashed.filter(organization=self.organization, pipeline=pipeline).exists():
            raise Protected("This pipeline still holds deals (in the trash too); move or purge them first.")
        if pipeline.is_default:
            raise BusinessRuleViolation(
                "The default pipeline cannot be deleted; make another pipeline the default first.",
                code="default_pipeline",
            )
        # RESTRICT on Deal.pipeline still guards against a deal added meanwhile.


class PipelineStageService(OrganizationService):
    """Stages of the organization's pipelines; a probability change is carried to every deal in the stage."""

    model = PipelineStage

    def _check_name(self, pipeline_id: int, name: str, *, exclude_pk: int | None = None) -> None:
        clash = self.records.filter(pipeline_id=pipeline_id, name=name)
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            raise ValidationError({"name": "This pipeline already has a stage with this name."}, code="unique")

    @transaction.atomic
    def create(self, *, pipeline: Pipeline, order: int | None = None, **fields) -> PipelineStage:
        """Add a stage to a pipeline; without an order it goes last."""
        if pipeline.organization_id != self.organization.id:
            raise ValidationError({"pipeline": "Invalid pipeline."}, code="does_not_exist")
        check_stage_flags(is_won=fields.get("is_won", False), is_lost=fields.get("is_lost", False))
        self._check_name(pipeline.id, fields.get("name", ""))
        if order is None:
            order = (self.records.filter(pipeline=pipeline).aggregate(top=Max("order"))["top"] or 0) + 1
        return self.insert_record(
            PipelineStage(
                organization=self.organization, created_by=self.actor, pipeline=pipeline, order=order, **fields
            )
        )

    @transaction.atomic
    def update(self, instance: PipelineStage, *, pipeline: Pipeline | None = None, **fields) -> PipelineStage:
        """Change a stage; its pipeline is fixed, and won/lost can't change while it holds deals (trashed ones too).

        A new probability is written to every deal in the stage, trashed ones too, with its expected revenue.
        """
        stage = self.lock(instance)
        before = snapshot(stage)
        if pipeline is not None and pipeline.id != stage.pipeline_id:
            raise ValidationError({"pipeline": "A stage cannot move to another pipeline."}, code="read_only")
        if "name" in fields:
            self._check_name(stage.pipeline_id, fields["name"], exclude_pk=stage.pk)
        is_won = fields.get("is_won", stage.is_won)
        is_lost = fields.get("is_lost", stage.is_lost)
        check_stage_flags(is_won=is_won, is_lost=is_lost)
        # Trashed deals count: a restore brings a deal back as it stands, so its status must still match the stage.
        holds_deals = Deal.with_trashed.filter(organization=self.organization, stage=stage).exists()
        if (is_won, is_lost) != (stage.is_won, stage.is_lost) and holds_deals:
            raise BusinessRuleViolation(
                "Won/lost can't change while the stage holds deals (in the trash too); move or purge them first.",
                code="stage_has_deals",
            )
        for name, value in fields.items():
            setattr(stage, name, value)
        self.save_record(stage, before)
        if holds_deals and stage.probability != before["probability"]:
            self._recompute_deals(stage)
        return stage

    def _recompute_deals(self, stage: PipelineStage) -> None:
        """Write the stage's probability and the matching expected revenue to each of its deals, trashed ones too."""
        # Computed in Python with the model's Decimal rule (SQLite would round in floating point),
        # in id-ordered batches so a crowded stage never sits in memory at once.
        deals = DealService(self.tenant)
        in_stage = (
            Deal.with_trashed.select_for_update().filter(organization=self.organization, stage=stage).order_by("id")
        )
        last_id = 0
        while batch := list(in_stage.filter(id__gt=last_id)[:RECOMPUTE_BATCH]):
            changed = []
            for deal in batch:
                before = snapshot(deal)
                deal.probability = stage.probability
                deal.expected_revenue = expected_revenue(deal.value, stage.probability)
                changed.append((deal, before))
            deals.save_rows(changed, ["probability", "expected_revenue"])
            last_id = batch[-1].id

    def check_delete(self, stage: PipelineStage) -> None:
        """Refused with a 409 while the stage holds deals."""
        if Deal.with_trashed.filter(organization=self.organization, stage=stage).exists():
            raise Protected("This stage still holds deals (in the trash too); move or purge them first.")
