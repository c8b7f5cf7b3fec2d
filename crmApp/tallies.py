"""Totals of an organization's live records per group, read from the tallies when they cover the question.

`totals(kind, records, by)` answers "how many records, and what amounts, per value of `by`" with the
same rows whichever way it reads them:
- from the tally table (crmApp.models.tally) when the records are the whole organization's live ones
  and the database keeps tallies (PostgreSQL): one row per group once summed, a few thousand for a
  million leads (the groups grow with the number of employees, not of records);
- otherwise by grouping `records` themselves (SQLite, a filtered list, a caller who sees only some).
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import BooleanField, Count, DecimalField, ExpressionWrapper, Q, QuerySet, Sum

from crmApp.constants import MONEY_PLACES
from crmApp.models import Customer, Deal, Lead
from crmApp.models.tally import SUM_DIGITS, CustomerTally, DealTally, LeadTally, Tally


class MoneySumField(DecimalField):
    """What MoneySum answers: a Decimal, read on SQLite from the whole cents it sums there."""

    def get_internal_type(self):
        # Not "DecimalField": SQLite's converter of those reads the value as a float of 15 significant digits.
        return "MoneySumField"

    def from_db_value(self, value, expression, connection):
        if value is None or connection.vendor != "sqlite":
            return value
        return Decimal(value).scaleb(-MONEY_PLACES)


# Sums may pass a single value's digits; a wider output keeps them exact instead of failing.
SUM_FIELD = MoneySumField(max_digits=SUM_DIGITS, decimal_places=MONEY_PLACES)


class MoneySum(Sum):
    """The sum of a money column, exact to the cent on every database.

    SQLite keeps decimals as floating point, and a sum read back as one has 15 significant digits at best:
    from 10^13 on, the cents were lost. There the whole units and the cents of each amount are summed as
    integers and answered in cents (past 2^63 cents SQLite turns the product into a float, not an error).
    """

    def __init__(self, expression):
        super().__init__(expression, output_field=SUM_FIELD)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        units = f"CAST({sql} AS INTEGER)"
        cents = f"CAST(ROUND(({sql} - {units}) * 100) AS INTEGER)"
        return f"(SUM({units}) * 100 + SUM({cents}))", (*params, *params, *params)


# A read that finds more changes than this not yet summed sums them first (one statement).
COMPACT_AFTER = 500


@dataclass(frozen=True)
class Tallied:
    """A model whose live records are tallied: the tally's group columns and amounts, as read off a record."""

    model: type
    tally: type[Tally]
    # tally column -> expression over the record (None: the record's own field of that name)
    groups: dict
    # tally column -> aggregate over the records
    amounts: dict


LEADS = Tallied(
    Lead,
    LeadTally,
    groups={
        "status": None,
        "source": None,
        "qualified": ExpressionWrapper(Q(qualified_at__isnull=False), output_field=BooleanField()),
        "assigned_to_id": None,
    },
    amounts={"records": Count("id"), "score_sum": Sum("score")},
)
DEALS = Tallied(
    Deal,
    DealTally,
    groups={"status": None, "assigned_to_id": None},
    amounts={
        "records": Count("id"),
        "value_sum": MoneySum("value"),
        "expected_sum": MoneySum("expected_revenue"),
    },
)
CUSTOMERS = Tallied(
    Customer, CustomerTally, groups={"status": None, "customer_type": None}, amounts={"records": Count("id")}
)
TALLIED = (LEADS, DEALS, CUSTOMERS)


def kept() -> bool:
    """Whether this database keeps tallies (migration 0013 installs the triggers on PostgreSQL only)."""
    return connection.vendor == "postgresql"


def totals(kind: Tallied, records: QuerySet, by: tuple[str, ...], *, organization_id: int, whole: bool) -> list[dict]:
    """Per group of the tally columns `by` (none: one group of all): their values, `records` and the amounts.

    `whole` says that `records` are every live record of the organization, so the tally answers for them.
    Groups without a record are left out.
    """
    if whole and kept():
        return _from_tally(kind, organization_id, by)
    plain = [name for name in by if kind.groups[name] is None]
    computed = {name: kind.groups[name] for name in by if kind.groups[name] is not None}
    return [group for group in _grouped(records.values(*plain, **computed), by, kind.amounts) if group["records"]]


def visible_totals(tenant, kind: Tallied, by: tuple[str, ...]) -> list[dict]:
    """`totals` of the records of `kind` that `tenant` sees; the tally answers for a caller who sees them all."""
    organization = tenant.organization
    records = tenant.visible(kind.model.objects.filter(organization=organization))
    return totals(kind, records, by, organization_id=organization.id, whole=tenant.visibility is None)


def _grouped(rows: QuerySet, by: tuple[str, ...], aggregates: dict) -> list[dict]:
    rows = rows.order_by()
    return list(rows.annotate(**aggregates)) if by else [rows.aggregate(**aggregates)]


def summed(groups: list[dict], amount: str, **condition):
    """`amount` summed over the groups (rows of `totals`) matching `condition`; None: no such group."""
    values = [group[amount] for group in groups if all(group[k] == v for k, v in condition.items())]
    return sum(values) if values else None


def count(groups: list[dict], **condition) -> int:
    """How many records the groups matching `condition` hold."""
    return summed(groups, "records", **condition) or 0


def _from_tally(kind: Tallied, organization_id: int, by: tuple[str, ...]) -> list[dict]:
    # The sums take other names than the columns (Django refuses an annotation named like a field).
    sums = {f"sum_{name}": Sum(name) for name in kind.amounts}
    tally = kind.tally.objects.filter(organization_id=organization_id)
    rows = _grouped(tally.values(*by), by, {**sums, "pending_rows": Count("id", filter=Q(pending=True))})
    if sum(row["pending_rows"] for row in rows) > COMPACT_AFTER:
        compact(kind, organization_id)
    return [
        {**{name: row[name] for name in by}, **{name: row[f"sum_{name}"] for name in kind.amounts}}
        for row in rows
        if row["sum_records"]
    ]


def compact(kind: Tallied, organization_id: int) -> None:
    """Replace the organization's tally rows by one per group.

    One statement: the rows it deletes are the rows it sums, and a change committed meanwhile stays as
    it is, to be summed next time. A group is left out only when its count and every amount sum to 0:
    a change that moved amounts alone (a new score) can be all a compaction sees of a group when
    another compaction has taken that group's other rows.
    """
    table = connection.ops.quote_name(kind.tally._meta.db_table)
    groups = ", ".join(connection.ops.quote_name(name) for name in kind.groups)
    amounts = [connection.ops.quote_name(name) for name in kind.amounts]
    moved = " OR ".join(f"SUM({name}) <> 0" for name in amounts)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} WHERE organization_id = %s RETURNING {groups}, {', '.join(amounts)})"
            f" INSERT INTO {table} (organization_id, pending, {groups}, {', '.join(amounts)})"
            f" SELECT %s, FALSE, {groups}, {', '.join(f'SUM({name})' for name in amounts)} FROM gone"
            f" GROUP BY {groups} HAVING {moved}",
            [organization_id, organization_id],
        )


@transaction.atomic
def rebuild(organization_id: int) -> None:
    """Count the organization's tallies again from its records (after a load that skipped the triggers).

    The records and the tallies are locked against writes until the transaction ends: a change
    committed between the delete and the count would be counted twice, and so would a compaction's.
    """
    if not kept():
        return
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_tables(kind.model for kind in TALLIED)} IN SHARE MODE")
        cursor.execute(f"LOCK TABLE {_tables(kind.tally for kind in TALLIED)} IN SHARE ROW EXCLUSIVE MODE")
    for kind in TALLIED:
        kind.tally.objects.filter(organization_id=organization_id).delete()
        live = kind.model.objects.filter(organization_id=organization_id)
        rows = totals(kind, live, tuple(kind.groups), organization_id=organization_id, whole=False)
        kind.tally.objects.bulk_create(
            kind.tally(organization_id=organization_id, pending=False, **row) for row in rows
        )


def _tables(models) -> str:
    return ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
