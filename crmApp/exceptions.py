"""Domain errors and the one handler that renders every API error as {detail, code, errors?}."""

import logging
import math

import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from crmApp.redis_cache import STALL_PAUSE_SECONDS

logger = logging.getLogger(__name__)
# Redis failing for a while (down, stalled, a read-only replica after a failover, out of memory): a 503.
REDIS_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
)
# How long a 503 (the cache unreachable) tells clients to wait: as long as a process refuses to wait on
# a Redis that has just timed out.
UNAVAILABLE_RETRY_AFTER_SECONDS = STALL_PAUSE_SECONDS
# Set on an answer that refused a request which changed nothing and may be retried as it is.
RETRY_MARK = "crm_asks_for_a_retry"


class DomainError(exceptions.APIException):
    """Base of the errors services raise; each subclass fixes a status and a machine code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request breaks a business rule."


class InvalidTransition(DomainError):
    default_code = "invalid_transition"
    default_detail = "This status change is not allowed."


class BusinessRuleViolation(DomainError):
    default_code = "business_rule"


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class Protected(Conflict):
    default_code = "protected"
    default_detail = "This record is still referenced and cannot be deleted."


class RecordGone(DomainError):
    """The record was deleted (or left the caller's reach) between reading it and locking it."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "Not found."


class PreconditionFailed(DomainError):
    """`If-Match` named a version the record no longer has; nothing was changed."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The record has changed since you read it (If-Match does not match its ETag); nothing was changed."


class MemberNotFound(DomainError):
    """The user is not an active member of the organization."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "Not found."


class MemberChangeForbidden(DomainError):
    """The actor's own role does not allow this change to the membership."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class InvalidCredentials(exceptions.AuthenticationFailed):
    """Wrong password, unknown account or inactive account: one answer for all, so none can be told apart."""

    default_code = "invalid_credentials"
    default_detail = "No active account found with the given credentials."


class PasswordChanged(exceptions.AuthenticationFailed):
    """The credential was issued before the account's current password."""

    default_code = "password_changed"
    default_detail = "The user's password has been changed."


class InvalidRefreshToken(exceptions.AuthenticationFailed):
    """A refresh token that is malformed, expired, revoked, already used or not the caller's."""

    default_code = "token_not_valid"
    default_detail = "The refresh token is invalid, expired or already used."


class TenantError(exceptions.PermissionDenied):
    default_code = "organization_forbidden"
    default_detail = "You are not an active member of this organization."


# PostgreSQL's answers to transactions that collided: deadlock_detected and serialization_failure.
RACE_SQLSTATES = frozenset({"40P01", "40001"})


def lost_a_race(exc: OperationalError) -> bool:
    """Whether the database rolled this transaction back because a concurrent one held what it needed."""
    return getattr(exc.__cause__, "sqlstate", None) in RACE_SQLSTATES


def _translate(exc):
    """Turn Django's own exceptions into their DRF equivalents."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, (ProtectedError, RestrictedError)):
        return Protected()
    if isinstance(exc, IntegrityError):  # a constraint the validators could not see (e.g. a race)
        return Conflict("The request conflicts with existing data.")
    if isinstance(exc, OperationalError) and lost_a_race(exc):
        return Conflict("A concurrent request changed the same records; nothing was changed. Try again.")
    if isinstance(exc, REDIS_UNAVAILABLE):
        # An outage to retry, not a bug: the versions and the access cache live in Redis (logged below).
        error = exceptions.APIException("The cache is unreachable; try again shortly.", code="cache_unavailable")
        error.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return error
    if isinstance(exc, RequestDataTooBig):
        error = exceptions.APIException("Request body is too large (5 MB at most).", code="request_too_large")
        error.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        return error
    return exc


def flatten_errors(detail, path: str = "") -> dict[str, list[str]]:
    """`{field: [messages]}` at every depth: nested fields and list items become `stages.1.name`."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        return {path or "non_field_errors": [str(item) for item in detail]} if detail else {}
    if isinstance(detail, list):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{path}.{index}" if path else str(index)))
        return flat
    return {path or "non_field_errors": [str(detail)]}


def may_be_retried(exc) -> bool:
    """Whether `exc` refused a request that changed nothing and may be sent again as is: throttled, or a lost race."""
    return isinstance(exc, (exceptions.Throttled, IntegrityError)) or (
        isinstance(exc, OperationalError) and lost_a_race(exc)
    )


def asks_for_a_retry(response) -> bool:
    """Whether an answer is such a refusal (see `may_be_retried`), which a retry must not meet again."""
    return getattr(response, RETRY_MARK, False)


def retry_after(wait: float | None) -> int:
    """The whole seconds a throttled client is told to wait: at least one."""
    return max(1, math.ceil(wait or 0))


def throttled_error(wait: float | None) -> JsonResponse:
    """The 429 of a throttled request as the handler below renders it, for an answer given outside DRF."""
    throttled, seconds = exceptions.Throttled(wait), retry_after(wait)
    response = JsonResponse({"detail": str(throttled.detail), "code": "throttled", "retry_after": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def exception_handler(exc, context):
    """Render every error as JSON; unexpected ones become a logged 500 without a traceback."""
    if isinstance(exc, redis.exceptions.RedisError):
        logger.error("Redis failed in %s: %s", context.get("view").__class__.__name__, exc)
    retry = may_be_retried(exc)
    exc = _translate(exc)
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        set_rollback()
        return Response({"detail": "Internal server error.", "code": "server_error"}, status=500)

    headers = {}
    extra = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    if isinstance(exc, exceptions.Throttled):
        seconds = retry_after(exc.wait)
        headers["Retry-After"] = str(seconds)
        extra["retry_after"] = seconds

    if isinstance(exc, exceptions.ValidationError):
        body = {"detail": "Invalid input.", "code": "invalid", "errors": flatten_errors(exc.detail)}
    else:
        detail = exc.detail
        if isinstance(detail, dict):  # e.g. simplejwt's {"detail", "code", "messages"}
            body = {
                "detail": str(detail.get("detail", exc.default_detail)),
                "code": str(detail.get("code", exc.default_code)),
            }
        else:
            body = {"detail": str(detail), "code": getattr(detail, "code", None) or exc.default_code}
    set_rollback()
    body.update(extra)
    response = Response(body, status=exc.status_code, headers=headers)
    setattr(response, RETRY_MARK, retry)
    return response


def json_error(status_code: int, detail: str, code: str, *, retry: bool = False) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status_code)
    setattr(response, RETRY_MARK, retry)
    return response


@csrf_exempt  # the catch-all answers every method, so a POST must not meet Django's HTML CSRF page
def not_found(request, exception=None):
    """Django's handler404 and the catch-all for unknown /api/ URLs."""
    return json_error(404, "Not found.", "not_found")


def csrf_failure(request, reason=""):
    """A refused CSRF check (a browser session without its token) answers JSON like every other error."""
    return json_error(403, "CSRF check failed: send the X-CSRFToken header with a session.", "csrf_failed")


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """Django's handler404: JSON under /api/, Django's plain page elsewhere (a missing static file, say)."""
    if _is_api(request):
        return not_found(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if not _is_api(request):
        return defaults.server_error(request)
    return json_error(500, "Internal server error.", "server_error")


def permission_denied(request, exception=None):
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return json_error(403, "You do not have permission to perform this action.", "permission_denied")


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    return json_error(400, "Bad request.", "bad_request")
