"""How the outbox stores a write's events and their first attempts, and wakes the deliverers once it commits."""

from types import SimpleNamespace

import pytest
from django.db import DataError, connection, transaction
from django.forms.models import model_to_dict

from crmApp.events import outbox
from crmApp.models import OutboxEvent, WebhookDelivery
from crmApp.services.customer_service import CustomerService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import CustomerFactory
from crmApp.tests.test_webhooks import make_webhook

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement insert")
# What differs between two stores of the same events: identities, and when an attempt was made.
EVENT_IDENTITIES = {"id", "uuid"}
ATTEMPT_IDENTITIES = {"id", "event", "delivery_id", "created_at"}


def stored() -> list[tuple[dict, list[dict]]]:
    """Every event with its attempts, as plain values without identities, in the order they were queued."""
    events = []
    for event in OutboxEvent.objects.order_by("id"):
        attempts = WebhookDelivery.objects.filter(event=event).order_by("webhook_id")
        events.append(
            (
                {k: v for k, v in model_to_dict(event).items() if k not in EVENT_IDENTITIES},
                [{k: v for k, v in model_to_dict(a).items() if k not in ATTEMPT_IDENTITIES} for a in attempts],
            )
        )
    return events


def customer_events(organization, count: int) -> list[OutboxEvent]:
    customers = [CustomerFactory(organization=organization) for _ in range(count)]
    return [
        OutboxEvent(
            organization_id=organization.id,
            type=event_type,
            record_key=f"customer:{customer.pk}",
            data={"id": customer.pk, "name": customer.company_name},
            changes=[{"field": "status", "old": "active", "new": "inactive"}],
        )
        for customer in customers
        for event_type in ("customer.updated", "customer.deleted")
    ]


@on_postgresql
def test_one_statement_stores_what_two_bulk_inserts_store(organization, monkeypatch):
    webhooks = [make_webhook(organization), make_webhook(organization, events=["customer.updated"])]
    events = customer_events(organization, 3)
    outbox.queue(events, webhooks)
    together = stored()
    OutboxEvent.objects.all().delete()
    monkeypatch.setattr(outbox, "connection", SimpleNamespace(vendor="sqlite"))  # every other database's path
    copies = [
        OutboxEvent(
            **{
                name: getattr(event, name)
                for name in ("organization_id", "type", "record_key", "data", "changes", "created_at")
            }
        )
        for event in events
    ]
    outbox.queue(copies, webhooks)
    apart = stored()
    assert together == apart
    assert [len(attempts) for _, attempts in together] == [2, 1] * 3


@pytest.mark.parametrize("records", [1, 2, 30])
def test_each_attempt_is_stored_with_its_own_event_however_many_a_write_queues(organization, records):
    webhooks = [make_webhook(organization), make_webhook(organization), make_webhook(organization, events=["x"])]
    attempts = outbox.queue(customer_events(organization, records), webhooks)
    assert len(attempts) == 4 * records and all(attempt.pk and attempt.event.pk for attempt in attempts)
    for attempt in WebhookDelivery.objects.select_related("event"):
        assert attempt.record_key == attempt.event.record_key and attempt.webhook_id in {w.id for w in webhooks[:2]}
    assert OutboxEvent.objects.count() == 2 * records and WebhookDelivery.objects.count() == 4 * records


@on_postgresql
def test_a_large_write_gives_every_attempt_its_own_stored_id_event_and_webhook(organization):
    webhooks = [make_webhook(organization) for _ in range(3)]
    events = [
        OutboxEvent(organization_id=organization.id, type="customer.updated", record_key=f"customer:{n}", data={"n": n})
        for n in range(1000)
    ]
    attempts = outbox.queue(events, webhooks)
    rows_by_id = {
        row["id"]: row for row in WebhookDelivery.objects.values("id", "webhook_id", "delivery_id", "event_id")
    }
    stored_events = dict(OutboxEvent.objects.values_list("id", "uuid"))
    assert len(attempts) == len(rows_by_id) == 3000 and len(stored_events) == 1000
    for attempt in attempts:
        row = rows_by_id[attempt.pk]
        assert (row["webhook_id"], row["delivery_id"], row["event_id"]) == (
            attempt.webhook_id,
            attempt.delivery_id,
            attempt.event.id,
        )
        assert stored_events[attempt.event.id] == attempt.event.uuid
        assert attempt.record_key == f"customer:{attempt.event.data['n']}"


@on_postgresql
def test_text_too_long_for_its_column_is_refused_not_cut(organization):
    webhook = make_webhook(organization)
    too_long = OutboxEvent(organization_id=organization.id, type="customer." + "x" * 40, record_key="customer:1")
    with pytest.raises(DataError), transaction.atomic():
        outbox.queue([too_long], [webhook])
    assert not OutboxEvent.objects.exists()


def test_queued_objects_carry_their_ids_and_need_no_query_to_read_their_event(organization, django_assert_num_queries):
    webhook = make_webhook(organization)
    attempt = outbox.ping(webhook)
    event = OutboxEvent.objects.get()
    with django_assert_num_queries(0):
        assert (attempt.event.id, attempt.event_id, attempt.event.type) == (event.id, event.id, "ping")
    assert not attempt._state.adding and not attempt.event._state.adding  # saved, as bulk_create leaves them
    assert WebhookDelivery.objects.get(pk=attempt.pk).event_id == event.id


def test_an_event_no_webhook_wants_is_not_stored(organization):
    webhook = make_webhook(organization, events=["lead.created"])
    assert outbox.queue(customer_events(organization, 1), [webhook]) == []
    assert not OutboxEvent.objects.exists()


def test_a_bulk_write_with_webhooks_stores_each_record_once_per_subscriber(organization):
    make_webhook(organization)
    ids = [CustomerFactory(organization=organization).id for _ in range(5)]
    CustomerService(Tenant.system(organization)).bulk_update(ids=ids, status="inactive")
    keys = sorted(WebhookDelivery.objects.values_list("record_key", flat=True))
    assert keys == sorted(f"customer:{pk}" for pk in ids)


def test_commits_share_one_wake_until_a_worker_takes_it(settings, monkeypatch):
    from django.core.cache import cache

    from crmApp import tasks
    from crmApp.events import deliverer

    settings.TASKS_RUN_SYNCHRONOUSLY = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # never reached: the task's sending is replaced
    sent = []
    monkeypatch.setattr(tasks.deliver_webhooks, "delay", lambda: sent.append("wake"))
    cache.delete(deliverer.WAKE_KEY)
    deliverer.wake_after_commit()
    deliverer.wake_after_commit()
    assert sent == ["wake"]
    cache.delete(deliverer.WAKE_KEY)  # what the task does as it starts
    deliverer.wake_after_commit()
    assert len(sent) == 2
