"""Field history and events: what a write changed, written in the same transaction as the write.

Services call `log_write` (through OrganizationService) for every write of a record, and
`log_bulk_update` for set-based writes, which record every row's changes in one INSERT.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from crmApp.models import EntryKind, HistoryEntry
from crmApp.models.base import written_fields

# Columns that are bookkeeping, not data a user changes; the trash columns are told by events instead.
NOT_HISTORY = frozenset(
    {
        "id",
        "organization",
        "created_at",
        "updated_at",
        "created_by",
        "version",
        "deleted_at",
        "deleted_by",
        "merged_into",
    }
)
# Record types as the API names them (`record.type`); a model not listed is named after itself.
RECORD_TYPES = {"pipelinestage": "stage"}


def record_type(model) -> str:
    """The singular type name of a record: `lead`, `customer`, `deal`, `stage`, …"""
    name = model._meta.model_name
    return RECORD_TYPES.get(name, name)


def as_json(value):
    """A column value as it is shown in history: ids for relations, strings for money and moments."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if timezone.is_aware(value) else value
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def history_fields(model) -> list[models.Field]:
    return [field for field in written_fields(model) if field.name not in NOT_HISTORY]


def field_changes(record: models.Model, before: dict | None) -> list[dict]:
    """`[{field, old, new}]` for every history field that differs from `before` (None: a new record)."""
    changes = []
    for field in history_fields(type(record)):
        new = getattr(record, field.attname)
        old = None if before is None else before.get(field.attname)
        if before is None and new in (None, "", False):
            continue  # a new record lists the fields it has set
        if before is not None and new == old:
            continue
        changes.append({"field": field.name, "old": column_json(field, old), "new": column_json(field, new)})
    return changes


def column_json(field: models.Field, value):
    """`as_json` of a value of `field`: money at its column's places, as the API and the database give it.

    A record saved from a form holds what was typed (`60000`) until it is read again.
    """
    if isinstance(value, Decimal) and isinstance(field, models.DecimalField):
        value = value.quantize(Decimal(1).scaleb(-field.decimal_places))
    return as_json(value)


def entries_for_write(tenant, record, changes: list[dict], events, *, source: str, at=None) -> list[HistoryEntry]:
    """The history rows of one write: its changes (when there are any) and each of its events."""
    at = at or timezone.now()
    common = {
        "organization_id": record.organization_id,
        "record_type": record_type(type(record)),
        "record_id": record.pk,
        "record_code": getattr(record, "code", "") or "",
        "actor": tenant.user,
        "source": source,
        "at": at,
    }
    entries = [HistoryEntry(kind=EntryKind.EVENT, event=name, data=data, **common) for name, data in events]
    if changes:
        entries.append(HistoryEntry(kind=EntryKind.CHANGE, changes=changes, **common))
    return entries


def write(entries: list[HistoryEntry]) -> None:
    """Insert history rows in one statement, however many there are."""
    if not entries:
        return
    if connection.vendor != "sqlite":
        HistoryEntry.objects.bulk_create(entries)
        return
    # Django cuts a SQLite INSERT into pieces of 999 variables (a few dozen rows); the driver takes one
    # prepared INSERT for all the rows instead.
    fields = [field for field in HistoryEntry._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(HistoryEntry._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    rows = [
        [field.get_db_prep_save(getattr(entry, field.attname), connection) for field in fields] for entry in entries
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def visible_entries(tenant, entries: models.QuerySet) -> models.QuerySet:
    """The entries whose record the tenant's record scope shows (records of unscoped kinds always)."""
    if tenant.visibility is None:
        return entries
    from crmApp.models import Activity, Customer, Deal, Lead

    kinds = [(record_type(model), model) for model in (Customer, Lead, Deal, Activity)]
    allowed = ~Q(record_type__in=[kind for kind, _ in kinds])
    for kind, model in kinds:
        visible = tenant.visible(model.with_trashed.filter(organization=tenant.organization)).values("id")
        allowed |= Q(record_type=kind, record_id__in=visible)
    return entries.filter(allowed)
