"""Where a webhook may point, and the one HTTP POST that reaches it.

A URL is checked when it is saved and again before every attempt, since its DNS can change: the host
is resolved, every address it resolves to must be public (not loopback, private, link-local, shared or
reserved; cloud metadata addresses are link-local or private), and the connection goes to the address
that was checked, so a second lookup can't swap in another (DNS rebinding). TLS still verifies the
certificate against the URL's host name.
"""

import contextlib
import ipaddress
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

TIMEOUT_SECONDS = 10
# How much of an answer's body is read (and dropped) so the connection can be reused.
MAX_RESPONSE_BYTES = 64 * 1024
_pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()
MAX_POOLS = 256


class UnsafeDestination(ValueError):
    """The URL may not receive webhooks (its scheme, or an address it resolves to)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: str
    path: str


@dataclass(frozen=True)
class Answer:
    status: int | None
    duration_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# IPv6 ranges whose last 32 bits are an IPv4 address that a translator or the host may reach: IPv4-compatible,
# SIIT-translated, and NAT64's well-known and local-use prefixes (Python counts them all as global).
CARRYING_IPV4 = tuple(
    ipaddress.ip_network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    checked = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        checked += [embedded for embedded in (ip.ipv4_mapped, ip.sixtofour) if embedded is not None]
        if any(ip in network for network in CARRYING_IPV4):
            checked.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return any(not each.is_global or each.is_multicast for each in checked)


def resolve(url: str) -> Destination:
    """The checked address to send `url`'s requests to; raises UnsafeDestination with the reason."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and settings.WEBHOOK_ALLOW_HTTP):
        raise UnsafeDestination("The URL must start with https://.")
    try:
        host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("The URL's port is not valid.")
    if not host:
        raise UnsafeDestination("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeDestination("The URL may not carry a user name or password.")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeDestination(f"The host {host} could not be resolved.")
    addresses = [info[4][0] for info in found]
    if not addresses:
        raise UnsafeDestination(f"The host {host} could not be resolved.")
    if not settings.WEBHOOK_ALLOW_PRIVATE and any(_refused_address(address) for address in addresses):
        raise UnsafeDestination(
            f"The host {host} resolves to a loopback, private, link-local or reserved address, which may not "
            "receive webhooks."
        )
    path = parts.path or "/"
    return Destination(scheme, host, port, addresses[0], f"{path}?{parts.query}" if parts.query else path)


class Deadlines:
    """One thread that cuts the connection of any attempt still running at its deadline.

    urllib3's timeouts bound each wait on the socket, so an endpoint that trickles its answer a byte at a
    time could hold an attempt, its batch and every organization's deliveries behind it for as long as it
    liked. An attempt gets `TIMEOUT_SECONDS` from its request on: sending, and reading the answer.
    """

    def __init__(self):
        self._changed = threading.Condition()
        # connection -> (deadline, the attempt watching it): a pooled connection serves one attempt at a time.
        self._due: dict[urllib3.connection.HTTPConnection, tuple[float, object]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, connection: urllib3.connection.HTTPConnection, deadline: float, attempt: object) -> None:
        with self._changed:
            self._due[connection] = (deadline, attempt)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="crm-webhook-deadlines", daemon=True)
                self._thread.start()
            self._changed.notify()

    def release(self, connection: urllib3.connection.HTTPConnection | None, attempt: object) -> None:
        """Stop watching `connection` for `attempt` (not for a later attempt that reuses it)."""
        with self._changed:
            if self._due.get(connection, (None, None))[1] is attempt:
                del self._due[connection]

    def forget_after_fork(self) -> None:
        """A forked child has no watchdog thread, and its parent's connections are not its own."""
        self._changed, self._due, self._thread = threading.Condition(), {}, None

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for connection, (deadline, attempt) in list(self._due.items()):
                    if deadline > now:
                        continue
                    sock = connection.sock
                    if sock is None:  # still connecting (that has its own timeout): look again shortly
                        self._due[connection] = (now + 0.05, attempt)
                        continue
                    del self._due[connection]
                    # The plain socket's shutdown, also under TLS: the reading thread gets an error at once.
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                wake = min((deadline for deadline, _ in self._due.values()), default=now + 60)
                self._changed.wait(wake - now)


_deadlines = Deadlines()
os.register_at_fork(after_in_child=_deadlines.forget_after_fork)
_attempt = threading.local()  # the attempt this thread is making: its token, deadline and connection


class _Watched:
    """A connection whose request is cut when its attempt's time is up (see Deadlines)."""

    def request(self, *args, **kwargs):
        _attempt.connection = self
        _deadlines.watch(self, _attempt.deadline, _attempt.token)
        return super().request(*args, **kwargs)


class WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


def _pool(destination: Destination) -> urllib3.HTTPConnectionPool:
    key = (destination.scheme, destination.address, destination.port, destination.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if len(_pools) >= MAX_POOLS:
                _pools.clear()
            options = {"maxsize": 8, "retries": False, "timeout": urllib3.Timeout(total=TIMEOUT_SECONDS)}
            if destination.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    destination.address,
                    destination.port,
                    server_hostname=destination.host,
                    assert_hostname=destination.host,
                    **options,
                )
                pool.ConnectionCls = WatchedHTTPSConnection
            else:
                pool = urllib3.HTTPConnectionPool(destination.address, destination.port, **options)
                pool.ConnectionCls = WatchedHTTPConnection
            _pools[key] = pool
    return pool


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` (checked first); any outcome is an Answer, never an exception."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        destination = resolve(url)
    except UnsafeDestination as refused:
        return Answer(None, elapsed(), str(refused))
    name = f"[{destination.host}]" if ":" in destination.host else destination.host  # an IPv6 literal
    default_port = 443 if destination.scheme == "https" else 80
    host_header = name if destination.port == default_port else f"{name}:{destination.port}"
    token = _attempt.token = object()
    _attempt.deadline, _attempt.connection = started + TIMEOUT_SECONDS, None
    try:
        response = _pool(destination).urlopen(
            "POST",
            destination.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        # Read (and dropped) so the connection can be reused; an answer whose status came in time stands
        # even if the rest of it is cut. The watch ends before the connection goes back to the pool.
        try:
            with contextlib.suppress(urllib3.exceptions.HTTPError):
                response.read(MAX_RESPONSE_BYTES)
        finally:
            _deadlines.release(_attempt.connection, token)
            response.release_conn()
    except urllib3.exceptions.NewConnectionError:  # before TimeoutError, which urllib3 makes it a kind of
        return Answer(None, elapsed(), "Connection failed: nothing answered at that address.")
    except urllib3.exceptions.TimeoutError:
        return Answer(None, elapsed(), f"No answer within {TIMEOUT_SECONDS} s.")
    except urllib3.exceptions.HTTPError as failure:
        if elapsed() >= TIMEOUT_SECONDS * 1000:  # cut at the deadline
            return Answer(None, elapsed(), f"No answer within {TIMEOUT_SECONDS} s.")
        return Answer(None, elapsed(), f"Connection failed: {type(failure).__name__}.")
    finally:
        _deadlines.release(_attempt.connection, token)  # a failed request's connection is closed, not pooled
    status = response.status
    return Answer(status, elapsed(), "" if 200 <= status < 300 else f"The endpoint answered {status}.")
