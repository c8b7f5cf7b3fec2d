"""Accounts and sessions: sign-up, sign-in, token rotation and revocation, passwords, email verification."""

from dataclasses import dataclass

from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, get_md5_hash_password

from crmApp import emails, jobs, tasks
from crmApp.exceptions import InvalidCredentials, InvalidRefreshToken, PasswordChanged, TenantError
from crmApp.identity import normalize_email
from crmApp.models import Membership, Organization, User
from crmApp.services.organization_service import create_organization
from crmApp.tenancy import Tenant, active_memberships, parse_id, resolve_membership

INVALID_RESET_LINK = "This password reset link is invalid or has already been used."
INVALID_VERIFICATION_LINK = "This verification link is invalid or has already been used."


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token it was minted with."""

    access: str
    refresh: str


@dataclass(frozen=True)
class Profile:
    """A user with their active memberships, the active one, and their codes in it."""

    user: User
    memberships: list[Membership]
    active: Membership | None
    permissions: list[str]

    @property
    def active_organization_id(self) -> int | None:
        return self.active.organization_id if self.active else None


@dataclass(frozen=True)
class Registration:
    """What sign-up created: the user, their organization and their first tokens."""

    user: User
    organization: Organization
    tokens: TokenPair


# --- tokens ---------------------------------------------------------------------------------------
def issue_tokens(user: User) -> TokenPair:
    """A new token pair; the refresh token is recorded as outstanding so it can be revoked later."""
    refresh = RefreshToken.for_user(user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def _parse_refresh(raw: str) -> RefreshToken:
    """The verified refresh token (signature, expiry, type, not blacklisted); raises InvalidRefreshToken."""
    try:
        return RefreshToken(raw)
    except TokenError as error:
        raise InvalidRefreshToken() from error


def _claim(refresh: RefreshToken) -> None:
    """Blacklist the token so that exactly one caller ever gets to use it; raises InvalidRefreshToken.

    Checking the blacklist and then inserting lets two simultaneous requests both pass; the
    one-to-one constraint of BlacklistedToken makes the insert itself the check.
    """
    payload = refresh.payload
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=payload[jwt_settings.JTI_CLAIM],
        defaults={
            "user_id": payload.get(jwt_settings.USER_ID_CLAIM),
            "token": str(refresh),
            "created_at": refresh.current_time,
            "expires_at": datetime_from_epoch(payload["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as error:
        raise InvalidRefreshToken() from error


def _token_user(refresh: RefreshToken) -> User:
    """The active user a refresh token belongs to, issued since their last new password; raises InvalidRefreshToken.

    The password check covers every way a password changes (the API revokes the user's refresh tokens
    too, but staff set passwords in the admin, and scripts through `set_password`).
    """
    user_id = parse_id(refresh.payload.get(jwt_settings.USER_ID_CLAIM))
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None or refresh.payload.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise InvalidRefreshToken()
    return user


def rotate_refresh_token(raw: str) -> TokenPair:
    """Trade a refresh token for a new pair; the old token is used up; raises InvalidRefreshToken."""
    refresh = _parse_refresh(raw)
    user = _token_user(refresh)
    with transaction.atomic():
        _claim(refresh)
        return issue_tokens(user)


def revoke_refresh_token(raw: str, *, user: User) -> None:
    """Log out: the caller's refresh token can never be used again; raises InvalidRefreshToken."""
    refresh = _parse_refresh(raw)
    if parse_id(refresh.payload.get(jwt_settings.USER_ID_CLAIM)) != user.pk:
        raise InvalidRefreshToken()
    with transaction.atomic():
        _claim(refresh)


def revoke_all_refresh_tokens(user: User) -> int:
    """Blacklist every unexpired refresh token issued to the user, in one insert; returns how many."""
    pending = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("id", flat=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in pending], ignore_conflicts=True
    )
    return len(created)


# --- sign-up and sign-in --------------------------------------------------------------------------
def _check_new_password(password: str, user: User, *, field: str) -> None:
    """Run Django's password validators against the user; raises ValidationError on `field`."""
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise ValidationError({field: error.messages}) from error


def _find_user(*, email: str | None, username: str | None) -> User | None:
    """The account an email, or a username (one with an `@` is an email), names however it is written."""
    identifier = (email or username or "").strip()
    if email or "@" in identifier:
        return User.objects.find_by_email(identifier)
    return User.objects.find_by_username(identifier)


def register(
    *, email: str, password: str, first_name: str, last_name: str, organization_name: str, username: str | None = None
) -> Registration:
    """Create a user who owns a new, provisioned organization, and mail the verification link.

    Raises ValidationError on `password` (weak) or on `email`/`username` (taken).
    """
    user = User(email=normalize_email(email), username=username or None, first_name=first_name, last_name=last_name)
    _check_new_password(password, user, field="password")
    user.set_password(password)
    with transaction.atomic():
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as error:
            # A concurrent sign-up took the address or the username after the serializer looked.
            field = "email" if User.objects.email_taken(user.email) else "username"
            raise ValidationError({field: [f"A user with this {field} already exists."]}) from error
        organization = create_organization(name=organization_name, owner=user)
        tokens = issue_tokens(user)
        jobs.enqueue(tasks.send_verification_mail, user.pk)
    return Registration(user=user, organization=organization, tokens=tokens)


def authenticate(*, password: str, email: str | None = None, username: str | None = None) -> User:
    """The active user with these credentials; raises InvalidCredentials, the same for every failure."""
    user = _find_user(email=email, username=username)
    if user is None:
        # Hash anyway, so an unknown account takes as long to refuse as a wrong password.
        User().set_password(password)
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    return user


def login(*, password: str, email: str | None = None, username: str | None = None) -> tuple[User, TokenPair]:
    """Check the credentials and open a session; raises InvalidCredentials."""
    user = authenticate(password=password, email=email, username=username)
    tokens = issue_tokens(user)
    if jwt_settings.UPDATE_LAST_LOGIN:
        update_last_login(None, user)
    return user, tokens


# --- passwords ------------------------------------------------------------------------------------
@transaction.atomic
def change_password(user: User, *, old_password: str, new_password: str) -> TokenPair:
    """Set a new password, revoke every older refresh token and return a new pair for this session.

    Raises ValidationError on `old_password` (wrong) or `new_password` (weak).
    """
    # Of two changes sent at once, the second waits here and finds the password its access token was
    # issued under gone, as its next request would; going through as well would kill the first's tokens.
    # The weaker lock: the account's other requests insert rows that point at it (a refreshed token, a
    # new record), and their foreign-key checks must not wait for the hashing below.
    stored = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if stored.password != user.password:
        raise PasswordChanged()
    user = stored
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["The current password is not correct."]})
    _check_new_password(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoke_all_refresh_tokens(user)
    return issue_tokens(user)


def request_password_reset(*, email: str) -> None:
    """Mail a reset link if the address belongs to an active user; says nothing either way.

    The look-up happens in the background job, so the answer takes the same time for every address.
    """
    jobs.enqueue(tasks.send_password_reset_mail, email)


def _user_from_uid(uid: str, *, lock: bool = False) -> User | None:
    """The active user a link's base64 uid names, or None for anything that doesn't decode to one."""
    try:
        user_id = parse_id(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    if user_id is None:
        return None
    users = User.objects.select_for_update() if lock else User.objects
    return users.filter(pk=user_id, is_active=True).first()


@transaction.atomic
def confirm_password_reset(*, uid: str, token: str, new_password: str) -> User:
    """Set the password a mailed link allows (an invited user's first one too); the link works once.

    The new password changes the hash the token is made from, which is what spends the token; the
    row lock makes two simultaneous uses of one link wait for each other. Every refresh token
    issued before is revoked. Raises ValidationError on `token` (bad link) or `new_password` (weak).
    """
    user = _user_from_uid(uid, lock=True)
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": [INVALID_RESET_LINK]})
    _check_new_password(new_password, user, field="new_password")
    user.set_password(new_password)
    # The link arrived in the mailbox, which proves the address as well as a verification link does.
    user.is_email_verified = True
    user.save(update_fields=["password", "is_email_verified"])
    revoke_all_refresh_tokens(user)
    return user


@transaction.atomic
def verify_email(*, token: str) -> User:
    """Mark the email of the user a verification token names as verified; raises ValidationError on `token`."""
    uid, _, secret = token.partition(".")
    user = _user_from_uid(uid, lock=True)
    if user is None or not secret or not emails.email_verification_token.check_token(user, secret):
        raise ValidationError({"token": [INVALID_VERIFICATION_LINK]})
    user.is_email_verified = True
    user.save(update_fields=["is_email_verified"])
    return user


# --- the signed-in user ---------------------------------------------------------------------------
def build_profile(user: User, *, organization_id: int | None = None) -> Profile:
    """The user's organizations and codes in the active one (`organization_id` or the default).

    A fixed number of queries whatever the number of organizations or roles. Raises TenantError
    when `organization_id` names an organization the user is not an active member of.
    """
    active = resolve_membership(user, organization_id)
    if active is None and organization_id is not None:
        raise TenantError()
    memberships = list(active_memberships(user).order_by("organization__name", "organization_id"))
    if active is not None:
        active.user = user  # already loaded: the tenant needs no query for it
    permissions = sorted(Tenant.for_membership(active).codes) if active else []
    return Profile(user=user, memberships=memberships, active=active, permissions=permissions)


@transaction.atomic
def update_profile(user: User, *, organization_id: int | None = None, **fields) -> Profile:
    """Change the user's own names or username and return their profile in `organization_id`.

    Raises ValidationError on `username` when it is taken, and TenantError (nothing saved) when
    `organization_id` names an organization the user is not an active member of.
    """
    for name, value in fields.items():
        setattr(user, name, value)
    if fields:
        try:
            with transaction.atomic():
                user.save(update_fields=list(fields))
        except IntegrityError as error:
            raise ValidationError({"username": ["A user with this username already exists."]}) from error
    # Built inside the transaction: a refused organization rolls the change back.
    return build_profile(user, organization_id=organization_id)
