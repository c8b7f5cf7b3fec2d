"""Start-up configuration comes from the environment and refuses unsafe production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmAdmin import settings as project_settings

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
