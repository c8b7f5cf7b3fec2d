"""Django's Redis cache with one client per connection pool instead of one per operation.

Django builds a new `redis.Redis` for every cache call; building one fills its table of response
callbacks (about 170 entries), which cost more than the round trip itself on a warm request. A client is
thread-safe and holds no connection of its own, so one per pool serves every call.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    """The clients Django's cache uses, built once per connection pool."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
