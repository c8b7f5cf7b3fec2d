"""Webhooks and API keys of one organization (API.md › Integrations).

Neither writes record history: a webhook's secret and a key's hash must never be copied anywhere.
"""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crmApp.constants import ALL_EVENTS, NEVER_API_KEY_CODES, DeliveryStatus, MembershipStatus, RecordScope
from crmApp.events import delivery, outbox, transport
from crmApp.events.deliverer import wake_after_commit
from crmApp.exceptions import Conflict
from crmApp.models import ApiKey, Membership, Webhook, WebhookDelivery
from crmApp.services.base import OrganizationService, snapshot, write_changes
from crmApp.tenancy import Tenant

SECRET_OVERLAP = timedelta(hours=24)
# The resource whose records each kind of event carries.
EVENT_RESOURCES = {"customer": "customers", "lead": "leads", "deal": "deals", "activity": "activities"}
API_KEY_PREFIX = "crm_"
API_KEY_BYTES = 32
# `prefix` is this many characters of the key: enough to tell keys apart, far too few to guess the rest.
SHOWN_PREFIX = 12
# `last_used_at` is written at most this often per key.
LAST_USED_PRECISION = timedelta(seconds=60)
CREATOR_REMOVED = "Its creator is no longer a member of the organization."
CREATOR_NARROWED = "Its creator no longer sees every record its events carry."
CREATOR_DEACTIVATED = "Its creator's account was deactivated."


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_destination(url: str) -> None:
    """Raise a ValidationError on `url` when webhooks may not be sent there."""
    try:
        transport.resolve(url)
    except transport.UnsafeDestination as refused:
        raise ValidationError({"url": str(refused)})


class WebhookService(OrganizationService):
    """Create, change, rotate, ping and redeliver the organization's webhooks."""

    model = Webhook

    @transaction.atomic
    def create(self, *, url: str, events: list[str], description: str = "", is_active: bool = True) -> Webhook:
        """A webhook with a new secret (the only time the secret is shown is in the answer)."""
        check_destination(url)
        self.check_reach(events)
        return Webhook.objects.create(
            organization=self.organization,
            url=url,
            events=events,
            description=description,
            is_active=is_active,
            secret=new_webhook_secret(),
            created_by=self.actor,
        )

    @transaction.atomic
    def update(self, instance: Webhook, **fields) -> Webhook:
        """Change the webhook; enabling it again clears its failures and sends what is still queued, now.

        Changing its events or URL, or enabling it, raises ValidationError when its events carry records the
        member can't see.
        """
        record = self.lock(instance)
        before = snapshot(record)
        moved = "url" in fields and fields["url"] != record.url
        if moved:
            check_destination(fields["url"])
        # Sent back as read (a form's PUT), the events choose nothing.
        rechosen = "events" in fields and set(fields["events"]) != set(record.events)
        for name, value in fields.items():
            setattr(record, name, value)
        enabled = record.is_active and not before["is_active"]
        if rechosen or enabled or moved:
            # Enabling one, or choosing where it sends, is choosing who gets its records from now on (it may
            # have been disabled because its creator left), so it needs the same reach as choosing its events.
            self.check_reach(record.events)
            # From now on it sends for this member: it stops when their reach narrows, as its creator's did.
            # (Staff in the admin are no member: it keeps acting for the member it did.)
            if self.tenant.membership is not None:
                record.created_by = self.actor
        if enabled:
            record.disabled_reason, record.failure_count, record.failing_since = "", 0, None
            WebhookDelivery.objects.filter(webhook=record, status=DeliveryStatus.PENDING).update(
                next_attempt_at=timezone.now(), first_attempt_at=timezone.now()
            )
            transaction.on_commit(wake_after_commit, robust=True)
        elif not record.is_active and before["is_active"]:
            record.disabled_reason = "Disabled by a member."
        write_changes(record, before)  # a webhook is no CRM record: no history, no event
        return record

    def check_reach(self, events: list[str]) -> None:
        """A webhook sends every record its events carry, so its member must see them all; raises ValidationError."""
        kinds = EVENT_RESOURCES if ALL_EVENTS in events else {event.split(".", 1)[0] for event in events}
        needed = {f"{EVENT_RESOURCES[kind]}:view" for kind in kinds}
        missing = sorted(code for code in needed if not self.tenant.has(code))
        if missing:
            raise ValidationError(
                {"events": f"These events carry records you can't see: you don't hold {', '.join(missing)}."}
            )
        if self.tenant.record_scope != RecordScope.ALL:
            raise ValidationError(
                {"events": "A webhook carries every record of its events, and you see only some of them."}
            )

    @transaction.atomic
    def delete(self, instance: Webhook) -> None:
        """Delete the webhook with its delivery log (set-based, however long the log is)."""
        record = self.lock(instance)
        attempts = WebhookDelivery.objects.filter(webhook=record)
        attempts._raw_delete(attempts.db)
        record.delete()

    @transaction.atomic
    def rotate_secret(self, instance: Webhook) -> Webhook:
        """A new secret; the old one keeps signing (as a second `v1`) for 24 hours."""
        record = self.lock(instance)
        before = snapshot(record)
        record.previous_secret, record.secret = record.secret, new_webhook_secret()
        record.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
        write_changes(record, before)
        return record

    def _require_active(self, webhook: Webhook) -> None:
        if not webhook.is_active:
            raise Conflict("This webhook is disabled; enable it (is_active: true) first.", code="webhook_disabled")

    @transaction.atomic
    def ping(self, instance: Webhook) -> WebhookDelivery:
        """Queue a `ping` to the webhook now; 409 when it is disabled."""
        record = self.lock(instance, precondition=False)
        self._require_active(record)
        return outbox.ping(record)

    @transaction.atomic
    def redeliver(self, instance: Webhook, attempt: WebhookDelivery) -> WebhookDelivery:
        """Send the attempt's event again now, as a new attempt; 409 when the webhook is disabled."""
        record = self.lock(instance, precondition=False)
        self._require_active(record)
        return delivery.redeliver(attempt)

    def deliveries(self, webhook: Webhook):
        """The webhook's attempts, newest first."""
        return WebhookDelivery.objects.filter(webhook=webhook).select_related("event").order_by("-created_at", "-id")


class ApiKeyService(OrganizationService):
    """Issue and revoke the organization's API keys."""

    model = ApiKey

    def check_scopes(self, scopes: list[str]) -> None:
        """Scopes are codes the creator holds, and never a managing code; raises ValidationError."""
        never = sorted(set(scopes) & NEVER_API_KEY_CODES)
        if never:
            raise ValidationError({"scopes": f"An API key can never hold {', '.join(never)}."})
        missing = sorted(set(scopes) - self.tenant.codes)
        if missing:
            raise ValidationError(
                {"scopes": f"You can only grant codes you hold; you don't hold {', '.join(missing)}."}
            )

    @transaction.atomic
    def create(self, *, name: str, scopes: list[str], expires_at=None) -> tuple[ApiKey, str]:
        """A new key and its only plain-text copy; raises ValidationError on scopes or a past expiry."""
        self.check_scopes(scopes)
        if expires_at is not None and expires_at <= timezone.now():
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)
        record = ApiKey.objects.create(
            organization=self.organization,
            name=name,
            prefix=key[:SHOWN_PREFIX],
            key_hash=api_key_hash(key),
            scopes=sorted(set(scopes)),
            created_by=self.actor,
            expires_at=expires_at,
        )
        return record, key

    @transaction.atomic
    def revoke(self, instance: ApiKey) -> ApiKey:
        """Revoke the key from now on; revoking it again keeps the first `revoked_at`."""
        record = self.lock(instance, precondition=False)
        if record.revoked_at is None:
            record.revoked_at = timezone.now()
            record.save(update_fields=["revoked_at"])
        return record


def unbacked_reason(webhook: Webhook, membership: Membership | None = None) -> str | None:
    """Why nobody may send this webhook any more (a `disabled_reason`), or None while its member still may.

    It sends for the member who chose what it sends where (`created_by`): gone, deactivated, or no longer
    seeing every record its events carry (see `WebhookService.check_reach`), they may not. `membership` is
    theirs here when the caller has read it already.
    """
    if membership is None and webhook.created_by_id is not None:
        membership = (
            Membership.objects.select_related("organization", "user")
            .filter(organization_id=webhook.organization_id, user_id=webhook.created_by_id)
            .filter(status=MembershipStatus.ACTIVE)
            .first()
        )
    if membership is None:
        return CREATOR_REMOVED
    if not membership.user.is_active:
        return CREATOR_DEACTIVATED
    try:
        WebhookService(Tenant.for_membership(membership)).check_reach(webhook.events)
    except ValidationError:
        return CREATOR_NARROWED
    return None


def disable_webhooks_beyond_reach(*, organization, user_ids: Iterable[int]) -> int:
    """Disable the active webhooks these users created in `organization` that they may no longer send; how many.

    Called after their access changed (see `unbacked_reason`). They chose its URL, and a webhook goes on
    sending every record of its events whoever created it.
    """
    webhooks = list(Webhook.objects.filter(organization=organization, created_by_id__in=user_ids, is_active=True))
    if not webhooks:
        return 0
    members = {
        membership.user_id: membership
        for membership in Membership.objects.select_related("organization", "user").filter(
            organization=organization, user_id__in=user_ids, status=MembershipStatus.ACTIVE
        )
    }
    reasons: dict[str, list[int]] = {}
    for webhook in webhooks:
        membership = members.get(webhook.created_by_id)
        reason = CREATOR_REMOVED if membership is None else unbacked_reason(webhook, membership)
        if reason is not None:
            reasons.setdefault(reason, []).append(webhook.pk)
    return sum(disable_webhooks(Webhook.objects.filter(pk__in=ids), reason) for reason, ids in reasons.items())


def disable_webhooks_of_accounts(user_ids: Iterable[int], *, reason: str = CREATOR_REMOVED) -> int:
    """Disable the active webhooks these accounts created, in every organization; returns how many.

    For accounts deleted (which leave every organization, and the row keeps no creator once they are
    gone) or deactivated (which act nowhere, as their API keys don't): their webhooks would otherwise go
    on sending records to the URLs they chose.
    """
    return disable_webhooks(Webhook.objects.filter(created_by_id__in=list(user_ids), is_active=True), reason)


def disable_webhooks(webhooks, reason: str) -> int:
    """Disable `webhooks` (a queryset) for `reason`, in one UPDATE that moves their versions; returns how many."""
    return webhooks.update(is_active=False, disabled_reason=reason, version=F("version") + 1, updated_at=timezone.now())


def revoke_api_keys_of(user_ids: Iterable[int], *, organization=None) -> int:
    """Revoke the live API keys these accounts created, in `organization` or every one; returns how many.

    For accounts staff deactivate, and members who leave: their keys are refused while that lasts, and
    revoked they stay dead if the account is made active again or the member comes back, as its refresh
    tokens do.
    """
    keys = ApiKey.objects.filter(created_by_id__in=list(user_ids), revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
    return keys.update(revoked_at=timezone.now())


def check_live(record: ApiKey, now) -> None:
    """Raises LookupError saying why the key can no longer act: its creator gone or deactivated, revoked, expired."""
    if record.created_by is None or not record.created_by.is_active:
        raise LookupError("Invalid API key.")
    if record.revoked_at is not None:
        raise LookupError("This API key was revoked.")
    if record.expires_at is not None and record.expires_at <= now:
        raise LookupError("This API key has expired.")


def authenticate_api_key(key: str) -> ApiKey:
    """The live key `key` is, with its organization and creator; raises LookupError with the reason."""
    record = (
        ApiKey.objects.select_related("organization", "created_by")
        .filter(key_hash=api_key_hash(key), organization__is_active=True)
        .first()
    )
    if record is None:
        raise LookupError("Invalid API key.")
    now = timezone.now()
    check_live(record, now)
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now
    return record
