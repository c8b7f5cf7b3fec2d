#!/usr/bin/env python
"""Benchmark of the CRM on PostgreSQL and Redis, with two large organizations.

    python bench/run.py [--scale 0.1] [--requests 20] [--explain]      the in-process latency table
    python bench/run.py --http [--duration 10]                         + HTTP load against the floor (wrk)
    python bench/run.py --webhooks --no-inprocess                      webhook load only
    python bench/run.py --lifecycle [--tracemalloc]                    + CSV import and export, lists by record scope

See bench/README.md for what it measures and the figures it gave.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

# Run as a script: the project root (the `bench` package and the app) must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def parse_args():
    """The command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the full size (1M leads per organization)"
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per endpoint (after warm-up)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per endpoint first")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", common.DEFAULT_DATABASE_URL))
    parser.add_argument(
        "--redis-url",
        default=common.DEFAULT_REDIS_URL,
        help="Redis for the cache and the task broker; the benchmark empties this database when it starts",
    )
    parser.add_argument("--output", default=str(common.ROOT / "bench" / "results.json"), help="where the JSON goes")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest query of every endpoint slower than --slow-ms",
    )
    parser.add_argument("--slow-ms", type=float, default=100.0)
    parser.add_argument("--skip-delete", action="store_true", help="don't time deleting a million-lead organization")
    parser.add_argument("--no-inprocess", action="store_true", help="skip the in-process table (and the delete)")
    parser.add_argument("--http", action="store_true", help="HTTP load: gunicorn under wrk, against the floor")
    parser.add_argument("--webhooks", action="store_true", help="webhook load: lead creation and delivery latency")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per wrk run (--http, --webhooks)")
    parser.add_argument(
        "--lifecycle", action="store_true", help="CSV import and export, and the lists as an own-scope member"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="with --lifecycle, trace Python's allocations in one more import"
    )
    args = parser.parse_args()
    if args.scale <= 0 or args.requests < 1 or args.warmup < 1 or args.duration < 1:
        parser.error("--scale must be positive, --requests and --warmup at least 1, --duration at least 1")
    if args.no_inprocess and not (args.http or args.webhooks or args.lifecycle):
        parser.error("--no-inprocess leaves nothing to run without --http, --webhooks or --lifecycle")
    if args.tracemalloc and not args.lifecycle:
        parser.error("--tracemalloc traces an import of --lifecycle")
    return args


def empty_redis(url: str) -> None:
    """Start from an empty cache and task queue, so first requests and deliveries are this run's own."""
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as error:
        sys.exit(f"Redis does not answer at {url} ({error}); start it, or pass --redis-url.")


def describe(organizations) -> dict:
    """Rows per kind in each bench organization."""
    from crmApp.models import Activity, Customer, Deal, HistoryEntry, Lead, Organization

    return {
        org.name: {
            model.__name__: model.objects.filter(organization=org).count()
            for model in (Lead, Customer, Deal, Activity, HistoryEntry)
        }
        for org in Organization.objects.filter(name__in=[name for name, _, _ in organizations])
    }


def main() -> None:
    """Seed if needed, run the modes asked for, print and save the figures."""
    args = parse_args()
    if args.http or args.webhooks:
        from bench.processes import require_wrk

        require_wrk()
    common.ensure_database(args.database_url)
    empty_redis(args.redis_url)
    common.setup_django(args.database_url, args.redis_url)
    from django.db import connection

    from bench import afterwrite, httpload, inprocess, lifecycle, webhooks
    from crmApp.models import Employee

    seed_timings = common.seed(args.scale)
    alpha, owner = common.organization_and_owner(common.ORGANIZATIONS[0][0])
    # `assigned_to=me` needs the owner to be one of the employees.
    if not Employee.objects.filter(organization=alpha, user=owner).exists():
        Employee.objects.filter(pk=Employee.objects.filter(organization=alpha).order_by("id").first().pk).update(
            user=owner
        )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "requests": args.requests,
        "warmup": args.warmup,
        "postgresql": server,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "organizations": describe(common.ORGANIZATIONS),
        "seed": seed_timings,
    }
    log_dir = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    if not args.no_inprocess:
        slow = args.slow_ms if args.explain else None
        report["results"] = inprocess.run(
            owner, alpha, requests=args.requests, warmup=args.warmup, explain_slower_than=slow
        )
        report["after_write"] = afterwrite.run(owner, alpha)
    if args.http:
        report["http"] = httpload.run(owner, alpha, duration=args.duration, log_dir=log_dir)
    if args.webhooks:
        report["webhooks"] = webhooks.run(duration=args.duration, log_dir=log_dir)
    if args.lifecycle:
        report["lifecycle"] = lifecycle.run(
            args.scale, requests=args.requests, warmup=args.warmup, trace=args.tracemalloc
        )
    if not args.no_inprocess:
        report["organization_delete"] = None if args.skip_delete else inprocess.measure_organization_delete(args.scale)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"\nWrote {args.output} (server and worker logs in {log_dir})")
    if args.explain:
        for r in report.get("results", []):
            plan = r.get("slowest_query", {}).get("plan")
            if plan:
                print(f"\n== {r['name']} ({r['slowest_query']['ms']} ms) ==\n{r['slowest_query']['sql'][:400]}\n{plan}")
    if report.get("webhooks", {}).get("failures"):
        sys.exit("Webhook deliveries failed: " + "; ".join(report["webhooks"]["failures"]))


if __name__ == "__main__":
    main()
