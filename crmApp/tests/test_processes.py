"""Two real server processes on one database never serve each other's stale figures, with or without Redis.

Each case builds its own database (a SQLite file, or a fresh PostgreSQL database when the suite runs
on PostgreSQL), starts two gunicorn processes on it, writes through one and reads through the other.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
# The Redis database the tests that need Redis use and empty: one per test process (`make test` runs up to
# eight side by side), numbered 8-15 so that it is never the 0 a development setup uses.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS_TEST_URL = f"redis://127.0.0.1:6379/{8 + WORKER % 8}"  # a replacement for a crashed worker counts on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_redis() -> None:
    """Skip without Redis on 127.0.0.1:6379, except in CI (CI=true), where its absence fails the test."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not answering on 127.0.0.1:6379, and CI=true runs the tests that need it.")
        pytest.skip("Redis is not answering on 127.0.0.1:6379")


class Server:
    """One gunicorn process of the CRM."""

    def __init__(self, environment: dict):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "crmAdmin.wsgi",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{self.port}",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so a kill takes its workers too
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/api/health/")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("The server did not start.")

    def call(self, method: str, path: str, body=None, token: str | None = None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def database_url(tmp_path):
    """A new, migrated database of the same kind the suite runs on."""
    if connection.vendor == "postgresql":
        name = f"crm_processes_{uuid.uuid4().hex[:8]}"
        params = connection.settings_dict
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        url = f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{name}"
    else:
        name, url = None, f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    yield url
    if name:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, redis_url: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="process-test-secret-key",
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1",
        THROTTLE_USER="100000/minute",
        THROTTLE_AUTH="100000/minute",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    env["REDIS_URL"] = redis_url  # set even when empty: a developer's .env must not decide
    return env


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_redis", [False, True], ids=["no-redis", "redis"])
def test_two_processes_never_serve_each_others_stale_figures(database_url, with_redis):
    if with_redis:
        require_redis()
    env = environment(database_url, REDIS_TEST_URL if with_redis else "")
    if with_redis:
        import redis

        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    first, second = Server(env), Server(env)
    try:
        status, registered = first.call(
            "POST",
            "/api/auth/register/",
            {
                "email": "two@processes.example",
                "password": "Quiet-harbour-8-lanterns",
                "first_name": "Two",
                "last_name": "Processes",
                "organization_name": "Twin Co",
            },
        )
        assert status == 201, registered
        token = registered["access"]

        def figures(server):
            leads = server.call("GET", "/api/leads/", token=token)[1]["count"]
            stats = server.call("GET", "/api/leads/stats/", token=token)[1]["total"]
            funnel = server.call("GET", "/api/analytics/sales-funnel/", token=token)[1]["stages"][0]["count"]
            dashboard = server.call("GET", "/api/analytics/dashboard/", token=token)[1]["leads"]["total"]
            board = sum(column["count"] for column in server.call("GET", "/api/deals/board/", token=token)[1])
            return leads, stats, funnel, dashboard, board

        assert figures(first) == figures(second) == (0, 0, 0, 0, 0)  # both have read (and maybe cached) zeros
        for number, writer in enumerate((first, second, first)):
            assert writer.call("POST", "/api/leads/", {"first_name": f"Lead {number}"}, token=token)[0] == 201
            expected = number + 1
            assert figures(first)[:4] == figures(second)[:4] == (expected,) * 4
        status, customer = second.call(
            "POST", "/api/customers/", {"first_name": "Cu", "last_name": "Stomer"}, token=token
        )
        assert status == 201
        assert first.call("POST", "/api/deals/", {"title": "Deal", "customer": customer["id"]}, token=token)[0] == 201
        assert figures(second)[4] == figures(first)[4] == 1
    finally:
        first.stop()
        second.stop()
