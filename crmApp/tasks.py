"""Celery tasks; crmApp.jobs runs them on the workers, or in the app process without a broker."""

from celery import shared_task
from django.core.cache import cache

from crmApp import emails, idempotency
from crmApp.events import delivery
from crmApp.events.deliverer import WAKE_KEY
from crmApp.imports import runner
from crmApp.models import Membership, User
from crmApp.services import trash_service


@shared_task
def send_verification_mail(user_id: int) -> None:
    """Mail a new account its email-verification link."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        emails.send_verification_email(user)


@shared_task
def send_password_reset_mail(address: str) -> None:
    """Mail a reset link if `address` belongs to an active account; nothing otherwise."""
    user = User.objects.find_by_email(address)
    if user is not None and user.is_active:
        emails.send_password_reset_email(user)


@shared_task
def send_invitation_mail(membership_id: int, token: str) -> None:
    """Mail an invitation's one-time acceptance link to the invited address."""
    membership = Membership.objects.select_related("user", "organization").filter(pk=membership_id).first()
    if membership is not None:
        emails.send_invitation_email(membership, token)


@shared_task
def deliver_webhooks() -> int:
    """Send every webhook attempt that is due; returns how many were sent."""
    cache.delete(WAKE_KEY)  # commits from now on queue a new wake
    return delivery.deliver_due()


@shared_task
def housekeeping() -> None:
    """Drop what is kept for a while only (old trash, delivery logs, idempotency keys); restart lost imports."""
    trash_service.purge_expired()
    runner.requeue_stale()
    delivery.purge_log()
    idempotency.purge_expired()


@shared_task
def run_import(job_id: int) -> None:
    """Run one queued CSV import."""
    runner.run_import(job_id)
