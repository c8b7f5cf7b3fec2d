"""What every mode of the benchmark shares: the sizes, the organizations, and a configured Django."""

import os
import sys
import time
from io import StringIO
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
# The bench server's settings: the app's, plus the floor's route (bench/urls.py).
BENCH_SETTINGS = "bench.settings"
FULL_SIZE = {
    "leads": 1_000_000,
    "customers": 100_000,
    "deals": 200_000,
    "employees": 50,
    "vendors": 20,
    "activities": 2_000_000,
}
# The organization deleted whole to time a set-based delete (leads only: they are what a cascade would load).
DOOMED = ("Bench Doomed", "doomed@bench.example", 3)
# (name, owner email, seed): the second organization is there so every query has a tenant to filter out.
ORGANIZATIONS = (("Bench Alpha", "alpha@bench.example", 1), ("Bench Beta", "beta@bench.example", 2))
SEARCH_TERM = "nakamura"


def ensure_database(url: str) -> None:
    """Refuse anything but PostgreSQL, and create the database when it doesn't exist yet."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(
            f"The benchmark runs on PostgreSQL only; DATABASE_URL is {parts.scheme or url!r}.\n"
            f"Point DATABASE_URL at a PostgreSQL database, e.g. {DEFAULT_DATABASE_URL}"
        )
    import psycopg

    name = unquote(parts.path.lstrip("/")) or "crm_bench"
    maintenance = parts._replace(path="/postgres").geturl().replace(f"{parts.scheme}://", "postgresql://", 1)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}.")


def setup_django(database_url: str, redis_url: str) -> None:
    """Configure Django for the benchmark database and Redis, and bring the schema up to date.

    The environment set here is also what the servers and workers the HTTP modes start inherit, so a
    developer's `.env` decides nothing (settings read it only for variables that are not set).
    """
    os.environ.update(
        DATABASE_URL=database_url,
        # Cached counts and figures are only used with a shared cache, as in production.
        REDIS_URL=redis_url,
        DEBUG="False",  # measured as production runs, whatever a local .env says
        # The benchmark fires thousands of requests a minute as one user; the API's throttle must not answer them.
        THROTTLE_USER="100000000/minute",
        # Long enough for a full run with one token.
        ACCESS_TOKEN_MINUTES="240",
        DJANGO_SETTINGS_MODULE=BENCH_SETTINGS,
    )
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in, keeps outgoing mail in memory
    call_command("migrate", verbosity=0)


def seed(scale: float) -> list[dict]:
    """Fill both organizations up to the scaled sizes (a no-op when a previous run already did), then VACUUM.

    Earlier runs' writing modes (webhooks, imports, the timed delete) share the tables with the two
    organizations and leave pages that are not all-visible among theirs: a search's count then reads the
    table as well as its index (290 ms against 185 ms here after 7,000 leads of another organization came
    and went). Each run starts from the pages a fresh seed leaves; on clean tables this takes under a second.
    """
    from django.core.management import call_command

    from crmApp.seeding.fill import vacuum

    timings = []
    sizes = {kind: max(1, round(count * scale)) for kind, count in FULL_SIZE.items()}
    for name, owner, seed_value in ORGANIZATIONS:
        out = StringIO()
        started = time.perf_counter()
        call_command(
            "seed_data",
            organization=name,
            owner=owner,
            seed=seed_value,
            no_progress=not sys.stderr.isatty(),
            stdout=out,
            **sizes,
        )
        seconds = time.perf_counter() - started
        print(out.getvalue().rstrip())
        timings.append({"organization": name, "seconds": round(seconds, 2), "output": out.getvalue()})
    vacuum()
    return timings


def organization_and_owner(name: str):
    """The organization named `name` and its first owner."""
    from crmApp.models import Membership, Organization

    organization = Organization.objects.filter(name=name).order_by("id").first()
    owner = Membership.objects.filter(organization=organization, role="owner").order_by("id").first().user
    return organization, owner


def fresh_organization(name: str, owner: str, seed: int, **sizes):
    """The organization `name`, deleted (with what earlier runs left in it) and seeded again at `sizes`.

    Every run of a mode that writes into its own organization starts alike. Returns it and its owner.
    """
    from django.core.management import call_command

    from crmApp.models import Organization
    from crmApp.services.organization_service import delete_organization

    for organization in Organization.objects.filter(name=name):
        delete_organization(organization)
    call_command("seed_data", organization=name, owner=owner, seed=seed, no_progress=True, stdout=StringIO(), **sizes)
    return organization_and_owner(name)
