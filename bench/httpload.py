"""HTTP load mode: gunicorn (2 sync workers) under wrk, each endpoint read against the floor of the same server.

The floor (bench/floor.py) runs first and last; the endpoints' throughput is divided by the mean of
those two runs, so a machine that slows down during the run shows as a gap between them.
"""

import sys
from pathlib import Path

from bench import inprocess, processes
from bench.common import SEARCH_TERM

FLOOR = ("floor", "/bench/floor/")
ENDPOINTS = (
    ("leads list", "/api/leads/"),
    ("leads filtered", "/api/leads/?status=qualified&source=referral"),
    ("leads by score", "/api/leads/?ordering=-score"),
    ("leads search", f"/api/leads/?search={SEARCH_TERM}"),
    ("deals list", "/api/deals/"),
    ("customers list", "/api/customers/"),
    ("analytics dashboard", "/api/analytics/dashboard/"),
    ("analytics sales-funnel", "/api/analytics/sales-funnel/"),
    ("analytics revenue", "/api/analytics/revenue/"),
    ("analytics employee-performance", "/api/analytics/employee-performance/"),
    ("analytics forecast", "/api/analytics/forecast/"),
)
# Untimed load before each timed run: both workers have served the path and its cache is filled.
WARMUP_SECONDS = 2
# The targets the read path works towards: (share of the floor's requests/s, p95 ms, p50 ms), None: no target.
TARGETS = {
    "leads": (0.5, 20.0, None),
    "deals": (0.35, None, None),
    "customers": (0.35, None, None),
    "analytics": (None, None, 50.0),
}


def target_of(name: str):
    return next((target for prefix, target in TARGETS.items() if name.startswith(prefix)), None)


def verdict(row: dict) -> str:
    """'met', or what missed the endpoint's target."""
    target = target_of(row["name"])
    if target is None:
        return ""
    share, p95, p50 = target
    missed = []
    if share is not None and row["floor_ratio"] < share:
        missed.append(f"ratio < {share}")
    if p95 is not None and row["p95_ms"] >= p95:
        missed.append(f"p95 ≥ {p95:g} ms")
    if p50 is not None and row["p50_ms"] >= p50:
        missed.append(f"p50 ≥ {p50:g} ms")
    return "missed: " + ", ".join(missed) if missed else "met"


def costs(owner, organization, path: str) -> dict:
    """SQL queries and Redis round trips of a request once the first has filled the cache (in this process)."""
    client = inprocess.client_for(owner, organization)
    first = inprocess.request_costs(client, path)
    if first["response"].status_code != 200:
        sys.exit(f"{path} answered {first['response'].status_code}: {first['response'].content[:300]!r}")
    steady = inprocess.request_costs(client, path)
    return {"queries": len(steady["queries"]), "redis_round_trips": steady["redis_round_trips"]}


def load(server, path: str, *, headers: dict, duration: int, redis) -> dict:
    """wrk's figures for one path, with the Redis commands the server ran per request meanwhile."""
    processes.wrk(f"{server.url}{path}", duration=WARMUP_SECONDS, headers=headers)
    before = processes.redis_commands(redis)
    run = processes.wrk(f"{server.url}{path}", duration=duration, headers=headers)
    after = processes.redis_commands(redis)
    after["info"] -= 1  # the INFO that read the figures
    requests = max(1, run["requests"])
    commands = {name: round((calls - before.get(name, 0)) / requests, 2) for name, calls in after.items()}
    commands = {name: share for name, share in commands.items() if share}
    errors = sum(run["errors"].values())
    return {
        "requests": run["requests"],
        "requests_per_s": round(run["requests"] / (run["duration_us"] / 1e6), 1),
        "p50_ms": round(run["p50_us"] / 1000, 1),
        "p95_ms": round(run["p95_us"] / 1000, 1),
        "p99_ms": round(run["p99_us"] / 1000, 1),
        "max_ms": round(run["max_us"] / 1000, 1),
        "errors": run["errors"] if errors else None,
        "redis_commands_per_request": round(sum(commands.values()), 2),
        "redis_commands": commands,
    }


def run(owner, organization, *, duration: int, log_dir: Path) -> dict:
    """Serve the app with gunicorn, load every endpoint and the floor with wrk, print and return the figures."""
    import redis as redis_client
    from django.conf import settings

    redis = redis_client.Redis.from_url(settings.REDIS_URL)
    paths = [FLOOR, *ENDPOINTS]
    per_request = {path: costs(owner, organization, path) for _, path in paths}
    headers = {
        "Authorization": f"Bearer {inprocess.access_token(owner)}",
        "X-Organization-ID": str(organization.id),
    }
    rows = []
    with processes.Gunicorn(processes.child_environment(), log_dir, workers=2) as server:
        for name, path in [*paths, FLOOR]:
            figures = load(server, path, headers=headers, duration=duration, redis=redis)
            rows.append({"name": name, "path": path, **figures, **per_request[path]})
            print(f"  {name}: {figures['requests_per_s']} requests/s, p95 {figures['p95_ms']} ms", file=sys.stderr)
    floors = [row for row in rows if row["name"] == FLOOR[0]]
    floor_rate = sum(row["requests_per_s"] for row in floors) / len(floors)
    for row in rows:
        row["floor_ratio"] = round(row["requests_per_s"] / floor_rate, 2)
        row["target"] = verdict(row)
    print_table(rows, duration)
    return {"duration_s": duration, "connections": 4, "wrk_threads": 2, "gunicorn_workers": 2, "endpoints": rows}


def print_table(rows: list[dict], duration: int) -> None:
    print(f"\nHTTP load: gunicorn -w 2 (sync), wrk -t2 -c4 -d{duration:g}s per endpoint")
    print(
        f"{'endpoint':<32} {'req/s':>7} {'× floor':>8} {'p50 ms':>7} {'p95 ms':>7} {'queries':>8} {'redis rt':>9}"
        f" {'redis cmds':>11}  target"
    )
    print("-" * 120)
    for r in rows:
        errors = f"  errors {r['errors']}" if r["errors"] else ""
        print(
            f"{r['name']:<32} {r['requests_per_s']:>7} {r['floor_ratio']:>8} {r['p50_ms']:>7} {r['p95_ms']:>7}"
            f" {r['queries']:>8} {r['redis_round_trips']:>9} {r['redis_commands_per_request']:>11}  {r['target']}"
            f"{errors}"
        )
