"""Counting what this process sends to Redis, for the tests that pin it and for the benchmark."""

import threading
from contextlib import contextmanager


@contextmanager
def redis_round_trips():
    """Count what this thread sends to Redis: one send is one round trip (a pipeline is one send)."""
    from redis.connection import AbstractConnection

    counted = {"round_trips": 0}
    original = AbstractConnection.send_packed_command
    thread = threading.get_ident()

    def counting(self, *args, **kwargs):
        if threading.get_ident() == thread:
            counted["round_trips"] += 1
        return original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counting
    try:
        yield counted
    finally:
        AbstractConnection.send_packed_command = original
