"""The first request after a write: what a list or a report costs once a write has made its cached figures stale.

Any write moves the organization's data version (crmApp/caching.py), so the next request of every
list recounts and every report recomputes. Each round PATCHes one lead's notes as the owner, then
asks every list and report of the HTTP load mode once, each one the first of its kind since that write.
"""

import json
import statistics
import time

from bench.httpload import ENDPOINTS
from bench.inprocess import client_for

ROUNDS = 4
TARGET_MS = 250


def timed_get(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
    return ms


def run(owner, organization) -> list[dict]:
    """Write, then time each endpoint's first request, ROUNDS times; print and return the figures."""
    from crmApp.models import Lead

    client = client_for(owner, organization)
    lead = Lead.objects.filter(organization=organization).order_by("id").values_list("id", flat=True).first()
    for _, path in ENDPOINTS:  # every endpoint once before the rounds: its code and plans warm, as in service
        timed_get(client, path)
    times: dict[str, list[float]] = {name: [] for name, _ in ENDPOINTS}
    for number in range(ROUNDS):
        answer = client.patch(
            f"/api/leads/{lead}/", json.dumps({"notes": f"bench write {number}"}), content_type="application/json"
        )
        if answer.status_code != 200:
            raise RuntimeError(f"PATCH of lead {lead} answered {answer.status_code}: {answer.content[:300]!r}")
        for name, path in ENDPOINTS:
            times[name].append(timed_get(client, path))
    rows = [
        {"name": name, "path": path, "ms": [round(ms, 1) for ms in times[name]], "max_ms": round(max(times[name]), 1)}
        for name, path in ENDPOINTS
    ]
    print_table(rows)
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"\nFirst request after a write (a lead PATCHed, then each endpoint once; {ROUNDS} rounds, in-process)")
    print(f"{'endpoint':<32} {'median ms':>10} {'max ms':>8}  target < {TARGET_MS} ms")
    print("-" * 70)
    for row in rows:
        verdict = "met" if row["max_ms"] < TARGET_MS else "missed"
        print(f"{row['name']:<32} {statistics.median(row['ms']):>10.1f} {row['max_ms']:>8}  {verdict}")
