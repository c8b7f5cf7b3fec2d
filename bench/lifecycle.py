"""Data-lifecycle mode: a CSV import end to end, the CSV export of a million leads, and list speed by record scope.

- **Import**: a leads CSV is written to a temporary upload, handed to `ImportService.start` (what
  `POST /api/imports/` calls), then the job is run by the task the worker runs (`tasks.run_import`),
  in this process: 100,000 rows, 100,000 more with one webhook for every event, and the 200,000-row
  50 MB limit case. The target organization, `Bench Imports` (50 employees), is deleted and seeded
  again on each run, so every run imports into the same state.
- **Export**: `GET /api/leads/export/` of `Bench Alpha` through the test client, the streamed body
  consumed chunk by chunk (never joined), with this process's resident memory sampled as it goes.
- **Lists by record scope**: the list endpoints as the owner (scope `all`) and as a member whose role
  has the `own` scope and who is one of the organization's seeded employees (the records assigned to
  that employee are theirs: about one fiftieth of each list).

Memory is this process's resident set (Linux `/proc/self/status`): before each measured step the memory
freed so far goes back to the system (glibc's `malloc_trim`) and the high-water mark is reset
(`/proc/self/clear_refs`), so the growth to the peak is the step's own. With `trace`, Python's
allocations are traced too (`tracemalloc`, which slows the step down: its time is not reported).
"""

import csv
import sys
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path
from random import Random

from bench import inprocess
from bench.common import ORGANIZATIONS, fresh_organization, organization_and_owner

IMPORTS = ("Bench Imports", "imports@bench.example", 5)
IMPORT_EMPLOYEES = 50
IMPORT_ROWS = 100_000
# The file limit case: reading.MAX_ROWS rows, padded (notes) to just under reading.MAX_BYTES.
LIMIT_ROWS = 200_000
LIMIT_MARGIN_BYTES = 64 * 1024
# One row in this many has an address the serializer refuses: the error path runs too.
BAD_EMAIL_EVERY = 200
# (name, rows: None for the scaled IMPORT_ROWS, else the padded limit case; first email number; with the webhook)
IMPORT_RUNS = (
    ("import", None, 1, False),
    ("import with a webhook", None, 10_000_001, True),
    ("limit file", LIMIT_ROWS, 20_000_001, False),
)
IMPORT_TARGET_ROWS_PER_S = 2000
EXPORT_SAMPLE_EVERY = 100_000
MEMBER = "rep@bench.example"
LIST_ENDPOINTS = (
    ("leads list", "/api/leads/"),
    ("customers list", "/api/customers/"),
    ("deals list", "/api/deals/"),
    ("activities list", "/api/activities/"),
)
# Own-scope lists within this share of the all-scope ones.
OWN_TOLERANCE = 0.20
# What bench/README.md recorded before soft delete existed (`A run with Redis set by the bench`), shown
# next to the lists; only figures of the same minutes compare (the README's lifecycle figures do).
README_BEFORE_MEDIAN_MS = {"leads list": 9.9, "customers list": 9.0, "deals list": 14.6}
COLUMNS = (
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Company",
    "Job Title",
    "Source",
    "Estimated Value",
    "Status",
    "Assigned To",
    "Notes",
)
# A lead may be imported in any status that is not final (crmApp.services.lead_service.START_STATUSES).
IMPORT_STATUSES = ("new", "new", "new", "contacted", "contacted", "qualified", "unqualified")


# --- memory ---------------------------------------------------------------------------------------------
def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (`VmRSS`) or its high-water mark (`VmHWM`), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def release_free_memory() -> None:
    """Hand the memory earlier steps freed back to the system, so the next step's growth is its own.

    Without it a step reuses what the seeding and the earlier steps left free inside the process, and its
    resident memory does not grow at all whatever it needs.
    """
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak_rss() -> None:
    """Start a new resident-memory high-water mark (Linux: writing 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


@contextmanager
def footprint(*, trace: bool = False):
    """Seconds, resident memory before and at its peak, and (with `trace`) the Python allocation peak of the block."""
    measured: dict = {}
    release_free_memory()
    reset_peak_rss()
    measured["rss_before_mib"] = round(rss_mib(), 1)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        yield measured
    finally:
        measured["seconds"] = round(time.perf_counter() - started, 2)
        if trace:
            measured["python_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()
        measured["rss_peak_mib"] = round(rss_mib("VmHWM"), 1)
        measured["rss_growth_mib"] = round(measured["rss_peak_mib"] - measured["rss_before_mib"], 1)


# --- import ---------------------------------------------------------------------------------------------
def set_webhook(organization, *, active: bool) -> None:
    """Give the organization one webhook for every event (never delivered: its address is not served), or none.

    Turned off, it takes the deliveries it queued along, so that no later worker tries to send them.
    """
    from crmApp.models import Webhook, WebhookDelivery

    if active:
        Webhook.objects.create(
            organization=organization, url="https://hooks.bench.example/crm", secret="whsec_bench", events=["*"]
        )
        return
    WebhookDelivery.objects.filter(organization=organization).delete()
    Webhook.objects.filter(organization=organization).delete()


def lead_rows(count: int, *, first: int, employee_ids: list[int], notes_bytes: int = 0, seed: int = 1):
    """`count` CSV rows of leads, the email of each unique from `first` on; one in BAD_EMAIL_EVERY is invalid."""
    from crmApp.constants import LeadSource
    from crmApp.seeding import pools

    rng = Random(seed)
    sources = [source.value for source in LeadSource]
    filler = ("Called twice, wants a demo of the reporting and the import of their old contacts. " * 40)[:notes_bytes]
    for number in range(first, first + count):
        first_name, last_name = rng.choice(pools.FIRST_NAMES), rng.choice(pools.LAST_NAMES)
        email = f"{first_name}.{last_name}.{number}@import.example".lower()
        if number % BAD_EMAIL_EVERY == 0:
            email = email.replace("@", " at ")
        yield (
            first_name,
            last_name,
            email,
            f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}" if rng.random() < 0.7 else "",
            rng.choice(pools.COMPANIES) if rng.random() < 0.8 else "",
            rng.choice(pools.JOB_TITLES) if rng.random() < 0.6 else "",
            rng.choice(sources),
            f"{rng.randrange(1, 500) * 500}.00" if rng.random() < 0.5 else "",
            rng.choice(IMPORT_STATUSES),
            str(rng.choice(employee_ids)) if employee_ids and rng.random() < 0.85 else "",
            filler or rng.choice(pools.NOTES),
        )


def write_csv(path: Path, rows) -> int:
    """Write the header and `rows` to `path`; returns the file's size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path.stat().st_size


def limit_notes_bytes(employee_ids: list[int], workdir: Path) -> int:
    """The notes length that brings a LIMIT_ROWS file to just under the 50 MB limit (from a 1,000-row sample)."""
    from crmApp.imports.reading import MAX_BYTES

    sample = workdir / "sample.csv"
    bare = write_csv(sample, lead_rows(1000, first=1, employee_ids=employee_ids))
    sample.unlink()
    per_row = bare / 1000
    return max(0, int((MAX_BYTES - LIMIT_MARGIN_BYTES) / LIMIT_ROWS - per_row))


@contextmanager
def upload_of(path: Path):
    """The file as Django hands a large upload to a view: a TemporaryUploadedFile on disk."""
    from django.core.files.uploadedfile import TemporaryUploadedFile

    upload = TemporaryUploadedFile("leads.csv", "text/csv", path.stat().st_size, "utf-8")
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            upload.write(chunk)
    upload.seek(0)
    try:
        yield upload
    finally:
        upload.close()


def timed_import(organization, owner, path: Path, *, trace: bool = False) -> dict:
    """Import `path` as `owner`: the service behind POST /api/imports/, then the job as the worker runs it."""
    from crmApp import tasks
    from crmApp.models import ImportJob, Membership
    from crmApp.services.import_service import ImportService
    from crmApp.tenancy import Tenant

    membership = Membership.objects.select_related("organization", "user").get(organization=organization, user=owner)
    with upload_of(path) as upload, footprint(trace=trace) as measured:
        job = ImportService(Tenant.for_membership(membership)).start(
            upload=upload, resource="leads", mode="create", match_on="email", mapping=None, dry_run=False
        )
        started = time.perf_counter()
        tasks.run_import(job.id)  # what the worker runs for the task start() queued
        measured["run_seconds"] = round(time.perf_counter() - started, 2)
    job = ImportJob.objects.get(pk=job.id)
    result = {
        "rows": job.total_rows,
        "bytes": path.stat().st_size,
        "status": job.status,
        "created": job.created,
        "errors": job.error_count,
        **measured,
        "start_seconds": round(measured["seconds"] - measured["run_seconds"], 2),
    }
    if not trace:
        result["rows_per_s"] = round(job.total_rows / measured["seconds"])
    return result


def check_import(result: dict, organization, *, first: int, since, events: bool) -> None:
    """Every valid row was created with its history (and its webhook event, with `events`); every invalid one listed."""
    from crmApp.models import HistoryEntry, OutboxEvent

    invalid = sum(1 for number in range(first, first + result["rows"]) if number % BAD_EMAIL_EVERY == 0)
    expected = {"status": "succeeded", "created": result["rows"] - invalid, "errors": invalid}
    found = {name: result[name] for name in expected}
    if found != expected:
        sys.exit(f"The import did not do what it should: {found} instead of {expected}")
    created = HistoryEntry.objects.filter(
        organization=organization, at__gte=since, event="created", source="import"
    ).count()
    queued = OutboxEvent.objects.filter(organization=organization, created_at__gte=since, type="lead.created").count()
    if (created, queued) != (expected["created"], expected["created"] if events else 0):
        sys.exit(f"{expected['created']} leads imported: {created} `created` history entries, {queued} events")


def measure_imports(scale: float, *, trace: bool, limit: bool) -> dict:
    """Import IMPORT_ROWS (scaled) leads into a fresh `Bench Imports`, again with a webhook, then the 50 MB file.

    Each file has emails of its own, so every valid row is created. With `trace`, one more import of the
    first size measures Python's allocation peak (tracing slows it down: its time is not reported).
    """
    import tempfile

    from django.utils import timezone

    from crmApp.models import Employee

    organization, owner = fresh_organization(*IMPORTS, employees=IMPORT_EMPLOYEES)
    employee_ids = list(Employee.objects.filter(organization=organization).values_list("id", flat=True))
    runs = [run for run in IMPORT_RUNS if limit or run[1] is None]
    if trace:
        runs.append(("import, traced", None, 30_000_001, False))
    results = {"organization": IMPORTS[0]}
    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as workdir:
        path = Path(workdir) / "leads.csv"
        for name, limit_rows, first, webhook in runs:
            rows = limit_rows or max(1, round(IMPORT_ROWS * scale))
            notes = limit_notes_bytes(employee_ids, Path(workdir)) if limit_rows else 0
            write_csv(path, lead_rows(rows, first=first, employee_ids=employee_ids, notes_bytes=notes))
            set_webhook(organization, active=webhook)
            since = timezone.now()
            result = timed_import(organization, owner, path, trace=name.endswith("traced"))
            check_import(result, organization, first=first, since=since, events=webhook)
            set_webhook(organization, active=False)
            result["webhook"] = webhook
            results[name] = result
            print_import(name, result)
    return results


def print_import(label: str, result: dict) -> None:
    rate = f"{result['rows_per_s']:,} rows/s" if "rows_per_s" in result else "(traced: not timed)"
    python = f", Python peak {result['python_peak_mib']} MiB" if "python_peak_mib" in result else ""
    print(
        f"  {label}: {result['rows']:,} rows, {result['bytes'] / 2**20:.1f} MiB in {result['seconds']} s"
        f" (start {result['start_seconds']} s, job {result['run_seconds']} s): {rate};"
        f" RSS +{result['rss_growth_mib']} MiB at peak{python}; {result['created']:,} created,"
        f" {result['errors']:,} refused",
        file=sys.stderr,
    )


# --- export ---------------------------------------------------------------------------------------------
def timed_export(client, path: str = "/api/leads/export/") -> dict:
    """Stream one export through the test client, reading it chunk by chunk; RSS is sampled every 100,000 rows."""
    samples = []
    with footprint() as measured:
        response = client.get(path)
        if response.status_code != 200:
            sys.exit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
        records, size = 0, 0
        for chunk in response.streaming_content:  # one CSV record each (a note may hold line breaks)
            size += len(chunk)
            records += 1
            if records > 1 and (records - 1) % EXPORT_SAMPLE_EVERY == 0:
                samples.append(round(rss_mib(), 1))
        response.close()
    rows = records - 1  # the header
    return {
        "path": path,
        "rows": rows,
        "bytes": size,
        **measured,
        "rss_samples_mib": samples,
        "rows_per_s": round(rows / measured["seconds"]),
    }


def measure_export(owner, organization) -> dict:
    """The export of the organization's leads, checked against its lead count."""
    from crmApp.models import Lead

    result = timed_export(inprocess.client_for(owner, organization))
    expected = Lead.objects.filter(organization=organization).count()
    if result["rows"] != expected:
        sys.exit(f"The export held {result['rows']:,} rows; the organization has {expected:,} leads")
    samples = result["rss_samples_mib"]
    print(
        f"  export: {result['rows']:,} rows, {result['bytes'] / 2**20:.0f} MiB in {result['seconds']} s"
        f" ({result['rows_per_s']:,} rows/s); RSS +{result['rss_growth_mib']} MiB at peak,"
        f" every {EXPORT_SAMPLE_EVERY:,} rows: {samples}",
        file=sys.stderr,
    )
    return result


# --- lists by record scope ------------------------------------------------------------------------------
def own_scope_member(organization):
    """A member of `organization` whose role shows their own records only, made one of its seeded employees.

    The employee is the second one by id (run.py gives the first to the owner); what is assigned to it
    is what the member sees.
    """
    from crmApp.constants import MembershipRole, MembershipStatus, RecordScope
    from crmApp.models import Employee, Membership, Permission, Role, User, UserRole

    user = User.objects.find_by_email(MEMBER) or User.objects.create_user(MEMBER, "bench-only-password")
    member = {"role": MembershipRole.MEMBER, "status": MembershipStatus.ACTIVE}
    Membership.objects.get_or_create(user=user, organization=organization, defaults=member)
    role, _ = Role.objects.get_or_create(
        organization=organization, name="Bench rep", defaults={"record_scope": RecordScope.OWN}
    )
    codes = [f"{resource}:view" for resource in ("leads", "customers", "deals", "activities")]
    role.permissions.set(Permission.objects.filter(code__in=codes))
    UserRole.objects.get_or_create(organization=organization, user=user, role=role)
    if not Employee.objects.filter(organization=organization, user=user).exists():
        employee = Employee.objects.filter(organization=organization, user__isnull=True).order_by("id")[1]
        Employee.objects.filter(pk=employee.pk).update(user=user)
    return user


def visible_counts(user, organization) -> dict:
    """How many records of each listed kind `user` sees (their list's `count`)."""
    client = inprocess.client_for(user, organization)
    return {name: client.get(path).json()["count"] for name, path in LIST_ENDPOINTS}


def measure_lists(owner, organization, *, requests: int, warmup: int) -> dict:
    """Each list as the owner and as the own-scope member, alternately, so both see the machine in the same state."""
    member = own_scope_member(organization)
    counts = {"all": visible_counts(owner, organization), "own": visible_counts(member, organization)}
    results = []
    for name, path in LIST_ENDPOINTS:
        row = {"name": name, "path": path}
        for scope, user in (("all", owner), ("own", member)):
            measured = inprocess.measure(
                name, path, inprocess.client_for(user, organization), requests=requests, warmup=warmup
            )
            row[scope] = {key: measured.get(key) for key in ("status", "median_ms", "p95_ms", "first_ms", "queries")}
            row[scope]["later_queries"] = measured.get("steady_queries")
            row[scope]["count"] = counts[scope][name]
        if row["all"]["median_ms"] and row["own"]["median_ms"]:
            row["own_ratio"] = round(row["own"]["median_ms"] / row["all"]["median_ms"], 2)
        before = README_BEFORE_MEDIAN_MS.get(name)
        if before and row["all"]["median_ms"]:
            row["readme_before_ms"] = before
            row["vs_before"] = round(row["all"]["median_ms"] / before, 2)
        results.append(row)
        print(f"  {name}: all {row['all']['median_ms']} ms, own {row['own']['median_ms']} ms", file=sys.stderr)
    return {"member": MEMBER, "results": results}


def print_lists(lists: dict) -> None:
    print(
        f"\n{'list':<16} {'all ms':>7} {'p95':>6} {'rows':>9} {'own ms':>7} {'p95':>6} {'rows':>7} {'own/all':>8}"
        f" {'README before':>14} {'now/before':>11}"
    )
    for row in lists["results"]:
        every, own = row["all"], row["own"]
        print(
            f"{row['name']:<16} {every['median_ms']:>7} {every['p95_ms']:>6} {every['count']:>9,} {own['median_ms']:>7}"
            f" {own['p95_ms']:>6} {own['count']:>7,} {row.get('own_ratio', '—'):>8}"
            f" {row.get('readme_before_ms', '—'):>14} {row.get('vs_before', '—'):>11}"
        )
    ratios = [row["own_ratio"] for row in lists["results"] if "own_ratio" in row]
    if ratios:
        worst = max(ratios)
        verdict = "met" if worst <= 1 + OWN_TOLERANCE else "missed"
        print(f"own scope within {OWN_TOLERANCE:.0%} of all: {verdict} (worst ratio {worst})")


# --- the mode -------------------------------------------------------------------------------------------
def run(scale: float, *, requests: int, warmup: int, trace: bool = False, limit: bool = True) -> dict:
    """Measure imports, the export and the lists by scope; print and return the figures."""
    alpha, owner = organization_and_owner(ORGANIZATIONS[0][0])
    print("\nLifecycle: lists by record scope", file=sys.stderr)
    lists = measure_lists(owner, alpha, requests=requests, warmup=warmup)
    print("Lifecycle: export", file=sys.stderr)
    export = measure_export(owner, alpha)
    print("Lifecycle: import", file=sys.stderr)
    imports = measure_imports(scale, trace=trace, limit=limit)
    report = {"lists": lists, "export": export, "imports": imports, "load_average": load_average()}
    print_report(report)
    return report


def load_average() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages."""
    import os

    return [round(value, 2) for value in os.getloadavg()]


def print_report(report: dict) -> None:
    print_lists(report["lists"])
    export = report["export"]
    print(
        f"\nExport of {export['rows']:,} leads: {export['seconds']} s, RSS peak +{export['rss_growth_mib']} MiB;"
        f" RSS every {EXPORT_SAMPLE_EVERY:,} rows: {export['rss_samples_mib']}"
    )
    for name, result in report["imports"].items():
        if isinstance(result, dict):
            rate = f", {result['rows_per_s']:,} rows/s" if "rows_per_s" in result else ""
            python = f", Python peak {result['python_peak_mib']} MiB" if "python_peak_mib" in result else ""
            print(
                f"{name}: {result['rows']:,} rows ({result['bytes'] / 2**20:.1f} MiB) in {result['seconds']} s{rate},"
                f" RSS peak +{result['rss_growth_mib']} MiB{python}"
            )
    verdict = "met" if report["imports"]["import"]["rows_per_s"] >= IMPORT_TARGET_ROWS_PER_S else "missed"
    print(f"import target ≥ {IMPORT_TARGET_ROWS_PER_S:,} rows/s (no webhook): {verdict}")
    print(f"load average {report['load_average']}")
