#!/usr/bin/env python
"""Latency benchmark of the CRM's read endpoints on PostgreSQL, with two large organizations.

    python bench/run.py [--scale 0.1] [--requests 20] [--explain]

See bench/README.md for what it measures and the figures it gave.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
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


def parse_args():
    """The command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the full size (1M leads per organization)"
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per endpoint (after warm-up)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per endpoint first")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--output", default=str(ROOT / "bench" / "results.json"), help="where the JSON goes")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest query of every endpoint slower than --slow-ms",
    )
    parser.add_argument("--slow-ms", type=float, default=100.0)
    parser.add_argument("--skip-delete", action="store_true", help="don't time deleting a million-lead organization")
    args = parser.parse_args()
    if args.scale <= 0 or args.requests < 1 or args.warmup < 1:
        parser.error("--scale must be positive, --requests and --warmup at least 1")
    return args


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


def setup_django(url: str) -> None:
    """Configure Django for the benchmark database and bring its schema up to date."""
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "False"  # measured as production runs, whatever a local .env says
    # The benchmark fires hundreds of requests a minute as one user; the API's throttle must not answer them.
    os.environ["THROTTLE_USER"] = "100000000/minute"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in, keeps outgoing mail in memory
    call_command("migrate", verbosity=0)


def seed(scale: float) -> list[dict]:
    """Fill both organizations up to the scaled sizes (a no-op when a previous run already did)."""
    from django.core.management import call_command

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
    return timings


def endpoints(organization) -> list[tuple[str, str]]:
    """(name, path) of every endpoint measured, sized to the organization's data."""
    from crmApp.models import Customer, Lead

    leads = Lead.objects.filter(organization=organization)
    total = leads.count()
    deep_page = max(1, min(2000, total // 25 // 2))
    middle = leads.order_by("id").values_list("id", flat=True)[total // 2]
    # The fill gives the first leads and customers a long history (crmApp.seeding.fill.BUSY_HISTORY).
    busy_lead = leads.order_by("id").values_list("id", flat=True).first()
    busy_customer = Customer.objects.filter(organization=organization).order_by("id").values_list("id", flat=True)[0]
    return [
        ("lead timeline", f"/api/leads/{busy_lead}/timeline/"),
        ("lead timeline page 30", f"/api/leads/{busy_lead}/timeline/?page=30"),
        ("customer timeline", f"/api/customers/{busy_customer}/timeline/"),
        ("customer timeline page 30", f"/api/customers/{busy_customer}/timeline/?page=30"),
        ("my open activities", "/api/activities/?assigned_to=me&is_done=false"),
        ("overdue activities", "/api/activities/?overdue=true"),
        ("audit log", "/api/audit-log/"),
        ("leads list", "/api/leads/"),
        (f"leads page {deep_page}", f"/api/leads/?page={deep_page}"),
        ("leads by score", "/api/leads/?ordering=-score"),
        ("leads search", f"/api/leads/?search={SEARCH_TERM}"),
        ("leads filtered", "/api/leads/?status=qualified&source=referral"),
        ("lead detail", f"/api/leads/{middle}/"),
        ("leads stats", "/api/leads/stats/"),
        ("customers list", "/api/customers/"),
        ("customers stats", "/api/customers/stats/"),
        ("deals list", "/api/deals/"),
        ("deals board", "/api/deals/board/"),
        ("analytics dashboard", "/api/analytics/dashboard/"),
        ("analytics sales-funnel", "/api/analytics/sales-funnel/"),
        ("analytics revenue", "/api/analytics/revenue/"),
        ("analytics employee-performance", "/api/analytics/employee-performance/"),
        ("analytics forecast", "/api/analytics/forecast/"),
    ]


def measure_organization_delete(scale: float) -> dict:
    """Seed an organization of a million leads (scaled), then time deleting it and its Python memory peak."""
    import tracemalloc

    from django.core.management import call_command

    from crmApp.models import Lead, Organization
    from crmApp.services.organization_service import delete_organization

    name, owner, seed_value = DOOMED
    leads = max(1, round(FULL_SIZE["leads"] * scale))
    call_command(
        "seed_data", organization=name, owner=owner, seed=seed_value, leads=leads, no_progress=True, stdout=StringIO()
    )
    organization = Organization.objects.get(name=name)
    tracemalloc.start()
    started = time.perf_counter()
    delete_organization(organization)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {"leads": leads, "seconds": round(seconds, 2), "python_peak_mib": round(peak / 2**20, 2)}
    assert not Lead.objects.filter(organization_id=organization.id).exists()
    seconds, peak_mib = result["seconds"], result["python_peak_mib"]
    print(f"\nDeleting an organization of {leads:,} leads: {seconds} s, Python peak {peak_mib} MiB")
    return result


def client_for(user, organization):
    """A test client carrying a fresh JWT for `user`, acting in `organization`."""
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    token = RefreshToken.for_user(user).access_token
    return Client(
        raise_request_exception=False,
        headers={"Authorization": f"Bearer {token}", "X-Organization-ID": str(organization.id)},
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(name: str, path: str, client, *, requests: int, warmup: int) -> dict:
    """Time one endpoint; a non-200 answer is recorded with its body instead of timings."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(path)
        first_ms = (time.perf_counter() - started) * 1000
    # The first request is reported apart: it pays for whatever later ones find cached (e.g. a list's count).
    result = {
        "name": name,
        "path": path,
        "status": response.status_code,
        "queries": len(captured),
        "first_ms": round(first_ms, 1),
    }
    if response.status_code != 200:
        result["error"] = response.content[:300].decode(errors="replace")
        return result
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]), default=None)
    if slowest:
        result["slowest_query"] = {"ms": round(float(slowest["time"]) * 1000, 1), "sql": slowest["sql"]}
    for _ in range(warmup - 1):
        client.get(path)
    times, statuses = [], set()
    for _ in range(requests):
        started = time.perf_counter()
        statuses.add(client.get(path).status_code)
        times.append((time.perf_counter() - started) * 1000)
    result.update(
        requests=requests,
        median_ms=round(statistics.median(times), 1),
        p95_ms=round(percentile(times, 0.95), 1),
        min_ms=round(min(times), 1),
        max_ms=round(max(times), 1),
        bytes=len(response.content),
    )
    if statuses != {200}:
        result["statuses_seen"] = sorted(statuses)
    return result


def explain(sql: str) -> str:
    """The EXPLAIN ANALYZE plan of one captured query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def print_table(results: list[dict]) -> None:
    """Print the results as a table."""
    print(
        f"\n{'endpoint':<32} {'status':>6} {'median ms':>10} {'p95 ms':>9} {'first ms':>9} {'queries':>8}"
        f"  slowest query (first request)"
    )
    print("-" * 100)
    for r in results:
        if r["status"] == 200:
            slow = r.get("slowest_query", {}).get("ms", "")
            print(
                f"{r['name']:<32} {r['status']:>6} {r['median_ms']:>10} {r['p95_ms']:>9} {r['first_ms']:>9}"
                f" {r['queries']:>8}  {slow} ms"
            )
        else:
            print(
                f"{r['name']:<32} {r['status']:>6} {'—':>10} {'—':>9} {r['first_ms']:>9} {r['queries']:>8}"
                f"  {r['error'][:60]!r}"
            )


def main() -> None:
    """Seed if needed, measure every endpoint, print and save the figures."""
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection

    from crmApp.models import Activity, Customer, Deal, Employee, HistoryEntry, Lead, Membership, Organization

    seed_timings = seed(args.scale)
    alpha = Organization.objects.filter(name=ORGANIZATIONS[0][0]).order_by("id").first()
    owner = Membership.objects.filter(organization=alpha, role="owner").order_by("id").first().user
    # `assigned_to=me` needs the owner to be one of the employees.
    if not Employee.objects.filter(organization=alpha, user=owner).exists():
        Employee.objects.filter(pk=Employee.objects.filter(organization=alpha).order_by("id").first().pk).update(
            user=owner
        )
    results = []
    for name, path in endpoints(alpha):
        result = measure(name, path, client_for(owner, alpha), requests=args.requests, warmup=args.warmup)
        if args.explain and result.get("median_ms", 0) >= args.slow_ms and "slowest_query" in result:
            result["slowest_query"]["plan"] = explain(result["slowest_query"]["sql"])
        results.append(result)
        print(f"  {name}: {result['status']} {result.get('median_ms', '')}", file=sys.stderr)
    print_table(results)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    counts = {
        org.name: {
            model.__name__: model.objects.filter(organization=org).count()
            for model in (Lead, Customer, Deal, Activity, HistoryEntry)
        }
        for org in Organization.objects.filter(name__in=[name for name, _, _ in ORGANIZATIONS])
    }
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "requests": args.requests,
        "warmup": args.warmup,
        "postgresql": server,
        "python": platform.python_version(),
        "organizations": counts,
        "seed": seed_timings,
        "results": results,
        "organization_delete": None if args.skip_delete else measure_organization_delete(args.scale),
    }
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"\nWrote {args.output}")
    if args.explain:
        for r in results:
            plan = r.get("slowest_query", {}).get("plan")
            if plan:
                print(f"\n== {r['name']} ({r['slowest_query']['ms']} ms) ==\n{r['slowest_query']['sql'][:400]}\n{plan}")


if __name__ == "__main__":
    main()
