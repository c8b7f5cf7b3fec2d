"""GET /api/health/: is the service up, and can it reach its database and its cache."""

from django.core.cache import cache
from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from crmApp.exceptions import REDIS_UNAVAILABLE, UNAVAILABLE_RETRY_AFTER_SECONDS
from crmApp.query import StrictAPIView

# A key nobody writes: reading it is one round trip to the cache, and changes nothing.
PROBE_KEY = "health:probe"


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def cache_answers() -> bool:
    """The shared cache (Redis) answers; the in-process cache of a deployment without one always does."""
    try:
        cache.get(PROBE_KEY)
    except REDIS_UNAVAILABLE:
        return False
    return True


class HealthView(StrictAPIView):
    """200 when the database and the cache answer; 503 naming the one that doesn't (every other request fails too)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField(), "database": serializers.CharField()}),
            503: inline_serializer(
                "HealthUnavailable",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "cache": serializers.CharField(),
                    "detail": serializers.CharField(),
                    "code": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request):
        database, cache_ok = database_answers(), cache_answers()
        if database and cache_ok:
            return Response({"status": "ok", "database": "ok"})
        failing = "database" if not database else "cache"
        return Response(
            {
                "status": "unavailable",
                "database": "ok" if database else "unreachable",
                "cache": "ok" if cache_ok else "unreachable",
                "detail": f"The {failing} is unreachable.",
                "code": f"{failing}_unavailable",
            },
            status=503,
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
