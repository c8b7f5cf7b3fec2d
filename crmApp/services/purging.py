"""Purging a trashed record for good: what still points at it is unlinked first, as logged changes.

The database would set those links to NULL by itself (SET NULL) with no version, history or webhook
event, and it would leave an activity whose only subject went about nothing, which no write may do.
So each link is cleared through `update_rows`, and an activity about nothing but the purged records
goes with them: a `purged` event, after a `deleted` one if it was still live.
"""

from collections.abc import Collection

from django.db import models

from crmApp.models import Activity
from crmApp.services import service_for
from crmApp.services.activity_service import SUBJECTS
from crmApp.tenancy import Tenant


def unlink(tenant: Tenant, model: type[models.Model], ids: Collection[int]) -> None:
    """Clear every link to the records `ids` of `model` (about to be purged), each a logged change."""
    for relation in model._meta.related_objects:
        if relation.on_delete is not models.SET_NULL:
            continue
        referencing, name = relation.related_model, relation.field.name
        rows = referencing.with_trashed.filter(organization=tenant.organization, **{f"{name}__in": ids})
        service = service_for(referencing)(tenant)
        if referencing is Activity and name in SUBJECTS:
            others = {f"{other}__isnull": True for other in SUBJECTS if other != name}
            purge_with_subject(service, rows.filter(**others))
        service.update_rows(rows, **{name: None})


def purge_with_subject(service, rows: models.QuerySet) -> None:
    """Delete for good the activities `rows`, whose only subject is being purged, logging each."""
    activities = list(rows.select_for_update().order_by("pk"))
    if not activities:
        return
    service.log_writes(
        [
            (activity, [], [*([("deleted", {})] if activity.deleted_at is None else []), ("purged", {})])
            for activity in activities
        ]
    )
    Activity.with_trashed.filter(pk__in=[activity.pk for activity in activities]).delete()
