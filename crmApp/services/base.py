"""The base of the services: bound to one tenant, so every query is scoped and every write is safe.

Every write of a record goes through the same few steps here, whatever the path (API, admin, bulk,
import): the row is re-read under a lock (gone → 404, `If-Match` mismatch → 412), only the fields that
really changed are written, `version` moves on by one, and the organization's cached figures go stale.
"""

from collections.abc import Collection, Iterable
from typing import ClassVar

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from crmApp.caching import mark_organization_changed
from crmApp.exceptions import PreconditionFailed, RecordGone
from crmApp.tenancy import Tenant

# The bookkeeping columns a write sets itself; a change to them alone is no change.
BOOKKEEPING = frozenset({"version", "updated_at"})


def snapshot(record: models.Model) -> dict:
    """The record's column values by attribute name (`assigned_to_id`, not `assigned_to`)."""
    return {field.attname: getattr(record, field.attname) for field in record._meta.concrete_fields}


def changed_columns(record: models.Model, before: dict) -> list[str]:
    """The attribute names whose value differs from `before`, in field order."""
    return [name for name, old in before.items() if name not in BOOKKEEPING and getattr(record, name) != old]


class OrganizationService:
    """Scoped reads and safe writes of one model's rows in the tenant's organization.

    Subclasses add the resource's rules through `prepare_create(record)` and
    `apply_update(record, fields)`, or build their own write methods from `lock` and `save_record`.
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
        """This organization's rows of the service's model."""
        return self.model.objects.filter(organization=self.organization)

    # --- building blocks ----------------------------------------------------------------------------
    def lock(self, record: models.Model, *, precondition: bool = True) -> models.Model:
        """The record's row as it is now, locked until the transaction ends.

        Raises RecordGone (404) when it was deleted meanwhile, and PreconditionFailed (412) when
        `precondition` is on and its version is not one `If-Match` allowed.
        """
        locked = self.records.select_for_update().filter(pk=record.pk).first()
        if locked is None:
            raise RecordGone()
        if precondition and self.expected_versions is not None and locked.version not in self.expected_versions:
            raise PreconditionFailed()
        return locked

    def save_record(self, record: models.Model, before: dict) -> models.Model:
        """Write the columns that differ from `before`, with the next version; no change writes nothing."""
        changed = changed_columns(record, before)
        if not changed:
            return record
        record.version = before["version"] + 1
        record.save(update_fields=[*(record._meta.get_field(name).name for name in changed), *BOOKKEEPING])
        self.data_changed()
        return record

    def insert_record(self, record: models.Model) -> models.Model:
        """Save a new record at version 1."""
        record.version = 1
        record.save()
        self.data_changed()
        return record

    def remove_record(self, record: models.Model) -> None:
        """Delete a locked record; RESTRICT/PROTECT references surface as a 409 `protected`."""
        record.delete()
        self.data_changed()

    def update_rows(self, rows: models.QuerySet, **changes) -> int:
        """One UPDATE of the organization's `rows`, moving each version on; returns how many changed."""
        updated = rows.filter(organization=self.organization).update(
            **changes, version=F("version") + 1, updated_at=timezone.now()
        )
        if updated:
            self.data_changed()
        return updated

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
        """Raise a domain error when the locked record may not be deleted."""

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
        """Delete one of the organization's records, under its row lock."""
        record = self.lock(instance)
        self.check_delete(record)
        self.remove_record(record)

    def locked_rows(self, ids: Iterable[int]) -> list[models.Model]:
        """The organization's rows among `ids`, locked in id order (so concurrent bulk writes queue up)."""
        return list(self.records.select_for_update().filter(pk__in=list(ids)).order_by("pk"))
