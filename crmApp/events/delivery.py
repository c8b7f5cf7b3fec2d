"""Sending the outbox: claim due attempts, POST them signed, log each outcome and plan the retries.

Any number of deliverers (Celery workers, app processes) may run `deliver_due` at once: an attempt is
claimed with a conditional UPDATE before it is sent, so only one of them sends it, and one that dies
mid-send leaves it to be claimed again once its lease runs out. An attempt waits while an earlier event
of the same record is still pending for the same webhook, so each record's events arrive in order.
"""

import hashlib
import hmac
import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from itertools import chain

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from crmApp.constants import DeliveryStatus
from crmApp.events import transport
from crmApp.models import OutboxEvent, Webhook, WebhookDelivery

BATCH_SIZE = 50
SENDERS = 16
# At most this many of one organization's attempts are in flight at once: an endpoint that never answers
# (or a tenant's many of them) holds half the senders, and the other organizations' go on beside it.
PER_ORGANIZATION = SENDERS // 2
# While attempts are in flight, a claim that found nothing looks again only after this long.
CLAIM_PAUSE_SECONDS = 0.2
# Finished attempts are logged together: this many at once, or once the first has waited this long.
LOG_EVERY = BATCH_SIZE
LOG_WITHIN_SECONDS = 0.25
# Longer than an attempt can take, so a lease only runs out when its deliverer is gone.
LEASE = timedelta(seconds=transport.TIMEOUT_SECONDS + 5)
MAX_BACKOFF = timedelta(hours=6)
# Failing this long disables a webhook, and stops the retries of one event.
GIVE_UP_AFTER = timedelta(days=3)
GONE = 410
GONE_DISABLES = {"is_active": False, "disabled_reason": "The endpoint answered 410 Gone."}
# How long the delivery log (and the events it delivered) is kept.
LOG_KEPT_FOR = timedelta(days=30)
USER_AGENT = f"crm-webhooks/{settings.CRM_VERSION}"


def signature(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex>` with one `v1` per secret: HMAC-SHA256 of `<timestamp>.<body>`."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    parts += [f"v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}" for secret in secrets]
    return ",".join(parts)


def signing_secrets(webhook: Webhook, now) -> list[str]:
    """The current secret, and the previous one for 24 hours after a rotation."""
    secrets = [webhook.secret]
    if webhook.previous_secret and webhook.previous_secret_expires_at and webhook.previous_secret_expires_at > now:
        secrets.append(webhook.previous_secret)
    return secrets


def body_of(attempt: WebhookDelivery) -> bytes:
    event = attempt.event
    payload = {
        "id": str(event.uuid),
        "type": event.type,
        "created_at": event.created_at,
        "organization": event.organization_id,
        "sequence": event.id,
        "data": event.data,
        "changes": event.changes,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def send(attempt: WebhookDelivery) -> transport.Answer:
    """POST one attempt to its webhook, signed now."""
    body = body_of(attempt)
    now = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CRM-Event": attempt.event.type,
        "X-CRM-Delivery": str(attempt.delivery_id),
        "X-CRM-Signature": signature(signing_secrets(attempt.webhook, now), int(now.timestamp()), body),
    }
    return transport.post(attempt.webhook.url, body, headers)


def next_backoff(attempt: WebhookDelivery) -> timedelta:
    """The wait before the retry of a failed attempt: the base first, then up to twice the last wait, jittered.

    Whole seconds, rounded up, as `backoff_seconds` stores them: rounded down, a 1-second base would
    stay at 1 (1.5-2 s) forever instead of growing.
    """
    base = timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS)
    if not attempt.backoff_seconds:
        return base
    doubled = timedelta(seconds=math.ceil(attempt.backoff_seconds * 2 * random.uniform(0.75, 1.0)))
    return min(max(doubled, base), max(MAX_BACKOFF, base))


def rounds_until_sent(held: Counter, claimed: Counter) -> int:
    """How many rounds of sends the last of the `claimed` attempts (per organization) may wait for, behind
    those the deliverer already `held`: PER_ORGANIZATION of an organization's go at a time, SENDERS in all.

    Each round before the last attempt's sends PER_ORGANIZATION of its organization's or SENDERS that are
    ahead of it, and the two kinds add up: an organization's attempts claimed after two others' wait for
    those, and then for each other as well.
    """
    together = held + claimed
    ahead = sum(together.values()) - 1

    def rounds(organization: int) -> int:
        own_rounds = (together[organization] - 1) // PER_ORGANIZATION
        return 1 + own_rounds + (ahead - own_rounds * PER_ORGANIZATION) // SENDERS

    return max(rounds(organization) for organization in claimed)


def lease_for(rounds: int) -> timedelta:
    """How long claimed attempts are held when the last one may start only after `rounds - 1` rounds of sends,
    each within the timeout. Shorter, a live deliverer's attempts would be claimed and sent again by another
    one (a dead deliverer's are taken over once it runs out)."""
    return LEASE + timedelta(seconds=transport.TIMEOUT_SECONDS) * (rounds - 1)


def claim(size: int = BATCH_SIZE, held: Counter | None = None, skip: Iterable[int] = ()) -> list[WebhookDelivery]:
    """Up to `size` due attempts, leased to this deliverer (none that another one holds), none of the
    organizations in `skip`; `held` counts, per organization, the attempts the deliverer holds already."""
    held = held or Counter()
    now = timezone.now()
    unleased = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    earlier_pending = WebhookDelivery.objects.filter(
        webhook=OuterRef("webhook"),
        record_key=OuterRef("record_key"),
        status=DeliveryStatus.PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    due = (
        WebhookDelivery.objects.filter(unleased, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(webhook__is_active=True)
        .filter(Q(record_key="") | ~Exists(earlier_pending))
        .exclude(organization_id__in=list(skip))
        .order_by("next_attempt_at", "event_id")
        .values_list("pk", "organization_id")[:size]
    )
    candidates = dict(due)
    if not candidates:
        return []
    lease = uuid.uuid4()
    rounds = rounds_until_sent(held, Counter(candidates.values()))
    WebhookDelivery.objects.filter(unleased, pk__in=candidates, status=DeliveryStatus.PENDING).update(
        lease=lease, locked_until=now + lease_for(rounds)
    )
    # By id: the log keeps a month of attempts, and no index leads with the lease.
    leased = WebhookDelivery.objects.filter(pk__in=candidates, lease=lease)
    return list(leased.select_related("webhook", "event").order_by("event_id"))


def following(attempt: WebhookDelivery, number: int, **timing) -> WebhookDelivery:
    """Attempt `number` of the same delivery (same webhook, event and delivery id), unsaved."""
    return WebhookDelivery(
        organization_id=attempt.organization_id,
        webhook_id=attempt.webhook_id,
        event_id=attempt.event_id,
        delivery_id=attempt.delivery_id,
        record_key=attempt.record_key,
        attempt=number,
        **timing,
    )


def retry_of(attempt: WebhookDelivery, now) -> WebhookDelivery | None:
    """The next attempt after a failed one, or None once the event has been failing for 3 days."""
    if now - attempt.first_attempt_at >= GIVE_UP_AFTER:
        return None
    wait = next_backoff(attempt)
    return following(
        attempt,
        attempt.attempt + 1,
        next_attempt_at=now + wait,
        backoff_seconds=int(wait.total_seconds()),
        first_attempt_at=attempt.first_attempt_at,
    )


OUTCOME_FIELDS = ["status", "response_status", "duration_ms", "error", "lease", "locked_until", "next_attempt_at"]


def write_outcomes(attempts: list[WebhookDelivery]) -> None:
    """Store a batch's outcomes in one UPDATE; bulk_update builds a CASE per field and row (~1 ms of CPU each)."""
    if connection.vendor != "postgresql":
        WebhookDelivery.objects.bulk_update(attempts, OUTCOME_FIELDS)
        return
    rows = ", ".join(["(%s::bigint, %s, %s::smallint, %s::integer, %s, %s::timestamptz)"] * len(attempts))
    params = [
        value
        for attempt in attempts
        for value in (
            attempt.pk,
            attempt.status,
            attempt.response_status,
            attempt.duration_ms,
            attempt.error,
            attempt.next_attempt_at,
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{WebhookDelivery._meta.db_table}" AS d SET status = v.status, '
            "response_status = v.response_status, duration_ms = v.duration_ms, error = v.error, "
            "next_attempt_at = v.next_attempt_at, lease = NULL, locked_until = NULL "
            f"FROM (VALUES {rows}) AS v (id, status, response_status, duration_ms, error, next_attempt_at) "
            "WHERE d.id = v.id",
            params,
        )


def still_held(
    outcomes: list[tuple[WebhookDelivery, transport.Answer]],
) -> list[tuple[WebhookDelivery, transport.Answer]]:
    """The outcomes of attempts this deliverer still holds, locked until its transaction ends.

    A webhook deleted meanwhile took its attempts with it (a retry would point at nothing), and an attempt
    whose lease ran out belongs to the deliverer that claimed it again, which logs it. The webhooks are
    locked first, as their deletion locks them, so a deletion waits for the outcomes or is seen whole.
    """
    if not outcomes:
        return []
    webhooks = {attempt.webhook_id for attempt, _ in outcomes}
    locked = Webhook.objects.select_for_update(no_key=True).filter(pk__in=webhooks).order_by("pk")
    live = set(locked.values_list("pk", flat=True))
    leases = {attempt.lease for attempt, _ in outcomes}
    held = (
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=[attempt.pk for attempt, _ in outcomes], lease__in=leases, webhook_id__in=live)
        .order_by("pk")
    )
    ids = set(held.values_list("pk", flat=True))
    return [(attempt, answer) for attempt, answer in outcomes if attempt.pk in ids]


@transaction.atomic
def record(outcomes: list[tuple[WebhookDelivery, transport.Answer]]) -> None:
    """Log each attempt's outcome (of those still held), queue the retries, and keep each webhook's failure state."""
    outcomes = still_held(outcomes)
    if not outcomes:
        return
    now = timezone.now()
    retries, succeeded, failed, gone = [], set(), {}, set()
    for attempt, answer in outcomes:
        attempt.status = DeliveryStatus.SUCCEEDED if answer.succeeded else DeliveryStatus.FAILED
        attempt.response_status, attempt.duration_ms, attempt.error = answer.status, answer.duration_ms, answer.error
        attempt.lease, attempt.locked_until, attempt.next_attempt_at = None, None, None
        if answer.succeeded:
            succeeded.add(attempt.webhook_id)
            continue
        failed[attempt.webhook_id] = failed.get(attempt.webhook_id, 0) + 1
        if answer.status == GONE:
            gone.add(attempt.webhook_id)
        retry = retry_of(attempt, now)
        if retry is not None:
            attempt.next_attempt_at = retry.next_attempt_at
            retries.append(retry)
    write_outcomes([attempt for attempt, _ in outcomes])
    WebhookDelivery.objects.bulk_create(retries)
    # Only rows that need it: rewriting every webhook of every batch bloats the table the writes read.
    # `failure_count` is part of what the webhook shows, so a change of it moves the version (and the ETag a
    # client re-reads with If-None-Match), once per webhook and batch: a 410 disables it in that same write.
    failing = Q(failure_count__gt=0) | Q(failing_since__isnull=False)
    Webhook.objects.filter(failing, pk__in=succeeded).update(
        failure_count=0,
        failing_since=None,
        version=F("version") + Case(When(failure_count__gt=0, then=Value(1)), default=Value(0)),
    )
    for webhook_id, count in failed.items():
        if webhook_id in succeeded:
            if webhook_id in gone:  # another attempt succeeded and cleared the count; the 410 still disables it
                Webhook.objects.filter(pk=webhook_id).update(**GONE_DISABLES, version=F("version") + 1)
            continue
        changes = {
            "failure_count": F("failure_count") + count,
            "failing_since": Coalesce(F("failing_since"), Value(now)),
            "version": F("version") + 1,
        }
        Webhook.objects.filter(pk=webhook_id).update(**changes, **(GONE_DISABLES if webhook_id in gone else {}))
    Webhook.objects.filter(pk__in=failed.keys(), is_active=True, failing_since__lte=now - GIVE_UP_AFTER).update(
        is_active=False, disabled_reason="Every delivery failed for 3 days.", version=F("version") + 1
    )


class Run:
    """One deliverer's run, until nothing is due.

    Attempts go out as senders come free, SENDERS at a time and at most PER_ORGANIZATION of one
    organization's, and their outcomes are logged as they finish: an endpoint that never answers holds
    its own attempts for the timeout, not everyone's behind a batch.
    """

    def __init__(self, senders: ThreadPoolExecutor, claims: int | None):
        self.senders, self.claims_left = senders, claims
        self.waiting: list[WebhookDelivery] = []  # claimed, not sent yet
        self.in_flight: dict[Future, WebhookDelivery] = {}
        self.finished: list[tuple[WebhookDelivery, transport.Answer]] = []
        self.first_finished_at = 0.0
        self.look_again_at = 0.0
        self.sent = 0

    def held(self) -> Counter:
        return Counter(attempt.organization_id for attempt in chain(self.waiting, self.in_flight.values()))

    def may_claim(self) -> bool:
        if self.claims_left == 0 or len(self.in_flight) >= SENDERS:
            return False
        return not self.in_flight or time.monotonic() >= self.look_again_at

    def claim_more(self) -> bool:
        """Claim more for the organizations none of whose claimed attempts wait; returns whether any was due.

        An organization's attempts wait when it has PER_ORGANIZATION in flight: a slow endpoint's
        organization gets no more until they are sent, so its attempts can't fill the deliverer.
        """
        if not self.in_flight:
            self.log()  # an attempt's successor for the same record is due once its outcome is logged
        claimed = claim(held=self.held(), skip={attempt.organization_id for attempt in self.waiting})
        if claimed:
            self.waiting += claimed
            self.claims_left = None if self.claims_left is None else self.claims_left - 1
        else:
            self.look_again_at = time.monotonic() + CLAIM_PAUSE_SECONDS
        return bool(claimed)

    def start(self) -> None:
        """Send what may go now, in the order claimed."""
        sending = Counter(attempt.organization_id for attempt in self.in_flight.values())
        still_waiting = []
        for attempt in self.waiting:
            if len(self.in_flight) < SENDERS and sending[attempt.organization_id] < PER_ORGANIZATION:
                self.in_flight[self.senders.submit(send, attempt)] = attempt
                sending[attempt.organization_id] += 1
            else:
                still_waiting.append(attempt)
        self.waiting = still_waiting

    def collect(self) -> None:
        """Wait for an attempt to finish (or for the next look for due ones), and keep the outcomes."""
        done, _ = wait(self.in_flight, timeout=CLAIM_PAUSE_SECONDS, return_when=FIRST_COMPLETED)
        if done and not self.finished:
            self.first_finished_at = time.monotonic()
        self.finished += [(self.in_flight.pop(future), future.result()) for future in done]
        waited = time.monotonic() - self.first_finished_at
        if len(self.finished) >= LOG_EVERY or (self.finished and waited >= LOG_WITHIN_SECONDS):
            self.log()

    def log(self) -> None:
        if self.finished:
            record(self.finished)
            self.sent, self.finished = self.sent + len(self.finished), []

    def run(self) -> int:
        while True:
            if self.may_claim() and not self.claim_more() and not (self.in_flight or self.waiting):
                break  # nothing due, nothing held
            self.start()
            if self.in_flight:
                self.collect()
            elif not self.waiting and self.claims_left == 0:
                break
        self.log()
        return self.sent


def deliver_due(*, max_batches: int | None = None) -> int:
    """Send due attempts until none is left (or `max_batches` claims were made); returns how many were sent."""
    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="crm-webhooks") as senders:
        return Run(senders, max_batches).run()


def redeliver(attempt: WebhookDelivery) -> WebhookDelivery:
    """Send an attempt's event again now: its pending retry moves up, or a new attempt is queued."""
    from crmApp.events.deliverer import wake_after_commit

    pending = WebhookDelivery.objects.filter(delivery_id=attempt.delivery_id, status=DeliveryStatus.PENDING).first()
    now = timezone.now()
    if pending is not None:
        WebhookDelivery.objects.filter(pk=pending.pk).update(next_attempt_at=now)
        pending.next_attempt_at = now
        transaction.on_commit(wake_after_commit, robust=True)
        return pending
    last = WebhookDelivery.objects.filter(delivery_id=attempt.delivery_id).order_by("-attempt").first()
    fresh = following(attempt, last.attempt + 1, next_attempt_at=now, first_attempt_at=now)
    fresh.save()
    transaction.on_commit(wake_after_commit, robust=True)
    return fresh


def purge_log(*, kept_for: timedelta = LOG_KEPT_FOR) -> int:
    """Delete the attempts and events older than `kept_for` that nothing waits for any more."""
    cutoff = timezone.now() - kept_for
    waiting = WebhookDelivery.objects.filter(event=OuterRef("pk"), status=DeliveryStatus.PENDING)
    finished = OutboxEvent.objects.filter(created_at__lt=cutoff).exclude(Exists(waiting))
    deleted, _ = WebhookDelivery.objects.filter(event__in=finished.values("pk")).delete()
    events, _ = finished.delete()
    return deleted + events
