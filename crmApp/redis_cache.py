"""Django's Redis cache with one client per connection pool instead of one per operation, failing fast.

Django builds a new `redis.Redis` for every cache call; building one fills its table of response
callbacks (about 170 entries), which cost more than the round trip itself on a warm request. A client is
thread-safe and holds no connection of its own, so one per pool serves every call.
"""

import time
from contextlib import contextmanager

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.client import Pipeline

# Once a call times out, Redis is taken for stalled this long: calls fail at once instead of each
# waiting out its own timeout, so a stalled Redis costs the process one slow request, not every one.
STALL_PAUSE_SECONDS = 5
_stalled_until = 0.0


@contextmanager
def failing_fast():
    """Refuse a call while Redis counts as stalled; start counting it as stalled when a call times out."""
    global _stalled_until
    if time.monotonic() < _stalled_until:
        raise redis.exceptions.ConnectionError("Redis timed out moments ago; not waiting on it again yet.")
    try:
        yield
    except redis.exceptions.TimeoutError:
        _stalled_until = time.monotonic() + STALL_PAUSE_SECONDS
        raise


class FailFastPipeline(Pipeline):
    def execute(self, raise_on_error=True):
        with failing_fast():
            return super().execute(raise_on_error)


class FailFastRedis(redis.Redis):
    """A Redis client whose commands and pipelines fail at once for a while after one timed out."""

    def execute_command(self, *args, **options):
        with failing_fast():
            return super().execute_command(*args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        return FailFastPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """The clients Django's cache uses, built once per connection pool."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = FailFastRedis
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        if index not in self._clients:
            self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return self._clients[index]


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, with clients reused across calls."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def get_many_along(self, keys, queue) -> tuple[dict, list]:
        """`get_many(keys)` and the commands `queue(pipeline)` adds, in one round trip: (found, their answers).

        The added commands name their keys as they are in Redis (no cache prefix) and get raw answers, an
        error among them as its exception: it fails only them, not the read.
        """
        names = {self.make_and_validate_key(key): key for key in keys}
        pipeline = self._cache.get_client(write=True).pipeline(transaction=False)
        pipeline.mget(list(names))
        queue(pipeline)
        values, *answers = pipeline.execute(raise_on_error=False)
        if isinstance(values, Exception):
            raise values
        loads = self._cache._serializer.loads
        return {
            names[name]: loads(value) for name, value in zip(names, values, strict=True) if value is not None
        }, answers
