"""Placeholder until analytics lands."""
from rest_framework import viewsets


class AnalyticsViewSet(viewsets.ViewSet):
    pass
