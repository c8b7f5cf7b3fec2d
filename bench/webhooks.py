"""Webhook load mode: what webhooks cost lead creation over HTTP, and how long a burst of events takes to arrive.

A fresh organization (`Bench Hooks`, 1,000 customers) is served by gunicorn (2 sync workers) while one
Celery worker (`--pool solo`, with its beat) delivers to receivers on 127.0.0.1 that check every
signature. Each round of lead creation under wrk has three phases: no webhook, three (all `*`)
delivered meanwhile, and three whose deliveries wait until the phase ends; after each phase with
webhooks, every created lead must have arrived once at each receiver, correctly signed, before the
next one starts. Then one webhook receives the 1,000 `customer.updated` events of one bulk update,
and each event's time from commit to arrival is measured.
"""

import statistics
import sys
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from bench import inprocess, processes
from bench.common import fresh_organization

HOOKS = ("Bench Hooks", "hooks@bench.example", 4)
WEBHOOKS = 3
ROUNDS = 2
BURST = 1000
# How long the deliveries of a round or of the burst may take to arrive before the missing ones are failures.
DELIVERY_DEADLINE_SECONDS = 180


def ms_figures(values: list[float]) -> dict:
    """p50/p95/max of `values` (seconds) in ms."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "p50_ms": round(inprocess.percentile(values, 0.5) * 1000, 1),
        "p95_ms": round(inprocess.percentile(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def created_at(payload: dict) -> float:
    """The event's `created_at`: set in the writing transaction, just before its commit."""
    return datetime.fromisoformat(payload["created_at"]).timestamp()


class Api:
    """The bench user's calls to the server."""

    def __init__(self, server, token: str, organization_id: int):
        self.server, self.token, self.organization_id = server, token, organization_id

    def call(self, method: str, path: str, body=None, *, expect: int):
        status, answer = self.server.call(method, path, self.token, self.organization_id, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer

    def add_webhooks(self, receivers) -> list[dict]:
        return [self.call("POST", "/api/webhooks/", {"url": r.url, "events": ["*"]}, expect=201) for r in receivers]

    def remove_webhooks(self, webhooks: list[dict]) -> None:
        for webhook in webhooks:
            self.call("DELETE", f"/api/webhooks/{webhook['id']}/", expect=204)


def create_leads(server, headers: dict, duration: int) -> dict:
    """wrk POSTing new leads for `duration` seconds."""
    busy = processes.machine_busy_seconds()
    run = processes.wrk(f"{server.url}/api/leads/", duration=duration, headers=headers, env={"BENCH_CREATE_LEADS": "1"})
    busy = processes.machine_busy_seconds() - busy
    return {
        # Every process's CPU while wrk ran (server, database, worker, receivers, wrk) per created lead: what
        # the ratios come from on a machine that is busy, and steadier than requests/s from run to run.
        "cpu_ms_per_lead": round(busy * 1000 / max(1, run["requests"]), 2),
        "requests": run["requests"],
        "seconds": run["duration_us"] / 1e6,
        "requests_per_s": round(run["requests"] / (run["duration_us"] / 1e6), 1),
        "p50_ms": round(run["p50_us"] / 1000, 1),
        "p95_ms": round(run["p95_us"] / 1000, 1),
        "errors": sum(run["errors"].values()),
    }


def forget(receivers) -> None:
    for receiver in receivers:
        with receiver.lock:
            receiver.received.clear()


def check_arrivals(receivers, webhooks, expected: dict[str, set[int]], since: float) -> dict:
    """Wait until every receiver holds every expected (event type, record id); judge signatures and arrivals.

    Returns the failures (invalid signatures, missing or unexpected deliveries) and each arrival's
    seconds from its event's `created_at` (and from `since`).
    """
    deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
    wanted = sum(len(ids) for ids in expected.values()) * len(receivers)
    while time.monotonic() < deadline and sum(len(r.received) for r in receivers) < wanted:
        time.sleep(0.1)
    failures, from_commit, from_since, last = [], [], [], since
    for number, (receiver, webhook) in enumerate(zip(receivers, webhooks, strict=True), start=1):
        with receiver.lock:
            received = list(receiver.received)
        seen: dict[tuple[str, int], int] = {}
        invalid = 0
        for arrival in received:
            if not arrival.signed_with(webhook["secret"]):
                invalid += 1
                continue
            payload = arrival.payload
            key = (payload["type"], payload["data"]["id"])
            seen[key] = seen.get(key, 0) + 1
            from_commit.append(arrival.at - created_at(payload))
            from_since.append(arrival.at - since)
            last = max(last, arrival.at)
        missing = sum(1 for kind, ids in expected.items() for pk in ids if (kind, pk) not in seen)
        unexpected = sum(1 for kind, pk in seen if pk not in expected.get(kind, ()))
        duplicates = sum(count - 1 for count in seen.values())
        for what, count in (("invalid signatures", invalid), ("missing", missing), ("unexpected", unexpected)):
            if count:
                failures.append(f"webhook {number}: {count} {what}")
        if duplicates:  # delivery is at least once: reported, not a failure
            print(f"  webhook {number}: {duplicates} duplicate deliveries", file=sys.stderr)
    return {"failures": failures, "from_commit": from_commit, "from_since": from_since, "last_arrival": last}


def newest_id(leads) -> int:
    """The id of the newest of `leads` (0 for none): the leads a round creates come after it."""
    from django.db.models import Max

    return leads.aggregate(last=Max("id"))["last"] or 0


def settled(leads) -> set[int]:
    """The ids of `leads` once they stop changing: requests wrk cut off may still be committing."""
    ids = None
    while True:
        time.sleep(0.5)
        now = set(leads.values_list("id", flat=True))
        if now == ids:
            return ids
        ids = now


def webhook_round(api, server, worker, receivers, headers: dict, leads, duration: int, *, queued: bool) -> dict:
    """Create leads with a webhook per receiver, then check every delivery.

    With `queued`, the worker consumes nothing while the leads are created (the deliveries wait in the
    outbox until it resumes): what webhooks cost the write path alone, without the deliveries' CPU.
    """
    webhooks = api.add_webhooks(receivers)
    forget(receivers)
    before = newest_id(leads)
    if queued:
        worker.pause()
    cpu_before = processes.cpu_seconds(worker.process.pid)
    figures = create_leads(server, headers, duration)
    ended = time.time()
    created = settled(leads.filter(id__gt=before))
    if queued:
        worker.resume()
    arrivals = check_arrivals(receivers, webhooks, {"lead.created": created}, ended)
    worker_ms = (processes.cpu_seconds(worker.process.pid) - cpu_before) * 1000
    api.remove_webhooks(webhooks)
    figures.update(
        leads=len(created),
        drained_s=round(arrivals["last_arrival"] - ended, 2),
        worker_cpu_ms_per_delivery=round(worker_ms / max(1, len(created) * len(webhooks)), 2),
    )
    return {"figures": figures, "failures": arrivals["failures"], "latencies": arrivals["from_commit"]}


def lead_rounds(api, server, worker, receivers, headers: dict, organization, duration: int) -> dict:
    """Rounds of lead creation: without webhooks, with WEBHOOKS delivered meanwhile, and with them queued."""
    from crmApp.models import Lead

    leads = Lead.objects.filter(organization=organization)
    rounds, failures, latencies = {"none": [], "webhooks": [], "webhooks_queued": []}, [], []
    for number in range(1, ROUNDS + 1):
        before = newest_id(leads)
        rounds["none"].append(create_leads(server, headers, duration))
        # Its last requests commit before the next round's webhooks exist (else they send an event the
        # next round doesn't expect).
        settled(leads.filter(id__gt=before))
        for queued in (False, True):
            done = webhook_round(api, server, worker, receivers, headers, leads, duration, queued=queued)
            rounds["webhooks_queued" if queued else "webhooks"].append(done["figures"])
            failures += [f"round {number}{' (queued)' if queued else ''}, {f}" for f in done["failures"]]
            if not queued:  # a queued delivery's wait says nothing about the deliverer
                latencies += done["latencies"]
        rates = [rounds[kind][-1]["requests_per_s"] for kind in ("none", "webhooks", "webhooks_queued")]
        print("  round {}: {} / {} / {} leads/s (none / webhooks / webhooks queued)".format(number, *rates))
    return {"rounds": rounds, "failures": failures, "latencies": latencies}


def pooled(runs: list[dict]) -> dict:
    """Requests/s over every round; p50/p95 as the median of the rounds' own."""
    return {
        "requests_per_s": round(sum(r["requests"] for r in runs) / sum(r["seconds"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 1),
        "p95_ms": round(statistics.median(r["p95_ms"] for r in runs), 1),
        "cpu_ms_per_lead": round(statistics.median(r["cpu_ms_per_lead"] for r in runs), 2),
        "errors": sum(r["errors"] for r in runs),
    }


def burst(api, receiver, organization) -> dict:
    """One bulk update queues BURST `customer.updated` events in one commit; time each one's arrival."""
    from crmApp.models import Customer

    ids = list(Customer.objects.filter(organization=organization).order_by("id").values_list("id", flat=True)[:BURST])
    # Every one of them must change, so every one makes an event (no webhook exists yet during this update).
    api.call("POST", "/api/customers/bulk-update/", {"ids": ids, "data": {"status": "inactive"}}, expect=200)
    webhooks = api.add_webhooks([receiver])
    forget([receiver])
    started = time.time()
    answer = api.call("POST", "/api/customers/bulk-update/", {"ids": ids, "data": {"status": "active"}}, expect=200)
    answered = time.time()
    arrivals = check_arrivals([receiver], webhooks, {"customer.updated": set(ids)}, answered)
    api.remove_webhooks(webhooks)
    return {
        "events": answer["updated"],
        "request_s": round(answered - started, 2),
        "from_created_at": ms_figures(arrivals["from_commit"]),
        "from_response": ms_figures(arrivals["from_since"]),
        "drained_s": round(arrivals["last_arrival"] - answered, 2),
        "failures": arrivals["failures"],
    }


def run(*, duration: int, log_dir: Path) -> dict:
    """Start the receivers, a worker and the server; measure; print and return the figures."""
    from crmApp.tests.webhook_receiver import Receiver

    organization, owner = fresh_organization(*HOOKS, customers=BURST, employees=5)
    token = inprocess.access_token(owner)
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Organization-ID": str(organization.id),
        "Content-Type": "application/json",
    }
    # Receivers on 127.0.0.1 over http: allowed for the server and the worker only.
    env = processes.child_environment(WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_ALLOW_HTTP="true")
    env["DJANGO_SETTINGS_MODULE"] = "crmAdmin.settings"
    with ExitStack() as stack:
        receivers = [stack.enter_context(Receiver()) for _ in range(WEBHOOKS)]
        worker = stack.enter_context(processes.CeleryWorker(env, log_dir))
        server = stack.enter_context(processes.Gunicorn(env, log_dir, workers=2))
        api = Api(server, token, organization.id)
        leads = lead_rounds(api, server, worker, receivers, headers, organization, duration)
        burst_figures = burst(api, receivers[0], organization)
    none, hooked = pooled(leads["rounds"]["none"]), pooled(leads["rounds"]["webhooks"])
    queued = pooled(leads["rounds"]["webhooks_queued"])
    report = {
        "duration_s": duration,
        "rounds": leads["rounds"],
        "lead_creation": {
            "none": none,
            "webhooks": hooked,
            "webhooks_queued": queued,
            "ratio": round(hooked["requests_per_s"] / none["requests_per_s"], 3),
            "ratio_queued": round(queued["requests_per_s"] / none["requests_per_s"], 3),
            "delivery_under_load": ms_figures(leads["latencies"]),
            "worker_cpu_ms_per_delivery": round(
                statistics.median(r["worker_cpu_ms_per_delivery"] for r in leads["rounds"]["webhooks"]), 2
            ),
        },
        "burst": burst_figures,
        "failures": leads["failures"] + burst_figures["failures"],
    }
    print_report(report)
    return report


def print_report(report: dict) -> None:
    creation, burst_figures = report["lead_creation"], report["burst"]
    print(f"\nWebhooks: lead creation over HTTP (wrk -t2 -c4, {ROUNDS} rounds of {report['duration_s']:g} s each)")
    print(f"{'webhooks':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/lead':>12} {'errors':>7}")
    rows = (
        ("0", creation["none"]),
        (str(WEBHOOKS), creation["webhooks"]),
        (f"{WEBHOOKS}, queued", creation["webhooks_queued"]),
    )
    for label, figures in rows:
        print(
            f"{label:<12} {figures['requests_per_s']:>8} {figures['p50_ms']:>8} {figures['p95_ms']:>8}"
            f" {figures['cpu_ms_per_lead']:>12} {figures['errors']:>7}"
        )
    ratio = creation["ratio"]
    print(
        f"ratio {ratio} (target ≥ 0.85: {'met' if ratio >= 0.85 else 'missed'});"
        f" with the deliveries queued (the write path alone): {creation['ratio_queued']}"
    )
    under = creation["delivery_under_load"]
    print(
        f"delivery while creating leads, created_at → arrival: p50 {under['p50_ms']} ms, p95 {under['p95_ms']} ms;"
        f" worker CPU {creation['worker_cpu_ms_per_delivery']} ms per delivery"
    )
    p95 = burst_figures["from_created_at"]["p95_ms"]
    print(
        f"\nBurst of {burst_figures['events']} events in one commit ({burst_figures['request_s']} s request),"
        " one worker (--pool solo):"
        f" created_at → arrival p50 {burst_figures['from_created_at']['p50_ms']} ms, p95 {p95} ms"
        f" (target p95 < 2000 ms: {'met' if p95 is not None and p95 < 2000 else 'missed'});"
        f" response → arrival p50 {burst_figures['from_response']['p50_ms']} ms,"
        f" p95 {burst_figures['from_response']['p95_ms']} ms; all arrived {burst_figures['drained_s']} s after the"
        " response"
    )
    print("FAILURES:\n  " + "\n  ".join(report["failures"]) if report["failures"] else "No failures.")
