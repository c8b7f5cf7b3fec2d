"""The base of the services: bound to one tenant, so every query is scoped and every write is safe.

Every write of a record goes through the same few steps here, whatever the path (API, admin, bulk,
import): the row is re-read under a lock (gone → 404, `If-Match` mismatch → 412), only the fields that
really changed are written, `version` moves on by one, the change and its events are logged in the
same transaction, and the organization's cached figures go stale.
"""

from collections.abc import Collection, Iterable
from typing import ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from crmApp import history
from crmApp.caching import mark_organization_changed
from crmApp.constants import MembershipStatus
from crmApp.events import outbox
from crmApp.exceptions import PreconditionFailed, RecordGone
from crmApp.models import CodeSequence
from crmApp.models.base import format_code, written_fields
from crmApp.services.references import gone_references, lock_references, trashable_references
from crmApp.tenancy import Tenant

# The bookkeeping columns a write sets itself; a change to them alone is no change.
BOOKKEEPING = frozenset({"version", "updated_at"})
Event = tuple[str, dict]


def snapshot(record: models.Model) -> dict:
    """The values of the columns the record's writes set, by attribute name (`assigned_to_id`, not `assigned_to`)."""
    return {field.attname: getattr(record, field.attname) for field in written_fields(type(record))}


def changed_columns(record: models.Model, before: dict) -> list[str]:
    """The attribute names whose value differs from `before`, in field order."""
    return [name for name, old in before.items() if name not in BOOKKEEPING and getattr(record, name) != old]


def write_changes(record: models.Model, before: dict) -> bool:
    """Write the columns of a locked record that differ from `before`, with the next version; False: none did.

    The live records the changed columns point at are locked first (crmApp.services.references).
    """
    changed = changed_columns(record, before)
    if not changed:
        return False
    lock_references(type(record), {name: getattr(record, name) for name in changed})
    record.version = before["version"] + 1
    record.save(update_fields=[*(record._meta.get_field(name).name for name in changed), *BOOKKEEPING])
    return True


def check_linked_user(organization, user) -> None:
    """Raise a validation error on `user` unless that account is an active member of `organization`."""
    if user is None or user.memberships.filter(organization=organization, status=MembershipStatus.ACTIVE).exists():
        return
    message = f"User {user.pk} is not an active member of this organization."
    raise DjangoValidationError({"user": DjangoValidationError(message, code="does_not_exist")})


def links_another_user(record: models.Model, fields: dict) -> bool:
    """Whether `fields` point the record's `user` at another account: sending back the one it links to is
    keeping a link, not making one, even when that account has left the organization since."""
    return "user" in fields and column_value(fields["user"]) != record.user_id


def column_value(value):
    """What a field assignment stores in its column (a related record's id)."""
    return value.pk if isinstance(value, models.Model) else value


class OrganizationService:
    """Scoped reads and safe writes of one model's rows in the tenant's organization.

    Subclasses add the resource's rules through `prepare_create(record)`, `apply_update(record,
    fields)`, `check_delete(record)` and `events_for(record, before)`, or build their own write methods
    from `lock`, `save_record`, `insert_record` and `remove_record`.
    """

    model: ClassVar[type[models.Model]]

    def __init__(self, tenant: Tenant, *, expected_versions: Collection[int] | None = None):
        self.tenant = tenant
        self.organization = tenant.organization
        self.actor = tenant.user
        # The versions `If-Match` allows for the record a request names; None: no precondition.
        self.expected_versions = expected_versions

    @property
    def records(self) -> models.QuerySet:
        """This organization's live rows of the service's model that the caller's record scope shows."""
        return self.tenant.visible(self.model.objects.filter(organization=self.organization))

    @property
    def trashed(self) -> models.QuerySet:
        """This organization's trashed rows of the service's model that the caller's record scope shows."""
        rows = self.model.with_trashed.filter(organization=self.organization, deleted_at__isnull=False)
        return self.tenant.visible(rows)

    # --- building blocks ----------------------------------------------------------------------------
    def lock(
        self, record: models.Model, *, precondition: bool = True, rows: models.QuerySet | None = None, no_key=False
    ):
        """The record's row as it is now (among `rows`, default the live records), locked until the transaction ends.

        Raises RecordGone (404) when it was deleted meanwhile, and PreconditionFailed (412) when
        `precondition` is on and its version is not one `If-Match` allowed. `no_key`: the weaker lock, which
        writes that point at the record (their foreign-key checks) don't wait for.
        """
        rows = self.records if rows is None else rows
        locked = rows.select_for_update(no_key=no_key).filter(pk=record.pk).first()
        if locked is None:
            raise RecordGone()
        if precondition and self.expected_versions is not None and locked.version not in self.expected_versions:
            raise PreconditionFailed()
        return locked

    def save_record(self, record: models.Model, before: dict, *, events: list[Event] | None = None) -> models.Model:
        """Write the columns that differ from `before`, with the next version, and log it; no change writes nothing."""
        if write_changes(record, before):
            self.log_write(record, before, events=events)
        return record

    def insert_record(self, record: models.Model) -> models.Model:
        """Save a new record at version 1."""
        lock_references(type(record), {name: getattr(record, name) for name in trashable_references(type(record))})
        record.version = 1
        record.save()
        self.log_write(record, None)
        return record

    def remove_record(self, record: models.Model) -> None:
        """Delete a locked record; RESTRICT/PROTECT references surface as a 409 `protected`."""
        self.log(record, [], [("deleted", {})])
        record.delete()

    def trash_rows(self, records: list[models.Model], *, source: str | None = None) -> int:
        """Move locked records to the trash in one UPDATE, each logged with its `deleted` event."""
        rows = self.records.filter(pk__in=[record.pk for record in records])
        return self.update_rows(
            rows, source=source, events=[("deleted", {})], deleted_at=timezone.now(), deleted_by=self.actor
        )

    def update_rows(
        self, rows: models.QuerySet, *, source: str | None = None, events: list[Event] | None = None, **changes
    ) -> int:
        """Set `changes` on the organization's `rows` in one UPDATE, logging every row that really changes.

        Constant statements whatever the number of rows: one locked SELECT of the old values, one
        UPDATE, one INSERT of the history. Returns how many rows changed.
        """
        model = rows.model
        columns = {model._meta.get_field(name).attname: column_value(value) for name, value in changes.items()}
        lock_references(model, columns)
        # Only trashing must wait for writes that point at these rows (they hold them FOR KEY SHARE); any
        # other change takes the weaker lock an UPDATE of plain columns takes, so that an employee's trash,
        # unassigning their records, doesn't deadlock with a restore pointing at one of them.
        trashing = "deleted_at" in changes
        locked = rows.filter(organization=self.organization).select_for_update(no_key=not trashing).order_by("pk")
        changing = [row for row in locked if any(getattr(row, name) != value for name, value in columns.items())]
        if not changing:
            return 0
        now = timezone.now()
        # The rows locked above, trashed ones too when `rows` holds them (a merge moves those as well).
        model._base_manager.filter(pk__in=[row.pk for row in changing]).update(
            **changes, version=F("version") + 1, updated_at=now
        )
        writes = []
        for row in changing:
            before = snapshot(row)
            for name, value in columns.items():
                setattr(row, name, value)
            row.version, row.updated_at = before["version"] + 1, now
            row_events = self.events_for(row, before) if events is None else events
            writes.append((row, history.field_changes(row, before), row_events))
        self.log_writes(writes, source=source)
        return len(changing)

    def save_rows(self, changed: list[tuple[models.Model, dict]], fields: list[str]) -> None:
        """Write records already changed in memory (each with its `before`) in one UPDATE, logging each.

        Trashed records too, when the caller changed some (a stage's new probability reaches them).
        """
        if not changed:
            return
        now = timezone.now()
        for record, before in changed:
            record.version, record.updated_at = before["version"] + 1, now
        records = [record for record, _ in changed]
        type(records[0])._base_manager.bulk_update(records, [*fields, *BOOKKEEPING])
        self.log_writes(
            [
                (record, history.field_changes(record, before), self.events_for(record, before))
                for record, before in changed
            ]
        )

    def insert_rows(self, records: list[models.Model]) -> list[models.Model]:
        """Insert new records at version 1 in one statement (codes numbered as one block), logging each."""
        if not records:
            return records
        model = type(records[0])
        prefix = getattr(model, "CODE_PREFIX", None)
        if prefix is not None:
            first = CodeSequence.objects.allocate(
                organization_id=self.organization.id, prefix=prefix, count=len(records)
            )
            for offset, record in enumerate(records):
                record.code = format_code(prefix, first + offset)
        for record in records:
            record.version = 1
        model.objects.bulk_create(records)
        self.log_writes(
            [(record, history.field_changes(record, None), self.events_for(record, None)) for record in records]
        )
        return records

    def log_write(self, record: models.Model, before: dict | None, *, events: list[Event] | None = None) -> None:
        """Log one write of `record` (before None: it was created): its field changes and its events."""
        events = self.events_for(record, before) if events is None else events
        self.log(record, history.field_changes(record, before), events)

    def log(self, record: models.Model, changes: list[dict], events: list[Event]) -> None:
        """Log one write of `record`: its field changes and its events."""
        self.log_writes([(record, changes, events)])

    def log_writes(self, writes: list[outbox.Write], *, source: str | None = None) -> None:
        """Write the history and webhook events of `writes` in their transaction; cached figures go stale.

        Constant statements however many writes: one INSERT of history, at most two of the outbox.
        """
        source = source or self.tenant.source
        history.write(
            [
                entry
                for record, changes, events in writes
                for entry in history.entries_for_write(self.tenant, record, changes, events, source=source)
            ]
        )
        outbox.publish(self.tenant, writes)
        self.data_changed()

    def data_changed(self) -> None:
        """Cached figures of the organization (counts, aggregates) are stale from now on."""
        mark_organization_changed(self.organization.id)

    # --- hooks ------------------------------------------------------------------------------------
    def prepare_create(self, record: models.Model) -> None:
        """Check and complete a new record before it is saved (rules, derived fields)."""

    def apply_update(self, record: models.Model, fields: dict) -> None:
        """Apply `fields` to the locked record and re-derive what depends on them."""
        for name, value in fields.items():
            setattr(record, name, value)

    def check_delete(self, record: models.Model) -> None:
        """Raise a domain error when the locked record may not be deleted (trashed)."""

    def check_restore(self, record: models.Model) -> None:
        """Raise a domain error when the locked trashed record may not come back."""

    def check_purge(self, record: models.Model) -> None:
        """Raise a domain error when the locked trashed record may not be deleted for good."""

    def events_for(self, record: models.Model, before: dict | None) -> list[Event]:
        """The events a write makes: `created`, and a new assignee or status (`assigned`, `status_changed`)."""
        if before is None:
            return [("created", {})]
        events = []
        for attname, event in (("assigned_to_id", "assigned"), ("status", "status_changed")):
            if attname in before and getattr(record, attname) != before[attname]:
                events.append((event, {"from": before[attname], "to": getattr(record, attname)}))
        return events

    # --- writes -----------------------------------------------------------------------------------
    @transaction.atomic
    def create(self, **fields) -> models.Model:
        """Create a record in the organization, authored by the actor."""
        record = self.model(organization=self.organization, created_by=self.actor, **fields)
        self.prepare_create(record)
        return self.insert_record(record)

    @transaction.atomic
    def update(self, instance: models.Model, **fields) -> models.Model:
        """Apply the given fields to one of the organization's records, under its row lock."""
        record = self.lock(instance)
        before = snapshot(record)
        self.apply_update(record, fields)
        return self.save_record(record, before)

    @transaction.atomic
    def delete(self, instance: models.Model) -> None:
        """Delete one of the organization's records, under its row lock: to the trash, if its kind has one."""
        record = self.lock(instance)
        self.check_delete(record)
        if hasattr(self.model, "with_trashed"):
            self.trash_record(record)
        else:
            self.remove_record(record)

    def trash_record(self, record: models.Model, *, before: dict | None = None, **extra) -> models.Model:
        """Move a locked record to the trash (with `extra` columns, e.g. `merged_into`): a `deleted` event.

        `before`: the record as read, when the caller has already changed it in memory as part of this write.
        """
        before = snapshot(record) if before is None else before
        record.deleted_at, record.deleted_by = timezone.now(), self.actor
        for name, value in extra.items():
            setattr(record, name, value)
        return self.save_record(
            record, before, events=[("deleted", {name: column_value(v) for name, v in extra.items()})]
        )

    @transaction.atomic
    def restore(self, instance: models.Model) -> models.Model:
        """Bring a trashed record back, with its code and relations: a `restored` event."""
        # What it points at stays live until the commit (check_restore reads it after this). Locked before
        # the record, in the order merges and trashing lock (the referenced row, then the rows pointing at it).
        references = trashable_references(type(instance))
        gone = gone_references(type(instance), {attname: [getattr(instance, attname)] for attname in references})
        record = self.lock(instance, rows=self.trashed)
        if any(getattr(record, attname) != getattr(instance, attname) for attname in references):
            # Moved meanwhile (a merge re-points trashed records too): what it points at now.
            gone = gone_references(type(record), {attname: [getattr(record, attname)] for attname in references})
        self.check_restore(record)
        before = snapshot(record)
        record.deleted_at, record.deleted_by = None, None
        if hasattr(record, "merged_into_id"):
            record.merged_into = None
        if "assigned_to_id" in gone:
            # Trashing an employee unassigns their live records; one restored after it comes back unassigned too.
            record.assigned_to = None
        return self.save_record(record, before, events=[("restored", {}), *self.events_for(record, before)])

    @transaction.atomic
    def purge(self, instance: models.Model) -> None:
        """Delete a trashed record for good (its history stays): a `purged` event; links to it are cleared first."""
        from crmApp.services.purging import unlink

        record = self.lock(instance, rows=self.trashed, no_key=True)  # crmApp.services.purging says why
        self.check_purge(record)
        # What points at it may be outside the actor's record scope: the links go all the same.
        system = Tenant.system(self.organization, user=self.actor, source=self.tenant.source)
        unlink(type(record), [record.pk], lambda organization_id: system)
        self.log(record, [], [("purged", {})])
        record.delete()

    def locked_rows(self, ids: Iterable[int]) -> list[models.Model]:
        """The organization's rows among `ids`, locked in id order (so concurrent bulk writes queue up)."""
        return list(self.records.select_for_update().filter(pk__in=list(ids)).order_by("pk"))
