"""Throttles for the open sign-in endpoints: counted per client address, one bucket per endpoint."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class AuthRateThrottle(SimpleRateThrottle):
    """Limits login, register and password reset per client IP at the `auth` rate (THROTTLE_AUTH).

    Each endpoint counts separately, so failed logins don't use up the budget for a password reset.
    The counters live in the default cache, which is Redis when REDIS_URL is set.
    """

    scope = "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {
            "scope": f"{self.scope}:{type(view).__name__}",
            "ident": self.get_ident(request),
        }

    def get_ident(self, request):
        # DRF trusts X-Forwarded-For when NUM_PROXIES is unset, which lets a client pick a fresh
        # address per request; without a configured proxy count only the socket address counts.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or "unknown"
        return super().get_ident(request)
