"""Fast inserts: COPY on PostgreSQL, batched INSERTs elsewhere, and the set-based touches after them."""

from django.db import DatabaseError, IntegrityError, connection, models, transaction

from crmApp.constants import LeadStatus
from crmApp.models import Customer, Lead
from crmApp.models.base import written_fields


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _columns(model, names) -> list[str]:
    """The database columns for `names`; refuses a column list that leaves out a field that can't be NULL."""
    fields = [model._meta.get_field(name) for name in names]
    required = {f.attname for f in written_fields(model) if not (f.primary_key or f.null)}
    missing = required - {f.attname for f in fields}
    if missing:
        raise ValueError(f"{model.__name__} rows miss the columns {sorted(missing)}.")
    return [connection.ops.quote_name(f.column) for f in fields]


def _copy_line(row) -> str:
    # Seeded text never holds tabs, newlines or backslashes, so COPY's text format needs no escaping.
    # A list, not a generator: join makes one anyway, and this runs for every row of a million.
    return "\t".join(["\\N" if value is None else str(value) for value in row]) + "\n"


def _with_first_version(model, names, chunks):
    """Every inserted record starts at version 1; the row generators need not say so."""
    if "version" in names or not any(field.name == "version" for field in model._meta.concrete_fields):
        return names, chunks
    return (*names, "version"), ([(*row, 1) for row in rows] for rows in chunks)


def insert_rows(model, names, chunks, *, on_chunk=None) -> int:
    """Insert every chunk of row tuples (column order `names`) into the model's table; returns the row count."""
    names, chunks = _with_first_version(model, names, chunks)
    table, columns = _table(model), ", ".join(_columns(model, names))
    total = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.copy import QueuedLibpqWriter

            # The queued writer sends from a thread, so the server ingests one chunk while Python makes the next.
            raw = cursor.cursor  # Django's debug wrapper (DEBUG on) doesn't pass `writer` through
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN", writer=QueuedLibpqWriter(raw)) as copy:
                for rows in chunks:
                    copy.write("".join(map(_copy_line, rows)))
                    total += len(rows)
                    if on_chunk:
                        on_chunk(len(rows))
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
            for rows in chunks:
                cursor.executemany(sql, rows)
                total += len(rows)
                if on_chunk:
                    on_chunk(len(rows))
    return total


# A fill of at least this many rows into a table that holds under a tenth as many builds its
# secondary indexes after the load.
BULK_LOAD_ROWS = 100_000
BULK_LOAD_FACTOR = 10


def _run_pending_checks(cursor) -> None:
    """Run the foreign-key checks deferred so far, then defer again as Django does.

    CREATE INDEX and ALTER TABLE refuse a table with checks still pending (rows written earlier in
    the transaction, such as a new organization's history or a top-up's first rows).
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class DeferredIndexes:
    """The secondary indexes of the tables a fill loads in bulk: dropped before the load, built after it.

    PostgreSQL's advice for populating a database: building an index once over the loaded rows is
    several times faster than updating it row by row (a million leads keep fifteen of them). Only a
    table that the fill makes at least ten times bigger qualifies, since dropping an index locks the
    table against every reader until the fill commits: that is a first load, not a top-up of a table
    in use. The model's declared unique constraints (a code per organization) are deferred too:
    checking a code row by row is a third of a lead's COPY, and building the constraint again checks
    every row at once, so a duplicate fails the fill. A field's own uniqueness stays (the primary key,
    a one-to-one, which the fill's linking looks rows up by), as does a key a foreign key references.
    The drops belong to the fill's transaction: a fill that fails takes them back with it.
    """

    def __init__(self):
        self.definitions: list[tuple[bool, str]] = []  # (unique, the SQL that builds it again)

    def defer(self, model, rows: int) -> bool:
        """Drop the indexes of `model`'s table if `rows` new rows make it a bulk load; returns whether it did."""
        if connection.vendor != "postgresql" or rows < BULK_LOAD_ROWS or not self._is_bulk_load(model, rows):
            return False
        table = _table(model)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            if not self._is_bulk_load(model, rows):  # rows committed while the lock was awaited
                return False
            declared_unique = [c.name for c in model._meta.constraints if isinstance(c, models.UniqueConstraint)]
            cursor.execute(
                "SELECT index.relname, pg_index.indisunique, pg_get_indexdef(index.oid), con.conname,"
                " pg_get_constraintdef(con.oid)"
                " FROM pg_index JOIN pg_class AS index ON index.oid = pg_index.indexrelid"
                " LEFT JOIN pg_constraint AS con ON con.conindid = index.oid AND con.conrelid = pg_index.indrelid"
                " WHERE pg_index.indrelid = %s::regclass AND (NOT pg_index.indisunique OR index.relname = ANY(%s))"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint AS fk WHERE fk.contype = 'f' AND fk.conindid = index.oid)"
                " ORDER BY index.relname",
                [table, declared_unique],
            )
            for index, unique, definition, constraint, constraint_definition in cursor.fetchall():
                if constraint:
                    _run_pending_checks(cursor)
                    name = connection.ops.quote_name(constraint)
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                    definition = f"ALTER TABLE {table} ADD CONSTRAINT {name} {constraint_definition}"
                else:
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(index)}")
                self.definitions.append((unique, definition))
        return True

    @staticmethod
    def _is_bulk_load(model, rows: int) -> bool:
        return model._base_manager.count() * BULK_LOAD_FACTOR <= rows

    def build(self) -> int:
        """Build every dropped index and constraint again; returns how many.

        Unique ones first, tables together: a duplicate fails the fill before the rest is built.
        """
        built = len(self.definitions)
        if not built:
            return 0
        with connection.cursor() as cursor:
            _run_pending_checks(cursor)
            for _, definition in sorted(self.definitions, key=lambda entry: not entry[0]):
                cursor.execute(definition)
        self.definitions.clear()
        return built


def max_id(model, organization_id: int) -> int:
    """The highest id of the organization's rows of `model` (0 when it has none)."""
    last = model.objects.filter(organization_id=organization_id).order_by("-id").values_list("id", flat=True).first()
    return last or 0


# What a customer takes over from the lead it was converted from (`lead` is the lead's table alias).
_FROM_LEAD = {
    "customer_type": "CASE WHEN lead.company <> '' THEN 'business' ELSE 'individual' END",
    "first_name": "CASE WHEN lead.company <> '' THEN '' ELSE lead.first_name END",
    "last_name": "CASE WHEN lead.company <> '' THEN '' ELSE lead.last_name END",
    "company_name": "lead.company",
    "contact_person": "CASE WHEN lead.company <> '' THEN lead.first_name || ' ' || lead.last_name ELSE '' END",
    "email": "lead.email",
    "phone": "lead.phone",
    "source": "lead.source",
    "created_at": "lead.converted_at",
    "updated_at": "lead.converted_at",
}


def link_converted_leads(*, organization_id: int, customers_after_id: int, limit: int) -> int:
    """Make up to `limit` new customers (id above `customers_after_id`) the customers of unlinked converted leads.

    Each linked customer takes the lead's name, company and contact details and is dated at the
    conversion, as `convert` would have made it. Both sides are paired in id order.
    """
    customer_ids = list(
        Customer.objects.filter(
            organization_id=organization_id, id__gt=customers_after_id, converted_from_lead__isnull=True
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    lead_ids = list(
        Lead.objects.filter(
            organization_id=organization_id, status=LeadStatus.CONVERTED, converted_customer__isnull=True
        )
        .order_by("id")
        .values_list("id", flat=True)[: len(customer_ids)]
    )
    pairs = list(zip(customer_ids, lead_ids, strict=False))  # fewer leads than customers: pair what there is
    if not pairs:
        return 0
    customer, lead = _table(Customer), _table(Lead)
    columns = ", ".join(connection.ops.quote_name(name) for name in _FROM_LEAD)
    values = ", ".join(_FROM_LEAD.values())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement for the whole batch: the pairs travel as two arrays.
            cursor.execute(
                f"UPDATE {customer} SET converted_from_lead_id = pairs.lead_id, ({columns}) = ({values})"
                f" FROM unnest(%s::bigint[], %s::bigint[]) AS pairs(customer_id, lead_id)"
                f" JOIN {lead} AS lead ON lead.id = pairs.lead_id WHERE {customer}.id = pairs.customer_id",
                [[customer_id for customer_id, _ in pairs], [lead_id for _, lead_id in pairs]],
            )
        else:
            cursor.executemany(
                f"UPDATE {customer} SET converted_from_lead_id = %s,"
                f" ({columns}) = (SELECT {values} FROM {lead} AS lead WHERE lead.id = %s) WHERE id = %s",
                [(lead_id, lead_id, customer_id) for customer_id, lead_id in pairs],
            )
    return len(pairs)


def analyze(models) -> None:
    """Refresh the planner statistics after a big fill (PostgreSQL only; elsewhere a no-op)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {_table(model)}")


def vacuum(models) -> None:
    """VACUUM the tables (PostgreSQL only; a no-op elsewhere and inside a transaction, where it can't run).

    No ANALYZE: the fill analyzed them before it committed (its own rows count there as live).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM {_table(model)}")


def skip_row_reference_checks() -> bool:
    """On PostgreSQL, stop firing the per-row foreign-key triggers until the transaction ends, if the role may.

    Checking a million references one trigger call at a time doubles the load time; every id the fill
    writes was read in the same transaction, and `check_references` verifies them set-based afterwards.
    Returns whether the checks were skipped (False elsewhere or without the privilege).
    """
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True


def restore_row_reference_checks() -> None:
    """Fire the per-row triggers again for the rest of the transaction.

    A transaction that a failed statement aborted takes the setting back with it when it rolls back,
    and would refuse this one, hiding the error that aborted it.
    """
    from psycopg.pq import TransactionStatus

    if connection.connection.info.transaction_status == TransactionStatus.INERROR:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = origin")


def check_references(model, *, organization_id: int, after_id: int) -> None:
    """Raise IntegrityError if a new row of `model` (id above `after_id`) points at a missing row."""
    table = _table(model)
    with connection.cursor() as cursor:
        for fk in (f for f in model._meta.concrete_fields if f.is_relation):
            parent, column = fk.related_model, connection.ops.quote_name(fk.column)
            cursor.execute(
                f"SELECT 1 FROM {table} AS child WHERE child.organization_id = %s AND child.id > %s"
                f" AND child.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {_table(parent)} AS parent"
                f" WHERE parent.{connection.ops.quote_name(parent._meta.pk.column)} = child.{column}) LIMIT 1",
                [organization_id, after_id],
            )
            if cursor.fetchone():
                raise IntegrityError(f"{model.__name__}.{fk.name} points at a missing {parent.__name__}.")


def write_creation_history(model, *, organization_id: int, after_id: int, fields: tuple[str, ...], source: str) -> int:
    """One history change per new record of `model` (id above `after_id`): the given fields, set at creation.

    Set-based (one INSERT … SELECT), so a million records cost one statement.
    """
    from crmApp.history import record_type
    from crmApp.models import HistoryEntry

    column = {name: connection.ops.quote_name(model._meta.get_field(name).column) for name in fields}
    if connection.vendor == "postgresql":
        # Filling in a constant change costs half of building each one key by key (a million per big fill).
        changes = ", ".join(
            f"""jsonb_set('{{"field": "{name}", "old": null, "new": null}}', '{{new}}',"""
            f" COALESCE(to_jsonb({column[name]}), 'null'))"
            for name in fields
        )
        changes, empty = f"jsonb_build_array({changes})", "'{}'::jsonb"
    else:
        changes = ", ".join(f"json_object('field', '{name}', 'old', NULL, 'new', {column[name]})" for name in fields)
        changes, empty = f"json_array({changes})", "'{}'"
    history, table = _table(HistoryEntry), _table(model)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {history} (organization_id, record_type, record_id, record_code, kind, event, changes, data,"
            f" actor_id, source, at) SELECT organization_id, %s, id, code, 'change', '', {changes},"
            f" {empty}, created_by_id, %s, created_at FROM {table} WHERE organization_id = %s AND id > %s",
            [record_type(model), source, organization_id, after_id],
        )
        return cursor.rowcount
