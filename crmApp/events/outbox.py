"""The outbox: a write's webhook events, stored in the write's own transaction.

Services call `publish` next to the history of every write. When no active webhook of the organization
wants an event, nothing is stored; otherwise the event (with the record as the API shows it) and one
pending delivery per subscribed webhook are inserted, and the deliverers are woken once the transaction
commits. A rolled-back write takes its events with it; a committed one waits in the table until a
deliverer sends it, whatever happens to the process that wrote it.
"""

from collections.abc import Iterable
from functools import cache

from django.db import connection, models, transaction
from django.utils.module_loading import import_string

from crmApp.constants import ALL_EVENTS, PING_EVENT, WEBHOOK_EVENTS
from crmApp.history import record_type
from crmApp.listing import list_plan
from crmApp.models import OutboxEvent, Webhook, WebhookDelivery

# Events that stand for the whole write (its field changes ride along in `changes`, no `updated`).
WHOLE_RECORD_EVENTS = ("created", "deleted", "restored", "merged")
# A write's history events that are webhook events of their own, next to its `updated`.
NAMED_EVENTS = frozenset({"converted", "stage_changed", "won", "lost", "completed"})
# What the API shows of each record type.
SHAPES = {
    "customer": "crmApp.serializers.customer.CustomerSerializer",
    "lead": "crmApp.serializers.lead.LeadSerializer",
    "deal": "crmApp.serializers.deal.DealSerializer",
    "activity": "crmApp.serializers.activity.ActivitySerializer",
}
Write = tuple[models.Model, list[dict], list[tuple[str, dict]]]


def event_types(kind: str, changes: list[dict], events: Iterable[tuple[str, dict]]) -> list[str]:
    """The webhook events of one write of a `kind` record: a whole-record one, or updated plus the named ones.

    A whole-record event with no webhook type of its own (a lead merge's target) is an update, so the
    fields it changed still reach the receivers.
    """
    names = [name for name, _ in events]
    whole = next((name for name in WHOLE_RECORD_EVENTS if name in names), None)
    if whole is not None and f"{kind}.{whole}" in WEBHOOK_EVENTS:
        return [f"{kind}.{whole}"]
    types = [f"{kind}.updated"] if changes else []
    types += [f"{kind}.{name}" for name in names if name in NAMED_EVENTS]
    return [name for name in types if name in WEBHOOK_EVENTS]


def subscribes(webhook: Webhook, event_type: str) -> bool:
    return event_type == PING_EVENT or ALL_EVENTS in webhook.events or event_type in webhook.events


def represent(kind: str, records: list[models.Model]) -> list[dict]:
    """The records as the API shows them, as they stand in this transaction.

    Read as rows through the serializer's list plan (listing.py), lookups included in the one query:
    building a ModelSerializer's fields cost more than the rest of the event, on every write that has
    webhooks.
    """
    plan = list_plan(import_string(SHAPES[kind]), inline=True)
    rows = plan.record_rows(type(records[0]), [record.pk for record in records])
    shown = {row[0]: item for row, item in zip(rows, plan.render(rows), strict=True)}
    return [shown[record.pk] for record in records]


def publish(tenant, writes: list[Write]) -> None:
    """Store the webhook events of `writes` (record, field changes, history events) in this transaction."""
    webhooks = tenant.active_webhooks
    if not webhooks or not writes:
        return
    wanted: dict[str, list[tuple[models.Model, list[dict], list[str]]]] = {}
    for record, changes, events in writes:
        kind = record_type(type(record))
        if kind not in SHAPES:
            continue
        types = [t for t in event_types(kind, changes, events) if any(subscribes(w, t) for w in webhooks)]
        if types:
            wanted.setdefault(kind, []).append((record, changes, types))
    outbox = []
    for kind, items in wanted.items():
        shown = represent(kind, [record for record, _, _ in items])
        outbox += [
            OutboxEvent(
                organization_id=tenant.organization.id,
                type=event_type,
                record_key=f"{kind}:{record.pk}",
                data=data,
                changes=changes,
            )
            for (record, changes, types), data in zip(items, shown, strict=True)
            for event_type in types
        ]
    if not outbox:
        return
    queue(outbox, webhooks)


def queue(outbox: list[OutboxEvent], webhooks: list[Webhook]) -> list[WebhookDelivery]:
    """Insert the events and a first pending attempt for every webhook that wants each; wake the deliverers."""
    from crmApp.events.deliverer import wake_after_commit

    deliveries = [
        WebhookDelivery(
            organization_id=event.organization_id,
            webhook_id=webhook.id,
            event=event,
            record_key=event.record_key,
            next_attempt_at=event.created_at,
            first_attempt_at=event.created_at,
        )
        for event in outbox
        for webhook in webhooks
        if subscribes(webhook, event.type)
    ]
    if not deliveries:  # nothing would ever send them
        return []
    if connection.vendor == "postgresql":
        _insert_together(outbox, deliveries)
    else:
        _insert_apart(outbox, deliveries)
    transaction.on_commit(wake_after_commit, robust=True)
    return deliveries


def _insert_apart(outbox: list[OutboxEvent], deliveries: list[WebhookDelivery]) -> None:
    OutboxEvent.objects.bulk_create(outbox)
    if outbox and outbox[0].pk is None:  # a database that doesn't return ids from a bulk insert
        stored = OutboxEvent.objects.filter(uuid__in=[event.uuid for event in outbox]).only("id", "uuid")
        ids = {event.uuid: event.id for event in stored}
        for event in outbox:
            event.id = ids[event.uuid]
    WebhookDelivery.objects.bulk_create(deliveries)


EVENT_COLUMN = WebhookDelivery._meta.get_field("event").column


@cache
def _columns(model) -> list[models.Field]:
    """The columns an insert of `model` writes; an attempt's event id comes from the event's insert."""
    return [field for field in model._meta.concrete_fields if not field.primary_key and field.column != EVENT_COLUMN]


@cache
def _together_sql() -> str:
    """The statement of _insert_together: each column's values one array, whatever the number of rows."""
    quote = connection.ops.quote_name
    event_fields, attempt_fields = _columns(OutboxEvent), _columns(WebhookDelivery)

    def arrays(fields) -> str:
        # Without a length, as Django's own UNNEST insert does: a cast to varchar(n) cuts longer text
        # silently, where the column's own check refuses it.
        return ", ".join(f"%s::{field.cast_db_type(connection).split('(')[0]}[]" for field in fields)

    columns = ", ".join(quote(field.column) for field in attempt_fields)
    return (
        f"WITH event AS (INSERT INTO {quote(OutboxEvent._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in event_fields)}) "
        f"SELECT * FROM unnest({arrays(event_fields)}) RETURNING id, uuid) "
        f"INSERT INTO {quote(WebhookDelivery._meta.db_table)} ({columns}, {quote(EVENT_COLUMN)}) "
        f"SELECT {', '.join(f'v.{quote(field.column)}' for field in attempt_fields)}, event.id "
        f"FROM unnest(%s::uuid[], {arrays(attempt_fields)}) AS v (event_uuid, {columns}) "
        "JOIN event ON event.uuid = v.event_uuid RETURNING id, event_id, delivery_id"
    )


def _insert_together(outbox: list[OutboxEvent], deliveries: list[WebhookDelivery]) -> None:
    """PostgreSQL: the events and their attempts in one statement, each attempt joined to its event by uuid.

    Two bulk inserts cost a third more (1.1-1.3 ms against 0.8-0.95 ms for one event and three attempts),
    most of it Django building them. A column's values travel as one array, so the statement's text is
    the same for any number of rows (psycopg prepares one per combination of array types) and never
    reaches PostgreSQL's limit on parameters. Values are prepared as bulk_create prepares them.
    """

    def column(objects, field) -> list:
        return [field.get_db_prep_save(field.pre_save(item, add=True), connection) for item in objects]

    params = [column(outbox, field) for field in _columns(OutboxEvent)]
    params.append([attempt.event.uuid for attempt in deliveries])
    params += [column(deliveries, field) for field in _columns(WebhookDelivery)]
    with connection.cursor() as cursor:
        cursor.execute(_together_sql(), params)
        stored = {delivery_id: (pk, event_id) for pk, event_id, delivery_id in cursor.fetchall()}
    for attempt in deliveries:
        attempt.pk, attempt.event.id = stored[attempt.delivery_id]
        attempt.event = attempt.event  # its id, now known
    for saved in (*outbox, *deliveries):
        saved._state.adding, saved._state.db = False, connection.alias


def ping(webhook: Webhook) -> WebhookDelivery:
    """Queue a `ping` event for `webhook` alone."""
    event = OutboxEvent(organization_id=webhook.organization_id, type=PING_EVENT, data={"webhook": webhook.id})
    return queue([event], [webhook])[0]
