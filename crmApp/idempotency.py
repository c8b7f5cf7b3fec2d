"""`Idempotency-Key` on POST: a retried request replays the first answer instead of acting twice.

For 24 hours the same key from the same caller in the same organization, with the same method, path
and body, answers exactly what the first request answered, with `Idempotent-Replayed: true`. The key
with another path or body is a 422; while the first request still runs, a second one is a 409.

Such an answer, decided by the key, is given only to a caller who may still make the request: the
view checks it as it checks a fresh one (credential, organization, permission code, rate limit) and
refuses it the same way, and only then gives the decided answer in place of its handler (`AnswersOnlyAfterTheChecks`).

Exactly once: the key is claimed by a committed insert that a unique constraint allows only once,
then the request runs in one transaction together with the write of its answer, so the change and
the remembered answer commit (or roll back) together. Answers of 500 and above are forgotten, and so
are the refusals that changed nothing and ask for a retry (a 429, the 409 of a lost race). A new API
key is remembered without the key itself, which the CRM otherwise keeps only as a hash.
"""

import hashlib
import io
import os
import re
import tempfile
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.settings import api_settings

from crmApp.authentication import ApiKeyAuthentication
from crmApp.exceptions import asks_for_a_retry, json_error
from crmApp.models import ApiKey, IdempotencyKey
from crmApp.tenancy import ORGANIZATION_HEADER, parse_id, resolve_membership

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # 1-255 visible ASCII characters
KEPT_FOR = timedelta(hours=24)
# A claim whose request never finished (the process died) may be taken over after this long.
CLAIM_TIMEOUT = timedelta(minutes=5)
EXEMPT_PREFIX = "/api/auth/"
CHUNK_BYTES = 64 * 1024
BOUNDARY_STANDIN = b"--\x00boundary\x00"


def caller_of(request) -> tuple[str, str] | None:
    """(who sends the request, the organization it acts in); None when nobody is signed in.

    Who: `user:<id>` or `api-key:<id>`. The organization is the one the request resolves to (the key's,
    the header's, else the user's default), not the header as written: a request sent with and without
    the header for the same organization is one request, and a key reused after the default changed
    belongs to another organization's requests.
    """
    drf_request = Request(request)
    for authenticator in (*api_settings.DEFAULT_AUTHENTICATION_CLASSES, ApiKeyAuthentication):
        try:
            result = authenticator().authenticate(drf_request)
        except Exception:  # a bad credential: the view itself will answer 401
            return None
        if result is not None:
            user, auth = result
            if isinstance(auth, ApiKey):
                return f"api-key:{auth.pk}", str(auth.organization_id)
            return f"user:{user.pk}", organization_scope(request, user)
    return None


class DecidedAnswer(Exception):
    """Not an error: the answer the key decided, given once the view's checks passed."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer


class AnswersOnlyAfterTheChecks:
    """A view that gives the answer its `Idempotency-Key` decided once its own checks let the request through.

    Every API view that takes a POST has it (its bases do), just before the DRF view class: DRF's
    `initial` authenticates, resolves the organization and checks the permission code and the rate
    limit, refusing the request as it would a fresh one; past them the decided answer is given, and
    neither the project's own checks of the request (its query, its body) nor the handler run.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        answer = getattr(request._request, "crm_decided_answer", None)
        if answer is not None:
            raise DecidedAnswer(answer)

    def handle_exception(self, exc):
        if isinstance(exc, DecidedAnswer):
            return exc.answer
        return super().handle_exception(exc)


def answers_only_after_the_checks(request) -> bool:
    """Whether the request's route is a view that checks a decided answer's caller first (see above)."""
    try:
        view_class = getattr(resolve(request.path_info).func, "cls", None)
    except Resolver404:
        return False
    return isinstance(view_class, type) and issubclass(view_class, AnswersOnlyAfterTheChecks)


def organization_scope(request, user) -> str:
    """The id of the organization a user's request acts in, as text; a malformed header stays as sent (a 403)."""
    raw = request.META.get(ORGANIZATION_HEADER)
    if raw is not None:
        organization_id = parse_id(raw)
        return str(organization_id) if organization_id is not None else raw[:32]
    membership = resolve_membership(user)
    return str(membership.organization_id) if membership is not None else ""


def purge_expired() -> int:
    """Forget the keys older than the 24 hours they are kept; returns how many went."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEPT_FOR).delete()
    return deleted


def fingerprint_of(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    body = spooled_body(request)
    boundary = request.content_params.get("boundary", "") if request.content_type == "multipart/form-data" else ""
    if boundary:
        # The boundary is drawn at random each time a client encodes the form: a retry of the same
        # form differs by it alone, so the parts are compared without it.
        parts = hashlib.sha256()
        for segment in without_delimiters(body, f"--{boundary}".encode()):
            parts.update(segment)
        digest.update(b"multipart" + parts.digest())
    else:
        body.seek(0, os.SEEK_END)
        digest.update(body.tell().to_bytes(8, "big"))
        body.seek(0)
        while chunk := body.read(CHUNK_BYTES):
            digest.update(chunk)
    body.seek(0)
    return digest.hexdigest()


def without_delimiters(body, delimiter: bytes):
    """The bytes of `body`, read in chunks, with every `delimiter` in it replaced by one fixed separator."""
    pending = b""
    while chunk := body.read(CHUNK_BYTES):
        *segments, pending = (pending + chunk).split(delimiter)
        for segment in segments:
            yield segment
            yield BOUNDARY_STANDIN
        # Keep only the tail that may start a delimiter cut by the chunk's end.
        done = max(0, len(pending) - len(delimiter) + 1)
        yield pending[:done]
        pending = pending[done:]
    yield pending


def spooled_body(request):
    """The request body as a file, which the view then reads in place of the stream it came from.

    `request.body` refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE, but an import's upload may be ten
    times larger (MAX_UPLOAD_BODY_BYTES): that one is read in chunks and spooled to disk instead.
    """
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return io.BytesIO(request.body)
    # Not closed here: the view reads it once this returns (it goes with the request).
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    while chunk := request._stream.read(CHUNK_BYTES):
        body.write(chunk)
    body.seek(0)
    request._stream = body
    return body


def forgotten(response) -> bool:
    """Whether an answer is not remembered: a server error, or a refusal that asks for a retry (a 429, a lost race)."""
    return response.status_code >= 500 or asks_for_a_retry(response)


def replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type or None)
    if record.etag:
        response["ETag"] = record.etag
    response["Idempotent-Replayed"] = "true"
    return response


def kept_body(response) -> bytes:
    """The answer's body as remembered: a secret shown once and stored nowhere else (`secret_fields`) as null."""
    hidden = getattr(response, "secret_fields", ())
    if not hidden or response.status_code >= 300:
        return response.content
    body = orjson.loads(response.content)
    return orjson.dumps({name: None if name in hidden else value for name, value in body.items()})


def remember(record: IdempotencyKey, response) -> None:
    record.status_code = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.etag = response.get("ETag", "")
    record.body = kept_body(response)
    record.save(update_fields=["status_code", "content_type", "etag", "body"])


class IdempotencyMiddleware:
    """Applies `Idempotency-Key` to every POST under /api/ except /api/auth/ (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if request.path.startswith(EXEMPT_PREFIX):
            return self.get_response(request)
        if not KEY_PATTERN.fullmatch(key):
            return json_error(400, f"{HEADER} must be 1 to 255 visible ASCII characters.", "invalid_idempotency_key")
        caller = caller_of(request)
        if caller is None:  # anonymous: nothing to scope the key to, so it is not applied
            return self.get_response(request)
        principal, scope = caller
        fingerprint = fingerprint_of(request)
        record, earlier = self.claim(principal=principal, scope=scope, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return self.after_the_checks(request, earlier)
        return self.run_once(request, record)

    def after_the_checks(self, request, answer):
        """`answer` (a replay, a 422, a 409) if the view's checks let the caller make the request; else its refusal.

        The caller may have lost the right since the first request (removed from the organization, a
        role narrowed): the view runs as for a fresh request up to its handler, and gives `answer` in its
        place, so nothing runs twice. An unrouted URL has no view and nothing to check.
        """
        if not answers_only_after_the_checks(request):
            return answer
        request.crm_decided_answer = answer
        return self.get_response(request)

    def claim(self, *, principal: str, scope: str, key: str, fingerprint: str):
        """(record, None) when this request may run; (None, answer) when an earlier one decides."""
        now = timezone.now()
        lookup = {"principal": principal, "scope": scope, "key": key}
        IdempotencyKey.objects.filter(**lookup, created_at__lt=now - KEPT_FOR).delete()
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(**lookup, fingerprint=fingerprint, created_at=now), None
        except IntegrityError:
            pass
        earlier = IdempotencyKey.objects.filter(**lookup).first()
        if earlier is None:  # finished and forgotten (a 5xx) in between: try once more
            return self.claim(principal=principal, scope=scope, key=key, fingerprint=fingerprint)
        if earlier.fingerprint != fingerprint:
            return None, json_error(
                422, f"This {HEADER} was used for another request (path or body).", "idempotency_key_reused"
            )
        if earlier.status_code is not None:
            return None, replay(earlier)
        taken_over = IdempotencyKey.objects.filter(
            pk=earlier.pk, status_code__isnull=True, created_at__lt=now - CLAIM_TIMEOUT
        ).update(created_at=now)
        if taken_over:  # the first request died without an answer
            earlier.created_at = now
            return earlier, None
        return None, json_error(
            409, f"A request with this {HEADER} is still being processed.", "idempotency_key_in_use"
        )

    def run_once(self, request, record: IdempotencyKey):
        """Run the request and remember its answer in the same transaction as its changes."""
        remembered = False
        try:
            with transaction.atomic():
                response = self.get_response(request)
                if forgotten(response):
                    transaction.set_rollback(True)
                elif not transaction.get_rollback():
                    remember(record, response)
                    remembered = True
        except IntegrityError:
            # A deferred constraint (a foreign key) checked at this commit, which the view's own block
            # would have met and answered: a race past validation, as the exception handler answers it.
            response = json_error(409, "The request conflicts with existing data.", "conflict", retry=True)
            remembered = False
        if forgotten(response):
            IdempotencyKey.objects.filter(pk=record.pk).delete()
        elif not remembered:  # a refused request rolled back its transaction; its answer still stands
            remember(record, response)
        return response
