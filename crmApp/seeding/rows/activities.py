"""Activities, and the long histories of a few records (timelines to page through)."""

from crmApp.constants import ActivityType
from crmApp.models.base import format_code
from crmApp.seeding import pools
from crmApp.seeding.pools import with_coverage
from crmApp.seeding.rows.context import COMMON, FillContext, chunks

ACTIVITY_TYPES = [t.value for t in ActivityType]
ACTIVITY_TYPE_WEIGHTS = [20, 30, 15, 25, 10]
# Share of activities about a lead, a customer and a deal.
SUBJECT_WEIGHTS = [70, 20, 10]


def activity_rows(ctx: FillContext, rng, count: int, first_number: int):
    """Activities about leads, customers and deals; calls, meetings and tasks carry a due date, past or coming."""
    columns = (
        *COMMON,
        "type",
        "subject",
        "body",
        "due_at",
        "assigned_to_id",
        "customer_id",
        "lead_id",
        "deal_id",
        "is_done",
        "done_at",
        "done_by_id",
    )
    clock, rnd = ctx.clock, rng.random
    pools_by_kind = (ctx.lead_ids, ctx.customer_ids, ctx.deal_ids)

    def generate():
        all_ticks = clock.sample(rng, count, ordered=True)
        for start, n in chunks(count):
            rows = []
            types = with_coverage(
                rng.choices(ACTIVITY_TYPES, ACTIVITY_TYPE_WEIGHTS, k=n), ACTIVITY_TYPES if not start else []
            )
            subjects = rng.choices(range(3), SUBJECT_WEIGHTS, k=n)
            assignees = ctx.assignees(rng, n)
            for i in range(n):
                number = first_number + start + i
                kind, tick = types[i], all_ticks[start + i]
                links = [None, None, None]  # lead, customer, deal
                pool = pools_by_kind[subjects[i]] or ctx.lead_ids or ctx.customer_ids
                links[subjects[i] if pools_by_kind[subjects[i]] else 0] = rng.choice(pool)
                due = done_at = None
                done = False
                if kind in ("call", "meeting", "task"):
                    if rnd() < 0.5:  # due in the past: mostly done, the rest overdue
                        due_tick = clock.later(rng, tick, min_days=0.5, max_days=20)
                        due = clock.text(due_tick)
                        done = rnd() < 0.7
                        done_at = clock.text(due_tick) if done else None
                    else:
                        due = f"{clock.future_date_text(rng.randrange(1, 60))} 09:00:00"
                created = clock.text(tick)
                rows.append(
                    (
                        ctx.organization_id,
                        created,
                        done_at or created,
                        ctx.author_id,
                        format_code("ACT", number),
                        kind,
                        f"{pools.ACTIVITY_SUBJECTS[kind]} #{number}",
                        "",
                        due,
                        assignees[i],
                        links[1],
                        links[0],
                        links[2],
                        done,
                        done_at,
                        ctx.author_id if done else None,
                    )
                )
            yield rows

    return columns, generate()


def busy_history_rows(ctx: FillContext, records: list[tuple[str, int, str]], per_record: int):
    """`per_record` field changes of each (type, id, code) record, spread over the year: timelines to page through."""
    columns = (
        "organization_id",
        "record_type",
        "record_id",
        "record_code",
        "kind",
        "event",
        "changes",
        "data",
        "actor_id",
        "source",
        "at",
    )
    clock = ctx.clock

    def generate():
        for record_type, record_id, code in records:
            step = max(1, clock.max_tick // per_record)
            rows = []
            for n in range(per_record):
                changes = f'[{{"field": "notes", "old": "revision {n}", "new": "revision {n + 1}"}}]'
                rows.append(
                    (
                        ctx.organization_id,
                        record_type,
                        record_id,
                        code,
                        "change",
                        "",
                        changes,
                        "{}",
                        ctx.author_id,
                        "api",
                        clock.text(n * step),
                    )
                )
            yield rows

    return columns, generate()
