"""Rate limits with a constant cost per request, and the RateLimit-* headers every throttled answer carries.

Each limit is a sliding window approximated from two fixed windows: the count of the current window
plus the previous window's count weighted by how much of it still overlaps the last `window` seconds.
That avoids the burst of twice the limit a fixed window allows at its edge, and costs one round trip
to Redis (INCR + EXPIRE + GET in a pipeline on one reused client) whatever the traffic; DRF's
throttle instead reads and rewrites the list of every timestamp in the window.

With Redis, a signed-in caller's request is counted in the very round trip that reads their access
(crmApp.access), so it costs no round trip of its own; it therefore counts even when permissions then
refuse it. Without Redis the throttle counts it itself, after permissions (a refusal runs the throttles first).

The client address is REMOTE_ADDR, or X-Forwarded-For only through NUM_PROXIES trusted proxies.
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from crmApp.models import ApiKey

logger = logging.getLogger(__name__)
DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateState:
    """What the RateLimit-* headers say after one request."""

    limit: int
    remaining: int
    reset: int  # seconds until the window frees a request


def parse_rate(rate: str) -> tuple[int, int]:
    """`10/minute` → (10, 60)."""
    count, period = rate.split("/")
    return int(count), DURATIONS[period.strip()[0]]


@cache
def redis_client():
    """The shared cache's own client: one connection pool per process, with the cache's timeouts."""
    return django_cache._cache.get_client(write=True)


class Hit:
    """One request counted under `key` at `now`: its window's keys, and the counts once they are read."""

    def __init__(self, key: str, window: int, now: float):
        index = int(now // window)
        self.key, self.window, self.elapsed = key, window, (now - index * window) / window
        self.current, self.previous = f"crm:rate:{key}:{index}", f"crm:rate:{key}:{index - 1}"
        self.counts: tuple[int, int] | None = None  # (this window's count, the previous window's)

    def queue(self, pipeline) -> None:
        """The Redis commands that count it, on `pipeline` (whose answers go to `receive`)."""
        pipeline.incr(self.current)
        pipeline.expire(self.current, 2 * self.window)
        pipeline.get(self.previous)

    def receive(self, answers: list) -> None:
        """The pipeline's answers; an error among them leaves it uncounted (the throttle then counts it)."""
        if not any(isinstance(answer, Exception) for answer in answers):
            count, _, before = answers
            self.counts = int(count), int(before or 0)


def _hit_redis(counted: Hit) -> tuple[int, int]:
    pipeline = redis_client().pipeline(transaction=False)
    counted.queue(pipeline)
    counted.receive(pipeline.execute())
    return counted.counts


def _hit_cache(counted: Hit) -> tuple[int, int]:
    current, window = counted.current, counted.window
    django_cache.add(current, 0, timeout=2 * window)
    try:
        count = django_cache.incr(current)
    except ValueError:  # expired between add and incr
        django_cache.set(current, 1, timeout=2 * window)
        count = 1
    return count, django_cache.get(counted.previous) or 0


def hit(key: str, window: int, now: float) -> tuple[int, int, float]:
    """Count one request under `key`; returns (this window's count, the previous window's, elapsed share)."""
    counted = Hit(key, window, now)
    count, before = (_hit_redis if settings.REDIS_URL else _hit_cache)(counted)
    return count, before, counted.elapsed


def seconds_until_free(count: int, before: int, elapsed: float, limit: int, window: int) -> float:
    """How long until the weighted count leaves room for one more request (0 when there is room now)."""
    if before * (1 - elapsed) + count + 1 <= limit:
        return 0.0
    if count + 1 <= limit:  # the previous window's weight must shrink enough within this window
        return window * (1 - (limit - count - 1) / before) - elapsed * window
    # Only in the next window, as this window's count fades in turn.
    next_share = 1 - (limit - 1) / count if count else 0.0
    return (1 - elapsed) * window + max(next_share, 0.0) * window


class WindowRateThrottle(BaseThrottle):
    """A limit of `rate` requests per window for each `get_key()`; None keys are not limited."""

    scope = ""

    def __init__(self):
        self.limit, self.window = parse_rate(self.get_rate())
        self.wait_seconds = 0.0

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_key(self, request, view) -> str | None:
        raise NotImplementedError("Each throttle names what it counts.")

    def allow_request(self, request, view):
        key = self.get_key(request, view)
        if key is None:
            return True
        ahead = getattr(request, "crm_hit_ahead", None)  # counted with the caller's access (see above)
        try:
            if ahead is not None and ahead.key == f"{self.scope}:{key}" and ahead.counts is not None:
                (count, before), elapsed = ahead.counts, ahead.elapsed
            else:
                count, before, elapsed = hit(f"{self.scope}:{key}", self.window, time.time())
        except Exception:  # the counter store is down: serve rather than fail every request
            logger.exception("Rate limit counters are unavailable; %s is not limited", self.scope)
            return True
        weighted = before * (1 - elapsed) + count
        free_in = seconds_until_free(count, before, elapsed, self.limit, self.window)
        remaining = max(0, math.floor(self.limit - weighted))
        # With room left, the window frees its next request when it ends; without, when free_in has passed.
        reset = math.ceil((1 - elapsed) * self.window) if remaining else math.ceil(free_in)
        remember(request, RateState(limit=self.limit, remaining=remaining, reset=reset))
        self.wait_seconds = free_in
        return weighted <= self.limit

    def wait(self):
        return self.wait_seconds


def remember(request, state: RateState) -> None:
    """Keep the tightest state of the request's throttles for the RateLimit-* headers."""
    django_request = getattr(request, "_request", request)
    known = getattr(django_request, "crm_rate_state", None)
    if known is None or state.remaining < known.remaining:
        django_request.crm_rate_state = state


class AuthRateThrottle(WindowRateThrottle):
    """The endpoints open to anonymous callers, per client address and per endpoint, at THROTTLE_AUTH.

    Each endpoint counts separately, so failed logins don't use up the budget for a password reset.
    """

    scope = "auth"

    def get_key(self, request, view):
        return f"{type(view).__name__}:{self.get_ident(request)}"


class UserRateThrottle(WindowRateThrottle):
    """Every other endpoint: per signed-in user at THROTTLE_USER (per client address before sign-in)."""

    scope = "user"

    def get_key(self, request, view):
        if isinstance(request.auth, ApiKey):  # a key has a budget of its own (ApiKeyRateThrottle)
            return None
        user = request.user
        if user and user.is_authenticated:
            return self.user_key(user.pk)
        return f"address:{self.get_ident(request)}"

    @staticmethod
    def user_key(user_id) -> str:
        return f"user:{user_id}"

    @classmethod
    def hit_ahead(cls, request, user_id) -> Hit | None:
        """This request's hit of the user's budget, to send with the read of their access.

        None where the view doesn't count it this way, or the counters are not in Redis.
        """
        view = (request.parser_context or {}).get("view")
        if not settings.REDIS_URL or view is None or not any(issubclass(t, cls) for t in view.throttle_classes):
            return None
        return Hit(f"{cls.scope}:{cls.user_key(user_id)}", cls().window, time.time())


class ApiKeyRateThrottle(WindowRateThrottle):
    """Requests made with an API key: per key at THROTTLE_API_KEY, apart from its creator's own budget."""

    scope = "api_key"

    def get_key(self, request, view):
        return f"key:{request.auth.pk}" if isinstance(request.auth, ApiKey) else None
