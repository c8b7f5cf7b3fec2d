"""The in-process latency table: each endpoint timed through Django's test client, with its SQL and Redis costs."""

import math
import statistics
import sys
import time
from io import StringIO

from bench.common import DOOMED, FULL_SIZE, SEARCH_TERM
from crmApp.tests.redis_calls import redis_round_trips


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


def access_token(user) -> str:
    """A fresh JWT access token for `user`."""
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def client_for(user, organization):
    """A test client carrying a fresh JWT for `user`, acting in `organization`."""
    from django.test import Client

    return Client(
        raise_request_exception=False,
        headers={"Authorization": f"Bearer {access_token(user)}", "X-Organization-ID": str(organization.id)},
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def request_costs(client, path: str) -> dict:
    """Status, SQL queries and Redis round trips of one request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured, redis_round_trips() as redis:
        started = time.perf_counter()
        response = client.get(path)
        ms = (time.perf_counter() - started) * 1000
    return {
        "response": response,
        "ms": ms,
        "queries": captured.captured_queries,
        "redis_round_trips": redis["round_trips"],
    }


def measure(name: str, path: str, client, *, requests: int, warmup: int) -> dict:
    """Time one endpoint; a non-200 answer is recorded with its body instead of timings."""
    first = request_costs(client, path)
    response = first["response"]
    # The first request is reported apart: it pays for whatever later ones find cached (e.g. a list's count).
    result = {
        "name": name,
        "path": path,
        "status": response.status_code,
        "queries": len(first["queries"]),
        "first_ms": round(first["ms"], 1),
    }
    if response.status_code != 200:
        result["error"] = response.content[:300].decode(errors="replace")
        return result
    slowest = max(first["queries"], key=lambda q: float(q["time"]), default=None)
    if slowest:
        result["slowest_query"] = {"ms": round(float(slowest["time"]) * 1000, 1), "sql": slowest["sql"]}
    for _ in range(warmup - 1):
        client.get(path)
    # What every later request costs, once the first has filled the cache.
    steady = request_costs(client, path)
    result.update(steady_queries=len(steady["queries"]), redis_round_trips=steady["redis_round_trips"])
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
        f" {'later':>6} {'redis':>6}  slowest query (first request)"
    )
    print("-" * 114)
    for r in results:
        if r["status"] == 200:
            slow = r.get("slowest_query", {}).get("ms", "")
            print(
                f"{r['name']:<32} {r['status']:>6} {r['median_ms']:>10} {r['p95_ms']:>9} {r['first_ms']:>9}"
                f" {r['queries']:>8} {r['steady_queries']:>6} {r['redis_round_trips']:>6}  {slow} ms"
            )
        else:
            print(
                f"{r['name']:<32} {r['status']:>6} {'—':>10} {'—':>9} {r['first_ms']:>9} {r['queries']:>8}"
                f" {'—':>6} {'—':>6}  {r['error'][:60]!r}"
            )


def run(owner, organization, *, requests: int, warmup: int, explain_slower_than: float | None) -> list[dict]:
    """Measure every endpoint as `owner` of `organization`, print the table and return the results."""
    results = []
    for name, path in endpoints(organization):
        result = measure(name, path, client_for(owner, organization), requests=requests, warmup=warmup)
        slow = explain_slower_than is not None and result.get("median_ms", 0) >= explain_slower_than
        if slow and "slowest_query" in result:
            result["slowest_query"]["plan"] = explain(result["slowest_query"]["sql"])
        results.append(result)
        print(f"  {name}: {result['status']} {result.get('median_ms', '')}", file=sys.stderr)
    print_table(results)
    return results
