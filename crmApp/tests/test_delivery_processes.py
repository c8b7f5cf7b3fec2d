"""Nothing committed is lost when processes die: real app servers and Celery workers, killed mid-stream.

With Redis, the app queues and a worker (`celery -A crmAdmin worker --beat`) delivers; without it, the
app process delivers by itself. Either way an event committed just before a `kill -9` is delivered
once a process is back, and an attempt a dead deliverer was sending is picked up when its lease ends.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from crmApp.events.delivery import LEASE
from crmApp.tests.test_processes import (
    REDIS_TEST_URL,
    ROOT,
    Server,
    database_url,
    environment,
    require_redis,
)
from crmApp.tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Quiet-harbour-8-lanterns"
__all__ = ["database_url"]  # the fixture, shared with test_processes


def delivery_environment(database_url: str, redis_url: str) -> dict:
    env = environment(database_url, redis_url)
    env.update(WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_ALLOW_HTTP="true", WEBHOOK_RETRY_BASE_SECONDS="1")
    return env


def migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the process and every child it forked (gunicorn's workers, the worker's embedded beat)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class Worker:
    """One Celery worker with its embedded beat (a child process), in a process group of its own."""

    def __init__(self, env: dict, tmp_path):
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "crmAdmin", "worker", "--beat", "--pool", "solo"),
                *("--loglevel", "WARNING", "--schedule", str(tmp_path / "beat-schedule")),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def sign_up(server: Server) -> str:
    status, body = server.call(
        "POST",
        "/api/auth/register/",
        {
            "email": f"hooks-{os.getpid()}@processes.example",
            "password": PASSWORD,
            "first_name": "Web",
            "last_name": "Hooks",
            "organization_name": "Hook Co",
        },
    )
    assert status == 201, body
    return body["access"]


def add_webhook(server: Server, token: str, url: str) -> str:
    status, body = server.call("POST", "/api/webhooks/", {"url": url, "events": ["lead.created"]}, token=token)
    assert status == 201, body
    return body["secret"]


def create_leads(server: Server, token: str, names) -> None:
    for name in names:
        assert server.call("POST", "/api/leads/", {"first_name": name}, token=token)[0] == 201


def wait_for(receiver: Receiver, names: set[str], seconds: float) -> set[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = {payload["data"]["first_name"] for payload in receiver.payloads()}
        if names <= got:
            return got
        time.sleep(0.2)
    return {payload["data"]["first_name"] for payload in receiver.payloads()}


@pytest.fixture
def redis_db():
    require_redis()
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield client
    client.flushdb()


def test_events_committed_before_the_app_dies_are_delivered_by_a_worker(database_url, redis_db, tmp_path):
    env = delivery_environment(database_url, REDIS_TEST_URL)
    migrate(env)
    with Receiver() as receiver:
        app = Server(env)
        try:
            token = sign_up(app)
            secret = add_webhook(app, token, receiver.url)
            create_leads(app, token, ["Ada", "Bo", "Cy"])
        finally:
            kill(app.process)
        redis_db.flushdb()  # the wake-up messages are gone too: only the outbox remembers

        worker = Worker(env, tmp_path)
        try:
            assert wait_for(receiver, {"Ada", "Bo", "Cy"}, 60) == {"Ada", "Bo", "Cy"}
        finally:
            kill(worker.process)
        assert all(received.signed_with(secret) for received in receiver.received)
        sequences = [payload["sequence"] for payload in receiver.payloads()]
        assert len(set(sequences)) == 3  # three events; order is promised per record, not across them


def test_a_worker_killed_mid_delivery_leaves_the_attempt_to_the_next(database_url, redis_db, tmp_path):
    env = delivery_environment(database_url, REDIS_TEST_URL)
    migrate(env)
    with Receiver() as receiver:
        app = Server(env)
        first = Worker(env, tmp_path)
        try:
            token = sign_up(app)
            add_webhook(app, token, receiver.url)
            receiver.delay = 30  # the endpoint hangs: the worker is mid-send when it dies
            create_leads(app, token, ["Ada"])
            time.sleep(3)
            kill(first.process)
            receiver.delay = 0
            second = Worker(env, tmp_path)
            try:
                got = wait_for(receiver, {"Ada"}, LEASE.total_seconds() + 30)
            finally:
                kill(second.process)
        finally:
            app.stop()
        assert "Ada" in got


def test_without_redis_the_app_delivers_itself_and_resumes_after_a_kill(database_url):
    env = delivery_environment(database_url, "")
    migrate(env)
    with Receiver() as receiver:
        app = Server(env)
        try:
            token = sign_up(app)
            add_webhook(app, token, receiver.url)
            create_leads(app, token, ["Ada"])
            assert wait_for(receiver, {"Ada"}, 10) == {"Ada"}  # no worker: the app process sent it

            receiver.delay = 30
            create_leads(app, token, ["Bo"])
            time.sleep(2)
        finally:
            kill(app.process)
        receiver.delay = 0
        restarted = Server(env)
        try:
            assert "Bo" in wait_for(receiver, {"Bo"}, LEASE.total_seconds() + 20)
        finally:
            restarted.stop()
