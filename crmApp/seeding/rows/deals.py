"""Deals over the default pipeline's stages, priced by the rules themselves."""

from functools import cache

from crmApp.models import Deal, PipelineStage
from crmApp.models.base import format_code
from crmApp.models.deal import expected_revenue
from crmApp.seeding import pools
from crmApp.seeding.pools import with_coverage
from crmApp.seeding.rows.context import COMMON, FillContext, chunks
from crmApp.services.deal_service import apply_stage

DEAL_VALUES = [f"{v}.00" for v in range(500, 300_001, 250)]


@cache
def _expected(value: str, probability: int) -> str:
    return str(expected_revenue(value, probability))


def stage_templates(stages: list[PipelineStage]) -> list[tuple]:
    """(stage, status, probability) per stage, as `apply_stage` sets them on a deal entering it."""
    templates = []
    for stage in stages:
        deal = Deal()
        apply_stage(deal, stage)
        templates.append((stage, deal.status, deal.probability))
    return templates


def _stage_weight(stage: PipelineStage, open_rank: int) -> int:
    if stage.is_won:
        return 22
    if stage.is_lost:
        return 14
    return max(22 - 4 * open_rank, 4)  # fewer deals the further along the pipeline


def deal_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Deals over every stage: closed ones closed within the last year, open ones due in the next six months."""
    columns = (
        *COMMON,
        "title",
        "customer_id",
        "pipeline_id",
        "stage_id",
        "value",
        "probability",
        "expected_revenue",
        "status",
        "expected_close_date",
        "closed_at",
        "assigned_to_id",
        "lead_id",
        "lost_reason",
    )
    templates = stage_templates(ctx.stages)
    open_ranks = iter(range(len(templates)))
    weights = [
        _stage_weight(stage, 0 if stage.is_won or stage.is_lost else next(open_ranks)) for stage, _, _ in templates
    ]
    clock = ctx.clock

    def generate():
        all_ticks = clock.sample(rng, count, ordered=True)
        for start, n in chunks(count):
            rows = []
            picks = with_coverage(rng.choices(templates, weights, k=n), templates if start == 0 else [])
            customers = rng.choices(ctx.customer_ids, k=n)
            values = rng.choices(DEAL_VALUES, k=n)
            ticks = all_ticks[start : start + n]
            assignees = ctx.assignees(rng, n)
            for i in range(n):
                number = first_number + start + i
                (stage, status, probability), tick, value = picks[i], ticks[i], values[i]
                closed = None
                lost_reason = ""
                if stage.is_won or stage.is_lost:
                    closed_tick = clock.later(rng, tick, min_days=3, max_days=60)
                    closed, close_date = clock.text(closed_tick), clock.date_text(closed_tick)
                    updated = closed
                    if stage.is_lost:
                        lost_reason = rng.choice(pools.LOST_REASONS)
                else:
                    close_date = clock.future_date_text(rng.randrange(0, 183))
                    updated = clock.text(tick)
                rows.append(
                    (
                        ctx.organization_id,
                        clock.text(tick),
                        updated,
                        ctx.author_id,
                        format_code("DEAL", number),
                        f"{rng.choice(pools.PRODUCTS)} #{number}",
                        customers[i],
                        ctx.pipeline_id,
                        stage.id,
                        value,
                        probability,
                        _expected(value, probability),
                        status,
                        close_date,
                        closed,
                        assignees[i],
                        None,
                        lost_reason,
                    )
                )
            yield rows

    return columns, generate()
