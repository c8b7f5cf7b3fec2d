"""Refuses oversized request bodies before any view parses them."""

from django.conf import settings
from django.http import JsonResponse


class RequestSizeLimitMiddleware:
    """A body declared larger than MAX_REQUEST_BODY_BYTES is a 413 and never read.

    DRF's parsers read the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE alone doesn't cover them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header.", "code": "bad_request"}, status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(
                {"detail": "Request body is too large (5 MB at most).", "code": "request_too_large"}, status=413
            )
        return self.get_response(request)
