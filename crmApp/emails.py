"""Mailed links: password reset, member invitation and email verification."""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core.mail import send_mail
from django.utils.encoding import force_bytes
from django.utils.http import urlencode, urlsafe_base64_encode


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Like the password-reset generator, but a token dies once the email is verified (works once)."""

    key_salt = "crmApp.emails.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.is_email_verified}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()


def encode_uid(user) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def frontend_link(path: str, **params) -> str:
    return f"{settings.FRONTEND_URL}/{path}?{urlencode(params)}"


def password_reset_link(user) -> str:
    return frontend_link("reset-password", uid=encode_uid(user), token=default_token_generator.make_token(user))


def send_password_reset_email(user) -> None:
    """Mail the reset link; works once, because the token hashes the current password."""
    send_mail(
        "Reset your CRM password",
        f"Use this link to choose a new password:\n\n{password_reset_link(user)}\n\n"
        "If you did not ask for it, ignore this mail.",
        None,
        [user.email],
    )


def send_invitation_email(membership, token: str) -> None:
    """Mail the invited address the one-time link that accepts the invitation."""
    send_mail(
        f"You are invited to {membership.organization.name} on the CRM",
        "You have been invited to join "
        f"{membership.organization.name}. Accept the invitation (the link works once, for 7 days):\n\n"
        f"{frontend_link('accept-invitation', token=token)}\n",
        None,
        [membership.user.email],
    )


def send_verification_email(user) -> None:
    """Mail the email-verification link; the token carries the user id, so the link needs nothing else."""
    token = f"{encode_uid(user)}.{email_verification_token.make_token(user)}"
    send_mail(
        "Verify your email address",
        f"Confirm this address for your CRM account:\n\n{frontend_link('verify-email', token=token)}\n",
        None,
        [user.email],
    )
