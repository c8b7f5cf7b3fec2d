"""The abstract bases of every CRM record: tenant, timestamps, author and per-organization code."""

import threading
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper
from django.utils import timezone


class OrganizationOwned(models.Model):
    """A record that belongs to one organization and remembers who made it and when."""

    # No index of its own: every composite index and unique constraint of a tenant table leads with it.
    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    # A default rather than auto_now_add, so imports and the demo seed can keep historical dates.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # 1 on create, +1 on every change by any path; the ETag of the record (API.md › Write safety).
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def clean(self):
        """Refuse links to another organization's rows (the API's scoped fields do the same for requests)."""
        super().clean()
        errors = {}
        for field in self._meta.concrete_fields:
            if not field.is_relation or field.name == "organization":
                continue
            if not any(f.name == "organization" for f in field.related_model._meta.concrete_fields):
                continue
            related_id = getattr(self, field.attname)
            if related_id is None or self.organization_id is None:
                continue
            related = (
                field.related_model._base_manager.filter(pk=related_id)
                .values_list("organization_id", flat=True)
                .first()
            )
            if related != self.organization_id:
                errors[field.name] = "This belongs to another organization."
        if errors:
            raise ValidationError(errors)


class CodeSequenceManager(models.Manager):
    def allocate(self, *, organization_id: int, prefix: str, count: int = 1) -> int:
        """Reserve `count` consecutive numbers and return the first; the row lock makes it race-free.

        On PostgreSQL the numbers are taken by an autocommitted UPDATE on a connection of its own, so the
        sequence row stays locked for that one statement, not until the creating transaction commits (which
        made the creates of one organization run one after the other). A create that rolls back leaves a gap.
        """
        last = numbered_outside(self.model._meta.db_table, organization_id, prefix, count)
        if last is None:
            last = self._allocate_here(organization_id, prefix, count)
        return last - count + 1

    def _allocate_here(self, organization_id: int, prefix: str, count: int) -> int:
        """The last number of the block, taken in this transaction (the row's lock lasts until it ends).

        On PostgreSQL, where no committed row was found, the row is inserted first: an UPDATE of a row
        committed meanwhile would hold its lock here, and a later allocation of this transaction through
        the other connection would wait on it.
        """
        rows = self.filter(organization_id=organization_id, prefix=prefix)
        with transaction.atomic(using=self.db):
            if connections[self.db].vendor != "postgresql" and rows.update(last_value=F("last_value") + count):
                return rows.values_list("last_value", flat=True).get()
            try:
                with transaction.atomic(using=self.db):
                    self.create(organization_id=organization_id, prefix=prefix, last_value=count)
                    return count
            except IntegrityError:  # the row exists: committed meanwhile, or this transaction's own
                last = numbered_outside(self.model._meta.db_table, organization_id, prefix, count)
                if last is not None:
                    return last
            rows.update(last_value=F("last_value") + count)
            return rows.values_list("last_value", flat=True).get()


_numbering = threading.local()


def numbered_outside(table: str, organization_id: int, prefix: str, count: int) -> int | None:
    """Advance a committed sequence row by `count` in autocommit and return its new last value.

    None when it can't: not PostgreSQL, the row isn't committed yet (a new organization or prefix, or a test's
    own transaction), or the connection failed; the caller then numbers in its own transaction.
    """
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return None
    own = getattr(_numbering, "connection", None)
    try:
        if own is None:
            own = connections.create_connection(DEFAULT_DB_ALIAS)
            with own.cursor() as cursor:
                # Only a one-statement UPDATE holds a committed row, so a longer wait is this thread's own
                # transaction holding it after a fallback: give up and number there instead of waiting on itself.
                cursor.execute("SET lock_timeout = '5s'")
            _numbering.connection = own
        with own.cursor() as cursor:
            cursor.execute(
                f"UPDATE {own.ops.quote_name(table)} SET last_value = last_value + %s"
                " WHERE organization_id = %s AND prefix = %s RETURNING last_value",
                [count, organization_id, prefix],
            )
            row = cursor.fetchone()
    except DatabaseError:
        if own is not None:
            own.close()
        _numbering.connection = None
        return None
    return row[0] if row else None


def close_numbering_connection() -> None:
    """Close this thread's numbering connection, where the thread's Django connections are closed by hand."""
    own = getattr(_numbering, "connection", None)
    if own is not None:
        own.close()
        _numbering.connection = None


class CodeSequence(models.Model):
    """The last number handed out for one code prefix in one organization."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=10)
    last_value = models.PositiveBigIntegerField(default=0)

    objects = CodeSequenceManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "prefix"], name="code_sequence_unique")]

    def __str__(self):
        return f"{self.prefix} #{self.last_value}"


def format_code(prefix: str, number: int) -> str:
    return f"{prefix}-{number:04d}"


class AllRowsManager(models.Manager):
    """Every row, trashed ones too: restore, purge and the trash list read through it."""


class LiveManager(models.Manager):
    """The records that are not in the trash: what every list, detail, count and figure reads."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


# The condition of the indexes that only live records need (counts and figures read them alone).
LIVE = models.Q(deleted_at__isnull=True)


def set_only_index(field: str, *, name: str) -> models.Index:
    """An index of the rows whose foreign key `field` is set (declare the field with `db_index=False`).

    For a key that only trashed records have (who deleted them, what they were merged into): it serves
    the SET NULL cascade when that row goes, without a NULL entry for every live record to write.
    """
    return models.Index(fields=[field], condition=models.Q(**{f"{field}__isnull": False}), name=name)


def written_fields(model) -> list[models.Field]:
    """The columns the application writes: every concrete field but those the database generates.

    A generated column (`search_document`) follows from the others. It is neither history nor part of
    a change, and Django 5.2 doesn't load it after a save, so reading it there would cost a query.
    """
    return [field for field in model._meta.concrete_fields if not field.generated]


# Separates the fields of a search document: a search term spans two fields only if it holds one.
SEARCH_SEPARATOR = "\n"


def search_document(*fields: str) -> models.GeneratedField:
    """A stored column of `fields` in upper case, one per line, that a search looks its terms up in.

    Searching a field at a time costs an UPPER and a LIKE per field on every row the page walks past;
    on PostgreSQL the UPPER is most of it. The column pays for it once per write (crmApp.filters.search).
    """
    parts = [F(fields[0])]
    for name in fields[1:]:
        parts += [Value(SEARCH_SEPARATOR), F(name)]
    return models.GeneratedField(
        expression=Upper(Concat(*parts, output_field=models.TextField())),
        output_field=models.TextField(),
        db_persist=True,
    )


class CodedRecord(OrganizationOwned):
    """An organization-owned record with a human code (`CUST-0001`) unique within its organization.

    Deleting one moves it to the trash (`deleted_at`): `objects` no longer returns it, `with_trashed`
    does, and its code is never handed out again.
    """

    CODE_PREFIX: ClassVar[str]

    code = models.CharField(max_length=20, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,
    )

    objects = LiveManager()
    with_trashed = AllRowsManager()

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="%(class)s_unique_code_per_org"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "deleted_at"],
                condition=models.Q(deleted_at__isnull=False),
                name="%(class)s_org_trash_idx",
            ),
            set_only_index("deleted_by", name="%(class)s_deleted_by_idx"),
        ]

    def save(self, *args, **kwargs):
        if not self.code:
            with transaction.atomic():
                number = CodeSequence.objects.allocate(organization_id=self.organization_id, prefix=self.CODE_PREFIX)
                self.code = format_code(self.CODE_PREFIX, number)
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)
