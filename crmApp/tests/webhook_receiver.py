"""A webhook endpoint on 127.0.0.1 for tests and the benchmark: it keeps what it receives and answers as told."""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """Whether one of the signature's `v1` values is the HMAC of `<t>.<body>` with `secret`."""
        parts = [part.split("=", 1) for part in self.headers["X-CRM-Signature"].split(",")]
        timestamp = next(value for name, value in parts if name == "t")
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256).hexdigest()
        return any(name == "v1" and hmac.compare_digest(value, expected) for name, value in parts)


class Receiver:
    """Answers each POST with `status` (or the next of `statuses`), after `delay` seconds."""

    def __init__(self, status: int = 200):
        self.status = status
        self.statuses: list[int] = []
        self.delay = 0.0
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delay = receiver.delay
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def payloads(self, event_type: str | None = None) -> list[dict]:
        with self.lock:
            received = list(self.received)
        return [r.payload for r in received if event_type is None or r.payload["type"] == event_type]
