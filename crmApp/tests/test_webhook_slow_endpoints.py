"""Endpoints that are slow, trickle their answer or go away mid-send: an attempt is bounded in time, and
only the deliverer that still holds an attempt logs its outcome."""

import contextlib
import http.server
import socket
import threading
import time
from datetime import timedelta

import pytest
import urllib3
from django.utils import timezone

from crmApp.constants import DeliveryStatus
from crmApp.events import delivery, transport
from crmApp.models import WebhookDelivery
from crmApp.services.integration_service import WebhookService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.factories import OrganizationFactory
from crmApp.tests.test_webhooks import make_webhook
from crmApp.tests.webhook_receiver import Receiver

TIMEOUT = 1.0


@pytest.fixture(autouse=True)
def short_timeout(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_ALLOW_HTTP = True
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", TIMEOUT)
    monkeypatch.setattr(transport, "_pools", {})


def trickling_endpoint(parts: list[tuple[bytes, float]]) -> str:
    """A URL whose endpoint sends each part a byte at a time, pausing that long after each byte."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            with contextlib.suppress(OSError):  # the sender cuts the connection at its deadline
                for text, pause in parts:
                    for byte in text:
                        connection.sendall(bytes([byte]))
                        time.sleep(pause)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n"


@pytest.mark.parametrize(
    ("parts", "status", "error"),
    [
        ([(HEAD, 0), (b"x" * 60, 0.2)], 200, ""),  # the status came in time: it stands
        ([(HEAD, 0.2)], None, f"No answer within {TIMEOUT} s."),
    ],
    ids=["body-trickles", "head-trickles"],
)
def test_a_trickling_answer_is_cut_at_the_timeout(parts, status, error):
    started = time.monotonic()
    answer = transport.post(trickling_endpoint(parts), b"{}", {})
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert (answer.status, answer.error) == (status, error)


class TricklingSecondAnswer(http.server.BaseHTTPRequestHandler):
    """Keeps the connection open; the first answer comes at once, the next trickles for 3 s."""

    protocol_version = "HTTP/1.1"
    answered = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        TricklingSecondAnswer.answered += 1
        self.send_response(200)
        self.send_header("Content-Length", "60" if TricklingSecondAnswer.answered > 1 else "0")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(15 if TricklingSecondAnswer.answered > 1 else 0):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)

    def log_message(self, *args):
        pass


def test_an_attempt_on_a_reused_connection_keeps_its_own_deadline(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TricklingSecondAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    second = {}
    release_conn = urllib3.response.HTTPResponse.release_conn

    def release_then_let_the_next_sender_in(response):
        # The next attempt takes the connection just pooled, before the first one's post() has returned.
        release_conn(response)
        if threading.current_thread().name == "first" and not second:
            started = time.monotonic()
            sender = threading.Thread(target=lambda: second.update(answer=transport.post(url, b"{}", {})))
            sender.start()
            time.sleep(0.3)
            second.update(sender=sender, started=started)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "release_conn", release_then_let_the_next_sender_in)
    first = threading.Thread(target=transport.post, args=(url, b"{}", {}), name="first")
    first.start()
    first.join()
    second["sender"].join()
    took = time.monotonic() - second["started"]
    server.shutdown()

    assert took < TIMEOUT + 0.5
    assert second["answer"].status == 200  # its status came in time; the trickle was cut


@pytest.mark.django_db(transaction=True)
def test_a_webhook_deleted_mid_send_loses_its_attempt_and_the_batch_keeps_the_rest(organization):
    with Receiver() as healthy, Receiver(status=500) as failing:
        kept = make_webhook(organization, url=healthy.url)
        doomed = make_webhook(organization, url=failing.url)
        LeadService(Tenant.system(organization)).create(first_name="Ada")
        batch = delivery.claim()
        answers = [delivery.send(attempt) for attempt in batch]
        WebhookService(Tenant.system(organization)).delete(doomed)  # while its attempt was in flight

        delivery.record(list(zip(batch, answers, strict=True)))

    assert [(a.webhook_id, a.status) for a in WebhookDelivery.objects.all()] == [(kept.id, DeliveryStatus.SUCCEEDED)]


@pytest.mark.django_db
def test_an_attempt_claimed_again_after_its_lease_ran_out_is_logged_once(organization):
    with Receiver(status=500) as failing:
        make_webhook(organization, url=failing.url)
        LeadService(Tenant.system(organization)).create(first_name="Ada")
        (slow,) = delivery.claim()
        WebhookDelivery.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
        assert delivery.deliver_due() == 1  # another deliverer takes it over, sends and logs it

        delivery.record([(slow, delivery.send(slow))])  # the first one finishes late

    assert WebhookDelivery.objects.filter(attempt=2).count() == 1  # one retry, not two
    assert len(failing.received) == 2


@pytest.mark.django_db
def test_an_endpoint_that_never_answers_holds_up_its_own_organization_only(organization):
    """Another organization's event, due after a full round of attempts to a hanging endpoint, goes out at
    once: the hanging ones take PER_ORGANIZATION senders, not all of them until they time out."""
    other = OrganizationFactory()
    with Receiver() as hanging, Receiver() as healthy:
        hanging.delay = TIMEOUT + 0.5
        make_webhook(organization, url=hanging.url)
        make_webhook(other, url=healthy.url)
        for number in range(delivery.SENDERS):
            LeadService(Tenant.system(organization)).create(first_name=f"Ada {number}")
        LeadService(Tenant.system(other)).create(first_name="Grace")
        started = time.time()
        assert delivery.deliver_due() == delivery.SENDERS + 1

        assert healthy.received[0].at - started < TIMEOUT / 2
    outcomes = WebhookDelivery.objects.filter(attempt=1).values_list("organization_id", "status")
    assert sorted(outcomes) == sorted(
        [(organization.id, DeliveryStatus.FAILED)] * delivery.SENDERS + [(other.id, DeliveryStatus.SUCCEEDED)]
    )
