"""Start-up configuration comes from the environment and refuses unsafe production settings."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crmAdmin import settings as project_settings
from crmApp.models import Lead

ROOT = Path(__file__).resolve().parents[2]


def start_django(show="settings.DATABASES['default']['ENGINE']", **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="crmAdmin.settings", PYTHONPATH=str(ROOT))
    code = f"import django; django.setup(); from django.conf import settings; print({show})"
    # Run outside the repository so a developer's .env doesn't leak into the check.
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, cwd="/")


@pytest.mark.parametrize(
    ("env", "starts"),
    [
        ({"DEBUG": "False"}, False),
        ({"DEBUG": "False", "SECRET_KEY": "a-real-secret"}, True),
        ({"DEBUG": "True"}, True),
    ],
)
def test_missing_secret_key_stops_start_up_only_with_debug_off(env, starts):
    result = start_django(**env)
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("rate", ["10/fortnight", "10 per minute", "ten/minute", "10"])
def test_a_throttle_rate_that_cannot_be_read_stops_start_up(rate):
    result = start_django(DEBUG="True", THROTTLE_USER=rate)
    assert result.returncode != 0 and "THROTTLE_USER must be a count per" in result.stderr
    assert start_django(DEBUG="True", THROTTLE_USER="30/hour").returncode == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CONN_MAX_AGE", "a minute"), ("EMAIL_PORT", "smtp"), ("TRASH_RETENTION_DAYS", "30d"), ("DATABASE_URL", "crm.db")],
)
def test_a_value_that_cannot_be_read_stops_start_up_naming_its_variable(variable, value):
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/crm", variable: value}
    result = start_django(DEBUG="True", **env)
    assert result.returncode != 0 and f"ImproperlyConfigured: {variable} " in result.stderr, result.stderr


@pytest.mark.parametrize(("days", "starts"), [("-1", False), ("1000000", False), ("0", True), ("36500", True)])
def test_a_trash_retention_out_of_range_stops_start_up(days, starts):
    """A negative retention purged every deleted record at the next hourly run; a huge one crashed it."""
    result = start_django(DEBUG="True", TRASH_RETENTION_DAYS=days)
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert "TRASH_RETENTION_DAYS must be a number of days from 0 to 36500" in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", "True"), ("On", "True"), ("1", "True"), ("no", "False"), ("0", "False"), ("ture", None)],
)
def test_a_boolean_is_true_false_yes_no_on_off_or_1_0_and_anything_else_stops_start_up(value, expected):
    result = start_django(show="settings.SECURE_SSL_REDIRECT", DEBUG="True", SECURE_SSL_REDIRECT=value)
    if expected is None:
        assert result.returncode != 0 and "ImproperlyConfigured: SECURE_SSL_REDIRECT " in result.stderr, result.stderr
    else:
        assert result.stdout.strip() == expected, result.stderr


@pytest.mark.parametrize(
    ("url", "starts"),
    [
        *[("notaurl", False), ("http://127.0.0.1:6379/0", False), ("127.0.0.1:6379", False)],
        *[
            ("redis://127.0.0.1:6379/0", True),
            ("rediss://cache.example.com:6380/1", True),
            ("unix:///run/redis.sock", True),
        ],
    ],
)
def test_redis_url_must_be_a_redis_url_or_start_up_stops_naming_it(url, starts):
    # Otherwise the process starts and the first cached read fails.
    result = start_django(show="settings.CACHES['default']['LOCATION']", DEBUG="True", REDIS_URL=url)
    if starts:
        assert result.stdout.strip() == url, result.stderr
    else:
        assert result.returncode != 0 and "ImproperlyConfigured: REDIS_URL " in result.stderr, result.stderr


def test_log_level_is_a_level_name_in_either_case_and_anything_else_stops_start_up_naming_it():
    result = start_django(show="settings.LOGGING['root']['level']", DEBUG="True", LOG_LEVEL="warning")
    assert result.stdout.strip() == "WARNING", result.stderr
    result = start_django(DEBUG="True", LOG_LEVEL="verbose")
    assert result.returncode != 0 and "ImproperlyConfigured: LOG_LEVEL " in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("", "django.db.backends.sqlite3"),
        ("postgres://postgres@127.0.0.1:5432/crm", "django.db.backends.postgresql"),
    ],
)
def test_database_comes_from_database_url(url, engine):
    result = start_django(DEBUG="True", **({"DATABASE_URL": url} if url else {}))
    assert result.stdout.strip() == engine, result.stderr


def test_argon2_is_the_first_password_hasher():
    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_sqlite_takes_the_write_lock_up_front_so_concurrent_writers_wait():
    result = start_django(show="settings.DATABASES['default']['OPTIONS']['transaction_mode']", DEBUG="True")
    assert result.stdout.strip() == "IMMEDIATE", result.stderr


@pytest.mark.parametrize(("threshold", "expected"), [(None, "True 5"), ("0", "True None"), ("2", "True 2")])
def test_postgresql_binds_parameters_on_the_server_and_prepares_repeated_statements(threshold, expected):
    options = "settings.DATABASES['default']['OPTIONS']"
    result = start_django(
        show=f"{options}['server_side_binding'], {options}['prepare_threshold']",
        DEBUG="True",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/crm",
        **({"DB_PREPARE_THRESHOLD": threshold} if threshold is not None else {}),
    )
    assert result.stdout.strip() == expected, result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_run_again_is_prepared_once_and_gives_the_same_rows(organization):
    from django.db import connection

    from crmApp.tests.factories import LeadFactory

    lead = LeadFactory(organization=organization)
    pages = [list(Lead.objects.filter(organization=organization).values_list("id", "code")) for _ in range(7)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ['%"crmApp_lead"%'])
        prepared = cursor.fetchone()[0]
    assert prepared >= 1 and pages == [[(lead.id, lead.code)]] * 7


def run_manage(*arguments, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *arguments], env=clean, capture_output=True, text=True, cwd="/"
    )


def test_commands_on_the_default_sqlite_database_print_no_warnings(tmp_path):
    result = run_manage("check", "--database", "default", DEBUG="True", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0
    assert "WARNING" not in result.stderr + result.stdout and "W040" not in result.stderr + result.stdout


@pytest.mark.parametrize("debug", ["True", "False"])
def test_each_log_line_appears_once(debug):
    code = "import logging; logging.getLogger('django.request').warning('logged-once-marker')"
    result = run_manage("shell", "-c", code, DEBUG=debug, SECRET_KEY="a-real-secret")
    assert (result.stdout + result.stderr).count("logged-once-marker") == 1, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "setting", "expected"),
    [
        ("EMAIL_HOST", "smtp.example.com", "EMAIL_HOST", "smtp.example.com"),
        ("EMAIL_PORT", "2525", "EMAIL_PORT", "2525"),
        ("EMAIL_USE_TLS", "true", "EMAIL_USE_TLS", "True"),
        ("CSRF_TRUSTED_ORIGINS", "https://crm.example.com", "CSRF_TRUSTED_ORIGINS", "['https://crm.example.com']"),
        ("SECURE_PROXY_SSL_HEADER", "true", "SECURE_PROXY_SSL_HEADER", "('HTTP_X_FORWARDED_PROTO', 'https')"),
        ("SECURE_HSTS_SECONDS", "60", "SECURE_HSTS_SECONDS", "60"),
        ("SESSION_COOKIE_SECURE", "true", "SESSION_COOKIE_SECURE", "True"),
        ("NUM_PROXIES", "2", "REST_FRAMEWORK['NUM_PROXIES']", "2"),
        (
            "REDIS_URL",
            "redis://127.0.0.1:1/0",
            "CACHES['default']['OPTIONS']",
            "{'socket_timeout': 2, 'socket_connect_timeout': 2}",
        ),
    ],
)
def test_deployment_settings_come_from_the_environment(variable, value, setting, expected):
    result = start_django(show=f"settings.{setting}", DEBUG="True", **{variable: value})
    assert result.stdout.strip() == expected, result.stderr


def test_every_variable_the_settings_read_is_documented():
    source = (ROOT / "crmAdmin" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\("([A-Z_]+)"', source))
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    assert read, "no env() reads found"
    assert {name for name in read if name not in example} == set()
    assert {name for name in read if f"`{name}`" not in readme} == set()


@pytest.mark.parametrize("command", [("worker", "--beat", "--pool", "solo"), ("beat",)])
def test_a_celery_process_without_redis_url_stops_at_once_saying_so(command, tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}}
    clean.update(DEBUG="True", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crmAdmin", *command],
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the worker's beat is a process of its own
        process.communicate()
        pytest.fail("a Celery process without REDIS_URL kept running")
    assert process.returncode != 0 and "REDIS_URL is not set" in stderr, stderr[-2000:]
