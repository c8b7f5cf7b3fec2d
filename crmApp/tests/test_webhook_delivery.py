"""Delivering the outbox to a real endpoint on 127.0.0.1: signatures, the log, retries, order, disabling."""

import itertools
import socket
from collections import Counter
from concurrent.futures import Future
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crmApp.constants import DeliveryStatus
from crmApp.events import delivery, transport
from crmApp.models import OutboxEvent, Webhook, WebhookDelivery
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import OrganizationFactory
from crmApp.tests.test_webhooks import make_webhook, resolving_to
from crmApp.tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def webhook(organization, receiver):
    return make_webhook(organization, url=receiver.url)


def create_lead(organization, **fields):
    return LeadService(Tenant.system(organization)).create(**{"first_name": "Ada", **fields})


def attempts(**filters) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(**filters).order_by("id"))


def make_due() -> None:
    """Time passes: every pending retry is due now."""
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())


def test_a_delivery_is_signed_and_carries_the_event(organization, webhook, receiver):
    lead = create_lead(organization)
    assert delivery.deliver_due() == 1

    (received,) = receiver.received
    attempt = WebhookDelivery.objects.get()
    event = OutboxEvent.objects.get()
    assert received.signed_with("whsec_test") and not received.signed_with("another secret")
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == "crm-webhooks/1.0.0"
    assert received.headers["X-CRM-Event"] == "lead.created"
    assert received.headers["X-CRM-Delivery"] == str(attempt.delivery_id)
    payload = received.payload
    assert set(payload) == {"id", "type", "created_at", "organization", "sequence", "data", "changes"}
    assert (payload["id"], payload["type"], payload["sequence"]) == (str(event.uuid), "lead.created", event.id)
    assert (payload["organization"], payload["data"]["id"], payload["data"]["code"]) == (
        organization.id,
        lead.id,
        lead.code,
    )
    assert (attempt.status, attempt.response_status, attempt.error) == ("succeeded", 200, "")
    assert attempt.duration_ms is not None and attempt.next_attempt_at is None


def test_the_signature_timestamp_is_now_and_covers_the_exact_body(organization, webhook, receiver):
    create_lead(organization)
    delivery.deliver_due()
    (received,) = receiver.received
    timestamp = int(dict(part.split("=", 1) for part in received.headers["X-CRM-Signature"].split(","))["t"])
    assert abs(timestamp - timezone.now().timestamp()) < 5
    received.body += b" "
    assert not received.signed_with("whsec_test")


def test_the_delivery_log_lists_attempts_newest_first(owner_client, organization, webhook, receiver):
    receiver.statuses = [500]
    create_lead(organization)
    delivery.deliver_due()
    make_due()
    delivery.deliver_due()

    log = owner_client.get(f"/api/webhooks/{webhook.id}/deliveries/").json()["results"]
    assert [(entry["attempt"], entry["status"], entry["response_status"]) for entry in log] == [
        (2, "succeeded", 200),
        (1, "failed", 500),
    ]
    assert log[0]["delivery_id"] == log[1]["delivery_id"]
    assert (log[1]["event_type"], log[1]["error"]) == ("lead.created", "The endpoint answered 500.")
    assert log[0]["event"] == str(OutboxEvent.objects.get().uuid)


def test_a_failure_is_retried_after_the_base_wait_and_counted(organization, webhook, receiver):
    receiver.status = 503
    create_lead(organization)
    before = timezone.now()
    delivery.deliver_due()

    failed, retry = attempts()
    assert (failed.status, failed.response_status, retry.status, retry.attempt) == ("failed", 503, "pending", 2)
    assert retry.delivery_id == failed.delivery_id
    wait = retry.next_attempt_at - before
    assert timedelta(seconds=59) < wait < timedelta(seconds=62)
    assert failed.next_attempt_at == retry.next_attempt_at
    webhook.refresh_from_db()
    assert webhook.failure_count == 1 and webhook.failing_since is not None
    assert delivery.deliver_due() == 0  # not due yet


def chain_of_waits(base: int) -> list[float]:
    """The waits of a delivery that fails for 3 days, as the deliverer plans them."""
    attempt = WebhookDelivery(backoff_seconds=0)
    waits, elapsed = [], timedelta()
    while elapsed < delivery.GIVE_UP_AFTER:
        wait = delivery.next_backoff(attempt)
        waits.append(wait.total_seconds())
        elapsed += wait
        attempt = WebhookDelivery(backoff_seconds=int(wait.total_seconds()))
    return waits


@hypothesis_settings(deadline=None, max_examples=50)
@given(base=st.integers(min_value=1, max_value=3600))
def test_the_backoff_starts_at_the_base_at_most_doubles_and_lasts_3_days(base):
    with override_settings(WEBHOOK_RETRY_BASE_SECONDS=base):
        waits = chain_of_waits(base)
    assert waits[0] == base
    assert all(later <= 2 * earlier + 1 for earlier, later in itertools.pairwise(waits))
    assert all(later >= earlier - 1 or later >= 6 * 3600 - 1 for earlier, later in itertools.pairwise(waits))
    assert len(waits) >= 8 and sum(waits) >= 24 * 3600
    assert max(waits) <= max(6 * 3600, base)


@pytest.mark.parametrize("base", [1, 2, 3, 60])
def test_the_waits_keep_growing_to_the_cap_as_the_deliverer_stores_them(base, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = base
    now = timezone.now()
    attempt, waits = WebhookDelivery(attempt=1, first_attempt_at=now), []
    while len(waits) < 40 and (retry := delivery.retry_of(attempt, now)) is not None:
        waits.append((retry.next_attempt_at - now).total_seconds())
        now, attempt = retry.next_attempt_at, retry
    cap = 6 * 3600
    assert waits[0] == base
    assert all(earlier < later <= 2 * earlier or later == cap for earlier, later in itertools.pairwise(waits))
    assert cap in waits


def test_the_waits_are_jittered(settings):
    assert len({tuple(chain_of_waits(60)[:6]) for _ in range(5)}) > 1


def test_a_410_disables_the_webhook_at_once_and_keeps_the_event_queued(owner_client, organization, webhook, receiver):
    receiver.status = 410
    create_lead(organization)
    delivery.deliver_due()
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.disabled_reason) == (False, "The endpoint answered 410 Gone.")

    create_lead(organization, first_name="Bo")  # nothing is queued for a disabled webhook
    make_due()
    assert delivery.deliver_due() == 0

    receiver.status = 200
    owner_client.patch(f"/api/webhooks/{webhook.id}/", {"is_active": True}, format="json")
    assert delivery.deliver_due() == 1
    assert [payload["data"]["first_name"] for payload in receiver.payloads()] == ["Ada", "Ada"]


def test_three_days_of_failures_disable_the_webhook(organization, webhook, receiver):
    receiver.status = 500
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=3, seconds=1))
    create_lead(organization)
    delivery.deliver_due()
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.disabled_reason) == (False, "Every delivery failed for 3 days.")


def test_a_success_clears_the_failure_state(organization, webhook, receiver):
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=2), failure_count=40)
    create_lead(organization)
    delivery.deliver_due()
    webhook.refresh_from_db()
    assert (webhook.failure_count, webhook.failing_since, webhook.is_active) == (0, None, True)


def test_a_delivery_that_changes_the_failure_count_moves_the_webhook_s_version_once(
    owner_client, organization, webhook, receiver
):
    path = f"/api/webhooks/{webhook.id}/"
    read = owner_client.get(path)
    assert read["ETag"] == '"1"'

    receiver.status = 500
    create_lead(organization)
    delivery.deliver_due()
    failing = owner_client.get(path, HTTP_IF_NONE_MATCH=read["ETag"])
    assert failing.status_code == 200 and failing.json()["failure_count"] == 1
    assert failing["ETag"] == '"2"'

    receiver.status = 410
    make_due()
    delivery.deliver_due()
    gone = owner_client.get(path).json()
    assert (gone["failure_count"], gone["is_active"], gone["version"]) == (2, False, 3)

    receiver.status = 200
    assert owner_client.patch(path, {"is_active": True}, format="json", HTTP_IF_MATCH='"3"').status_code == 200
    delivery.deliver_due()
    assert owner_client.get(path).json()["version"] == 4  # enabling reset the count already: nothing to clear

    Webhook.objects.filter(pk=webhook.pk).update(failure_count=3, failing_since=timezone.now())
    create_lead(organization, first_name="Bo")
    delivery.deliver_due()
    cleared = owner_client.get(path, HTTP_IF_NONE_MATCH='"4"')
    assert cleared.status_code == 200 and (cleared.json()["failure_count"], cleared["ETag"]) == (0, '"5"')


def test_an_event_failing_for_3_days_is_not_retried_again(organization, webhook, receiver):
    receiver.status = 500
    create_lead(organization)
    WebhookDelivery.objects.update(first_attempt_at=timezone.now() - timedelta(days=3))
    delivery.deliver_due()
    (attempt,) = attempts()
    assert (attempt.status, attempt.next_attempt_at) == ("failed", None)


@pytest.mark.parametrize("status", [301, 302, 400, 404, 500, 502])
def test_anything_but_a_2xx_is_a_failure(organization, webhook, receiver, status):
    receiver.status = status
    create_lead(organization)
    delivery.deliver_due()
    assert [attempt.status for attempt in attempts()] == ["failed", "pending"]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_a_success(organization, webhook, receiver, status):
    receiver.status = status
    create_lead(organization)
    delivery.deliver_due()
    assert [attempt.status for attempt in attempts()] == ["succeeded"]


def test_no_answer_within_the_timeout_is_a_failure(organization, webhook, receiver, monkeypatch):
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(transport, "_pools", {})
    receiver.delay = 1.0
    create_lead(organization)
    delivery.deliver_due()
    assert attempts()[0].error == "No answer within 0.3 s."


def test_a_closed_port_is_a_failure(organization, receiver):
    make_webhook(organization, url="http://127.0.0.1:9/closed")
    create_lead(organization)
    delivery.deliver_due()
    failed = attempts()[0]
    assert failed.status == "failed" and failed.response_status is None and "Connection failed" in failed.error


def test_one_records_events_arrive_in_order_even_across_a_failure(organization, webhook, receiver):
    receiver.statuses = [500]
    lead = create_lead(organization)
    service = LeadService(Tenant.system(organization))
    service.update(lead, company="One")
    service.update(lead, company="Two")
    delivery.deliver_due()
    assert len(receiver.received) == 1  # the first event failed: the lead's later events wait for it

    create_lead(organization, first_name="Other")
    delivery.deliver_due()
    assert [p["data"]["first_name"] for p in receiver.payloads()] == ["Ada", "Other"]  # others don't wait

    make_due()
    delivery.deliver_due()
    for_lead = [p for p in receiver.payloads() if p["data"]["id"] == lead.id]
    assert [(p["type"], p["data"]["company"]) for p in for_lead] == [
        ("lead.created", ""),
        ("lead.created", ""),
        ("lead.updated", "One"),
        ("lead.updated", "Two"),
    ]
    assert [p["sequence"] for p in for_lead[1:]] == sorted(p["sequence"] for p in for_lead[1:])


def test_an_attempt_leased_by_a_live_deliverer_is_left_alone_until_the_lease_ends(organization, webhook, receiver):
    create_lead(organization)
    (claimed,) = delivery.claim()
    assert delivery.claim() == []  # a second deliverer finds nothing to take

    WebhookDelivery.objects.filter(pk=claimed.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert delivery.deliver_due() == 1  # the first one died: its lease ran out
    assert len(receiver.received) == 1


def test_a_batch_stays_leased_while_its_last_attempt_may_still_be_sent(organization, webhook, receiver, monkeypatch):
    for number in range(2 * delivery.SENDERS + 1):
        create_lead(organization, first_name=f"Ada {number}")
    assert len(delivery.claim()) == 2 * delivery.SENDERS + 1

    # One organization's go PER_ORGANIZATION at a time, each within the timeout: the last one starts after
    # four rounds, and may take a fifth.
    still_sending = timezone.now() + timedelta(seconds=5 * transport.TIMEOUT_SECONDS)
    monkeypatch.setattr(timezone, "now", lambda: still_sending)
    assert delivery.claim() == []  # a second deliverer sends none of them again


PER_ORGANIZATION, SENDERS = delivery.PER_ORGANIZATION, delivery.SENDERS


@pytest.mark.parametrize(
    ("held", "claimed", "rounds"),
    [
        ({}, {1: 1}, 1),
        ({}, {1: 2 * PER_ORGANIZATION + 1}, 3),  # an organization's go PER_ORGANIZATION at a time
        ({1: PER_ORGANIZATION - 1}, {1: 2}, 2),  # behind what it holds already
        ({1: PER_ORGANIZATION}, {2: PER_ORGANIZATION}, 1),  # another organization's go beside them
        ({1: SENDERS, 2: SENDERS}, {3: 1}, 3),  # and all of them SENDERS at a time
    ],
)
def test_a_claim_is_leased_for_the_rounds_its_last_attempt_may_wait(held, claimed, rounds):
    assert delivery.rounds_until_sent(Counter(held), Counter(claimed)) == rounds


class Held:
    """Senders that keep every attempt in flight until the round is over."""

    def submit(self, function, attempt):
        return Future()


@pytest.mark.parametrize(
    "organizations",
    [
        [1] * SENDERS + [2] * SENDERS + [3] * SENDERS,  # the last organization's wait behind both others'
        [1] * (2 * SENDERS) + [2] * PER_ORGANIZATION + [3] * (SENDERS + 1),
        [1, 2, 3] * SENDERS,
    ],
)
def test_a_claim_is_leased_until_its_last_attempt_has_started_in_the_order_it_is_sent(organizations):
    """The rounds a claim is leased for cover those the run takes to start its last attempt, one round
    being every attempt in flight finishing within the timeout."""
    run = delivery.Run(Held(), None)
    run.waiting = [WebhookDelivery(organization_id=organization) for organization in organizations]
    rounds = 0
    while run.waiting:
        rounds += 1
        run.start()
        run.in_flight.clear()
    assert delivery.rounds_until_sent(Counter(), Counter(organizations)) >= rounds


def test_a_claim_skips_the_organizations_it_is_told_to(organization, webhook):
    other = OrganizationFactory()
    make_webhook(other)
    create_lead(organization)
    create_lead(other)
    claimed = delivery.claim(skip=[organization.id])
    assert [attempt.organization_id for attempt in claimed] == [other.id]
    assert [attempt.organization_id for attempt in delivery.claim()] == [organization.id]


def test_a_disabled_webhook_gets_nothing(organization, webhook, receiver):
    create_lead(organization)
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False)
    assert delivery.deliver_due() == 0 and receiver.received == []


def test_after_a_rotation_both_secrets_sign_for_24_hours(owner_client, organization, webhook, receiver):
    new_secret = owner_client.post(f"/api/webhooks/{webhook.id}/rotate-secret/").json()["secret"]
    create_lead(organization)
    delivery.deliver_due()
    assert receiver.received[0].signed_with(new_secret) and receiver.received[0].signed_with("whsec_test")

    Webhook.objects.filter(pk=webhook.pk).update(previous_secret_expires_at=timezone.now())
    create_lead(organization)
    delivery.deliver_due()
    assert receiver.received[1].signed_with(new_secret) and not receiver.received[1].signed_with("whsec_test")
    assert receiver.received[1].headers["X-CRM-Signature"].count("v1=") == 1


def test_the_address_is_checked_again_at_delivery_time(organization, webhook, receiver, settings, monkeypatch):
    create_lead(organization)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the host now resolves to a private address
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("10.0.0.7"))
    delivery.deliver_due()
    failed = attempts()[0]
    assert failed.status == "failed" and "private" in failed.error and receiver.received == []


def test_redeliver_sends_the_event_again_with_the_same_delivery_id(owner_client, organization, webhook, receiver):
    create_lead(organization)
    delivery.deliver_due()
    first = attempts()[0]

    response = owner_client.post(f"/api/webhooks/{webhook.id}/deliveries/{first.id}/redeliver/")
    assert response.status_code == 202
    assert (response.json()["attempt"], response.json()["status"]) == (2, "pending")
    delivery.deliver_due()
    assert [r.headers["X-CRM-Delivery"] for r in receiver.received] == [str(first.delivery_id)] * 2
    assert receiver.received[0].body == receiver.received[1].body


def test_redeliver_of_a_failing_event_moves_its_pending_retry_up(owner_client, organization, webhook, receiver):
    receiver.statuses = [500]
    create_lead(organization)
    delivery.deliver_due()
    failed, retry = attempts()
    response = owner_client.post(f"/api/webhooks/{webhook.id}/deliveries/{failed.id}/redeliver/")
    assert response.json()["id"] == retry.id
    assert delivery.deliver_due() == 1 and len(attempts()) == 2


def test_redeliver_of_another_webhooks_attempt_is_a_404(owner_client, organization, webhook, receiver):
    other = make_webhook(organization, url=receiver.url)
    create_lead(organization)
    attempt = WebhookDelivery.objects.get(webhook=other)
    response = owner_client.post(f"/api/webhooks/{webhook.id}/deliveries/{attempt.id}/redeliver/")
    assert response.status_code == 404


def test_ping_is_delivered(owner_client, organization, webhook, receiver):
    owner_client.post(f"/api/webhooks/{webhook.id}/ping/")
    delivery.deliver_due()
    (payload,) = receiver.payloads()
    assert (payload["type"], payload["data"]) == ("ping", {"webhook": webhook.id})


def test_a_commit_wakes_the_deliverers(organization, webhook, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create_lead(organization)
    assert [payload["type"] for payload in receiver.payloads()] == ["lead.created"]


def test_the_log_is_purged_after_30_days_but_never_what_still_waits(organization, webhook, receiver):
    receiver.statuses = [200, 500]
    create_lead(organization)
    create_lead(organization, first_name="Bo")
    delivery.deliver_due()
    long_ago = timezone.now() - timedelta(days=31)
    OutboxEvent.objects.update(created_at=long_ago)
    WebhookDelivery.objects.update(created_at=long_ago)

    delivery.purge_log()
    assert [attempt.status for attempt in attempts()] == ["failed", "pending"]
    assert OutboxEvent.objects.count() == 1


def test_a_claim_reads_its_attempts_by_id_whatever_the_size_of_the_log(organization, webhook):
    create_lead(organization)
    with CaptureQueriesContext(connection) as captured:
        (claimed,) = delivery.claim()
    read = captured[-1]["sql"]
    assert read.startswith("SELECT") and f'"crmApp_webhookdelivery"."id" IN ({claimed.pk})' in read


@pytest.mark.skipif(connection.vendor != "postgresql", reason="where a row version lies (ctid) is PostgreSQL's")
def test_a_successful_batch_leaves_a_healthy_webhooks_row_alone_and_clears_a_failing_one(organization, webhook):
    def row_version() -> str:  # every UPDATE writes a new version of the row, elsewhere
        with connection.cursor() as cursor:
            cursor.execute('SELECT ctid::text FROM "crmApp_webhook" WHERE id = %s', [webhook.pk])
            return cursor.fetchone()[0]

    before = row_version()
    create_lead(organization)
    assert delivery.deliver_due() == 1 and row_version() == before

    Webhook.objects.filter(pk=webhook.pk).update(failure_count=2, failing_since=timezone.now())
    create_lead(organization)
    assert delivery.deliver_due() == 1
    webhook.refresh_from_db()
    assert (webhook.failure_count, webhook.failing_since) == (0, None)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a table's storage parameters are PostgreSQL's")
def test_the_delivery_log_leaves_room_in_its_pages_for_each_attempts_updates():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [WebhookDelivery._meta.db_table])
        assert cursor.fetchone()[0] == ["fillfactor=70"]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [WebhookDelivery._meta.db_table])
        definitions = [row[0] for row in cursor.fetchall()]
    assert not any(definition.endswith("(webhook_id)") for definition in definitions)  # delivery_webhook_idx leads
