"""GET /api/health/: is the service up and can it reach its database."""

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from crmApp.query import StrictAPIView


class HealthView(StrictAPIView):
    """200 when the database answers, 503 when it doesn't."""

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
                    "detail": serializers.CharField(),
                    "code": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError:
            return Response(
                {
                    "status": "unavailable",
                    "database": "unreachable",
                    "detail": "The database is unreachable.",
                    "code": "database_unavailable",
                },
                status=503,
            )
        return Response({"status": "ok", "database": "ok"})
