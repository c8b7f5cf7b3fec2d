"""Request guards that run before any view, and the RateLimit-* headers after it."""

from django.conf import settings
from django.http import JsonResponse

from crmApp.exceptions import json_error


class RequestLimitsMiddleware:
    """Refuses, before any view parses anything, what no view could handle.

    - A body declared larger than MAX_REQUEST_BODY_BYTES (or the path's MAX_UPLOAD_BODY_BYTES) is a 413
      and never read (DRF's parsers read the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE alone
      doesn't cover them).
    - A body sent without a Content-Length (`Transfer-Encoding: chunked`) is a 411. Django reads a body only
      as long as its Content-Length says, so it would take such a body for an empty one: a PATCH would
      answer 200 having changed nothing.
    - A query string with a NUL character is a 400: no text column can store or compare one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("HTTP_TRANSFER_ENCODING", "identity").lower() != "identity":
            return json_error(411, "Send the request body with a Content-Length header.", "length_required")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "Invalid Content-Length header.", "bad_request")
        limit = settings.MAX_UPLOAD_BODY_BYTES.get(request.path_info, settings.MAX_REQUEST_BODY_BYTES)
        if length > limit:
            megabytes = limit // (1024 * 1024)
            return json_error(413, f"Request body is too large ({megabytes} MB at most).", "request_too_large")
        with_nul = sorted({name for name, values in request.GET.lists() if any("\x00" in v for v in [name, *values])})
        if with_nul:
            return JsonResponse(
                {
                    "detail": "Invalid input.",
                    "code": "invalid",
                    "errors": {name: ["Must not contain NUL characters."] for name in with_nul},
                },
                status=400,
            )
        return self.get_response(request)


class RateLimitHeadersMiddleware:
    """Every answer of a throttled endpoint says its limit: RateLimit-Limit, -Remaining and -Reset."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "crm_rate_state", None)
        if state is not None:
            response["RateLimit-Limit"] = str(state.limit)
            response["RateLimit-Remaining"] = str(state.remaining)
            response["RateLimit-Reset"] = str(state.reset)
        return response
