"""Purging trashed records for good: what still points at them is unlinked first, as logged changes.

The database would set those links to NULL by itself (SET NULL) with no version, history or webhook
event, and it would leave an activity whose only subject went about nothing, which no write may do.
So each link is cleared through `update_rows`, and an activity about nothing but the purged records
goes with them: a `purged` event, after a `deleted` one if it was still live. A user account deleted
for good (by staff) is unlinked from the records that name it the same way.

Locks: the purger holds its records `FOR NO KEY UPDATE` while it unlinks, and the referencing rows are
taken in the order every multi-table write takes them. A write that links to a purged record meanwhile
(a merge moving a conversion link) holds those rows and then checks its foreign key `FOR KEY SHARE`,
which the weaker lock lets through instead of deadlocking. The records are then locked for deletion,
which no new link gets past, and what linked to them meanwhile is unlinked too.
"""

from collections.abc import Callable, Collection

from django.db import models

from crmApp.history import history_fields
from crmApp.models import Activity, Customer, Deal, Employee, Lead, Organization, User, Vendor
from crmApp.services import service_for
from crmApp.services.activity_service import SUBJECTS
from crmApp.tenancy import Tenant

# The order every multi-table write locks records in (merges, an employee's trash): the same order here
# keeps a purge from deadlocking with them.
LOCK_ORDER = (Customer, Lead, Deal, Activity)


def links_to(model: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """(referencing model, its field) of every link to `model` the database would clear, in lock order."""
    links = [
        (relation.related_model, relation.field.name)
        for relation in model._meta.related_objects
        if relation.on_delete is models.SET_NULL
    ]
    return sorted(links, key=lambda link: LOCK_ORDER.index(link[0]))


def unlink(model: type[models.Model], ids: Collection[int], tenant_of: Callable[[int], Tenant]) -> int:
    """Clear every link to the records `ids` of `model`, held `FOR NO KEY UPDATE` and about to be purged.

    Each is a logged change, made by `tenant_of(organization_id)`; the records end up locked for deletion.
    Returns how many activities were purged with them.
    """
    purged = unlink_once(model, ids, tenant_of)
    list(model.with_trashed.filter(pk__in=ids).select_for_update().order_by("pk").values_list("pk", flat=True))
    return purged + unlink_once(model, ids, tenant_of)


def unlink_once(model: type[models.Model], ids: Collection[int], tenant_of: Callable[[int], Tenant]) -> int:
    """One pass of `unlink`; returns how many activities were purged with their only subject."""
    return sum(clear_links(referencing, name, ids, tenant_of) for referencing, name in links_to(model))


def clear_links(referencing, name: str, ids: Collection[int], tenant_of: Callable[[int], Tenant]) -> int:
    """Clear `referencing.<name>` wherever it points at `ids`, organization by organization, each a logged change.

    A statement finds the organizations that have such links, so many organizations cost more only where
    links exist. An activity whose only subject this was goes with it; returns how many did.
    """
    purged = 0
    linked = referencing.with_trashed.filter(**{f"{name}__in": ids})
    for organization_id in linked.order_by().values_list("organization_id", flat=True).distinct():
        service = service_for(referencing)(tenant_of(organization_id))
        rows = linked.filter(organization_id=organization_id)
        if referencing is Activity and name in SUBJECTS:
            others = {f"{other}__isnull": True for other in SUBJECTS if other != name}
            purged += purge_with_subject(service, rows.filter(**others))
        service.update_rows(rows, **{name: None})
    return purged


def purge_with_subject(service, rows: models.QuerySet) -> int:
    """Delete for good the activities `rows`, whose only subject is being purged, logging each; how many."""
    activities = list(rows.select_for_update().order_by("pk"))
    if activities:
        service.log_writes(
            [
                (activity, [], [*([("deleted", {})] if activity.deleted_at is None else []), ("purged", {})])
                for activity in activities
            ]
        )
        Activity.with_trashed.filter(pk__in=[activity.pk for activity in activities]).delete()
    return len(activities)


def account_links() -> list[tuple[type[models.Model], str]]:
    """(record model, its field) of every link to a user account that history records and the database would clear."""
    return [
        (model, field.name)
        for model in (Customer, Activity, Employee, Vendor)
        for field in history_fields(model)
        if field.is_relation and field.related_model is User and field.remote_field.on_delete is models.SET_NULL
    ]


def unlink_accounts(user_ids: Collection[int], *, actor, source: str) -> None:
    """Clear every record's link to the accounts `user_ids`, about to be deleted, each a change logged as `actor`'s.

    Left to the database, a customer's `user` (or an activity's `done_by`) would change with no version,
    history or webhook event.
    """

    def tenant_of(organization_id: int) -> Tenant:
        return Tenant.system(Organization.objects.get(pk=organization_id), user=actor, source=source)

    for model, name in account_links():
        clear_links(model, name, user_ids, tenant_of)
