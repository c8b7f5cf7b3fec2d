"""Purging the trash after `TRASH_RETENTION_DAYS` (`manage.py purge_trash`, and hourly on the workers)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crmApp import history
from crmApp.caching import mark_organization_changed
from crmApp.constants import ChangeSource
from crmApp.models import Activity, Customer, Deal, Employee, Lead, Vendor
from crmApp.services.purging import unlink
from crmApp.tenancy import Tenant

# Records that others depend on go last, so a deal purged now no longer holds its customer back.
PURGE_ORDER = (Activity, Deal, Lead, Customer, Employee, Vendor)
CHUNK = 1000


def expired(model, cutoff):
    rows = model.with_trashed.filter(deleted_at__lt=cutoff).select_related("organization")
    if model is Customer:  # a customer is kept while deals (in the trash too) still point at it
        rows = rows.exclude(pk__in=Deal.with_trashed.values("customer_id"))
    return rows


def purge_expired(*, retention_days: int | None = None) -> dict[str, int]:
    """Delete for good what was trashed longer ago than the retention; the history stays, with a `purged` event.

    What points at a purged record is unlinked first, as logged changes (crmApp.services.purging).
    """
    days = settings.TRASH_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = timezone.now() - timedelta(days=days)
    purged = {model._meta.verbose_name_plural: 0 for model in PURGE_ORDER}
    for model in PURGE_ORDER:
        while True:
            with transaction.atomic():
                # Locked (as crmApp.services.purging says) and read again under the lock: a record restored
                # meanwhile is left alone.
                rows = expired(model, cutoff).select_for_update(no_key=True, of=("self",)).order_by("pk")
                chunk = list(rows[:CHUNK])
                if not chunk:
                    break
                tenants = {r.organization_id: Tenant.system(r.organization, source=ChangeSource.SYSTEM) for r in chunk}
                with_them = unlink(model, [record.pk for record in chunk], tenants.__getitem__)
                entries = []
                for record in chunk:
                    tenant = tenants[record.organization_id]
                    entries += history.entries_for_write(tenant, record, [], [("purged", {})], source=tenant.source)
                history.write(entries)
                model.with_trashed.filter(pk__in=[record.pk for record in chunk]).delete()
                for organization_id in tenants:
                    mark_organization_changed(organization_id)  # the audit log counts the new entries
            purged[model._meta.verbose_name_plural] += len(chunk)
            purged[Activity._meta.verbose_name_plural] += with_them  # purged with their only subject
    return purged
