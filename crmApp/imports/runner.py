"""Running an import job: every row through the resource's serializer and service, a batch per transaction.

Each row passes the API's validation (the resource's serializer) and the service's rules (scores, the
workflow, codes), and is written with history (source `import`) and webhook events, in batches: one
transaction, a handful of statements and one progress update per batch. A dry run does the same work
in a transaction that is always rolled back.
"""

import logging
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework.exceptions import APIException, ValidationError

from crmApp.constants import ChangeSource, ImportMode, ImportStatus, MembershipStatus
from crmApp.exceptions import TenantError
from crmApp.imports import reading, resources, storage
from crmApp.models import ApiKey, ImportJob, ImportRowError, Membership
from crmApp.services.base import changed_columns, snapshot
from crmApp.services.integration_service import check_live
from crmApp.services.references import gone_message, gone_references, trashable_references
from crmApp.tenancy import Tenant, key_tenant

logger = logging.getLogger(__name__)
BATCH_ROWS = 1000
STALE_AFTER = timedelta(minutes=5)
DUPLICATE = "duplicate"


class DryRun(Exception):
    """Rolls back a dry run's batch."""


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[ImportRowError] = field(default_factory=list)
    failed_rows: set[int] = field(default_factory=set)


def messages_of(error: Exception) -> list[tuple[str, str]]:
    """(field, message) pairs of a validation or domain error ("" for the row as a whole)."""
    detail = getattr(error, "message_dict", None) or getattr(error, "detail", None) or getattr(error, "messages", None)
    if isinstance(detail, dict):
        return [(name if name != "__all__" else "", str(message)) for name, msgs in detail.items() for message in msgs]
    if isinstance(detail, list):
        return [("", str(message)) for message in detail]
    return [("", str(detail or error))]


class ImportRun:
    """One job, read and written batch by batch."""

    def __init__(self, job: ImportJob, tenant: Tenant):
        self.job = job
        self.tenant = tenant
        self.resource = resources.RESOURCES[job.resource]
        self.service = self.resource.service(tenant)
        self.model = self.service.model
        self.match_on = job.match_on if job.mode == ImportMode.UPSERT else "email"
        self.seen: set[str] = set()  # match keys met earlier in the file
        self.employees = resources.employees_by_id(tenant)
        # One serializer per kind of row (new, or a partial update), its fields built once for the whole job.
        self.serializers = {
            partial: self.resource.serializer(partial=partial, context={"tenant": tenant}) for partial in (False, True)
        }

    def report(self, number: int, tally: Tally, pairs: list[tuple[str, str]]) -> None:
        tally.failed_rows.add(number)
        tally.errors += [
            ImportRowError(organization_id=self.job.organization_id, job=self.job, row=number, field=f, message=m[:500])
            for f, m in pairs
        ]

    def validated(self, number: int, cells: dict[str, str], tally: Tally, *, partial: bool) -> dict | None:
        """The row's fields as the API would take them, or None (with its errors reported)."""
        values, problems = resources.prepared(cells, self.employees, partial=partial)
        # What `is_valid()` runs, without building the serializer's fields again for every row.
        try:
            fields = self.serializers[partial].run_validation(values["plain"])
        except ValidationError as error:
            problems += [(name, str(message)) for name, msgs in error.detail.items() for message in msgs]
        if problems:
            self.report(number, tally, problems)
            return None
        return {**fields, **values["related"]}

    def match_key(self, cells: dict[str, str]) -> str:
        value = cells.get(self.match_on, "").strip()
        return value.lower() if self.match_on == "email" else value

    def existing(self, keys: list[str]) -> dict[str, object]:
        """Live records already stored under the batch's keys: in create mode anywhere in the organization
        (to refuse duplicates), in upsert mode within the caller's record scope (to update them, locked)."""
        if not keys:
            return {}
        if self.job.mode == ImportMode.CREATE:
            rows = self.model.objects.filter(organization=self.tenant.organization)
            stored = rows.annotate(key=Lower("email")).filter(key__in=keys).values_list("key", flat=True)
            return dict.fromkeys(stored, True)
        rows = self.service.records.select_for_update()
        if self.match_on == "email":
            rows = rows.annotate(key=Lower("email")).filter(key__in=keys)
        else:
            rows = rows.filter(code__in=keys)
        return {self.key_of(record): record for record in rows}

    def key_of(self, record) -> str:
        return record.key if self.match_on == "email" else record.code

    def run_batch(self, batch: list[tuple[int, dict[str, str]]], tally: Tally) -> None:
        keyed = [(number, cells, self.match_key(cells)) for number, cells in batch]
        stored = self.existing(sorted({key for _, _, key in keyed if key}))
        creates, updates = [], []
        for number, cells, key in keyed:
            if key and key in self.seen:
                self.report(number, tally, [(self.match_on, DUPLICATE)])
                continue
            if key:
                self.seen.add(key)
            target = stored.get(key) if key else None
            if self.job.mode == ImportMode.CREATE and target is not None:
                self.report(number, tally, [("email", DUPLICATE)])
            elif target is not None:
                fields = self.validated(number, cells, tally, partial=True)
                if fields is not None:
                    updates.append((number, target, fields))
            elif self.match_on == "code" and key:
                self.report(number, tally, [("code", f"No {self.job.resource[:-1]} has the code {key}.")])
            else:
                fields = self.validated(number, {k: v for k, v in cells.items() if k != "code"}, tally, partial=False)
                if fields is not None:
                    creates.append((number, fields))
        self.write_creates(creates, tally)
        self.write_updates(updates, tally)

    def keep_live_references(self, rows: list[tuple[int, object, list[str]]], tally: Tally) -> list[int]:
        """The indexes in `rows` (row number, record, the columns it writes) whose references are still live.

        Those are locked until the batch commits; a row that points at a record trashed since the job
        read it is a row error instead.
        """
        references = trashable_references(self.model)
        wanted: dict[str, set] = {}
        for _, record, columns in rows:
            for attname in columns:
                if attname in references:
                    wanted.setdefault(attname, set()).add(getattr(record, attname))
        gone = gone_references(self.model, wanted)
        kept = []
        for index, (number, record, columns) in enumerate(rows):
            missing = [references[name] for name in columns if getattr(record, name) in gone.get(name, ())]
            if missing:
                self.report(number, tally, [(field.name, gone_message(field)) for field in missing])
            else:
                kept.append(index)
        return kept

    def write_creates(self, creates: list[tuple[int, dict]], tally: Tally) -> None:
        rows, references = [], list(trashable_references(self.model))
        for number, fields in creates:
            record = self.model(organization=self.tenant.organization, created_by=self.tenant.user, **fields)
            try:
                self.service.prepare_create(record)
            except (DjangoValidationError, APIException) as error:
                self.report(number, tally, messages_of(error))
                continue
            rows.append((number, record, references))
        records = [rows[index][1] for index in self.keep_live_references(rows, tally)]
        self.service.insert_rows(records)
        tally.created += len(records)

    def write_updates(self, updates: list[tuple[int, object, dict]], tally: Tally) -> None:
        rows, befores = [], []
        for number, record, fields in updates:
            before = snapshot(record)
            try:
                self.service.apply_update(record, fields)
            except (DjangoValidationError, APIException) as error:
                self.report(number, tally, messages_of(error))
                continue
            columns = changed_columns(record, before)
            if columns:
                rows.append((number, record, columns))
                befores.append(before)
        kept = self.keep_live_references(rows, tally)
        changed = [(rows[index][1], befores[index]) for index in kept]
        names = {rows[index][1]._meta.get_field(column).name for index in kept for column in rows[index][2]}
        self.service.save_rows(changed, sorted(names))
        tally.updated += len(changed)
        tally.skipped += len(updates) - len(changed) - len({n for n, _, _ in updates} & tally.failed_rows)

    def act_as_author(self) -> None:
        """Write the next batch with its author's access as it is now: a role narrowed or a member removed
        since the job started limits (or stops) the rest of the file. Also reads the active webhooks again."""
        self.tenant = authorised_tenant(self.job)
        self.service = self.resource.service(self.tenant)

    def run(self) -> None:
        # The file is read here only, and its bytes are let go once decoded: the job object never holds them.
        text, _ = reading.decode(storage.load_file(self.job.pk))
        batch: list = []
        for row in reading.rows(text, self.job.mapping):
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                self.flush(batch)
                batch = []
        self.flush(batch)

    def flush(self, batch: list) -> None:
        if not batch:
            return
        tally = Tally()
        try:
            with transaction.atomic():
                one_batch_at_a_time(self.job)
                self.act_as_author()
                self.run_batch(batch, tally)
                if self.job.dry_run:
                    raise DryRun
        except DryRun:
            pass
        errors = len(tally.failed_rows)
        with transaction.atomic():
            ImportRowError.objects.bulk_create(tally.errors)
            job = self.job
            job.processed_rows += len(batch)
            job.created += tally.created
            job.updated += tally.updated
            job.skipped += errors + tally.skipped
            job.error_count += errors
            job.save(update_fields=["processed_rows", "created", "updated", "skipped", "error_count"])


def one_batch_at_a_time(job: ImportJob) -> None:
    """Hold the organization's import lock for the job's resource until this batch's transaction ends.

    A batch reads which of its emails (or codes) are stored before it writes, so two jobs' batches
    reading at once would both create the same new record: a file uploaded twice doubled its rows.
    SQLite lets one writer in at a time already.
    """
    if connection.vendor != "postgresql":
        return
    resource = zlib.crc32(f"import:{job.resource}".encode()) & 0x7FFFFFFF
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [job.organization_id, resource])


def importer_tenant(job: ImportJob) -> Tenant:
    """Who the job acts as, as of now: the API key it was started with, or else its author.

    Raises PermissionError once the key can no longer act, or the author is no longer an active member.
    """
    if job.api_key_id is not None:
        key = ApiKey.objects.select_related("organization", "created_by").get(pk=job.api_key_id)
        try:
            check_live(key, timezone.now())
            return key_tenant(key, source=ChangeSource.IMPORT)
        except (LookupError, TenantError) as error:
            raise PermissionError(f"The API key that started this import can no longer act: {error}") from None
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(
            organization_id=job.organization_id,
            user_id=job.created_by_id,
            user__is_active=True,
            status=MembershipStatus.ACTIVE,
        )
        .first()
    )
    if membership is None:
        raise PermissionError("The member who started this import is no longer an active member of the organization.")
    return Tenant.for_membership(membership, source=ChangeSource.IMPORT)


def authorised_tenant(job: ImportJob) -> Tenant:
    """Who the job acts as, as of now; raises PermissionError once they may no longer import into its resource."""
    tenant = importer_tenant(job)
    missing = [code for code in resources.needed_codes(job.resource, job.mode) if not tenant.has(code)]
    if missing:
        author = "API key" if job.api_key_id is not None else "member"
        raise PermissionError(f"The {author} that started this import no longer holds {', '.join(missing)}.")
    return tenant


def run_import(job_id: int) -> None:
    """Run a queued job to the end; a job that is not queued (already taken) is left alone."""
    if not ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(status=ImportStatus.RUNNING):
        return
    job = ImportJob.objects.defer("file").get(pk=job_id)
    try:
        # Checked again as the job starts (the codes may have been taken away while it waited), and before each batch.
        ImportRun(job, authorised_tenant(job)).run()
        job.status = ImportStatus.SUCCEEDED
    except Exception as error:  # the job as a whole failed; the rows done so far stay done
        logger.exception("Import %s failed", job_id)
        job.status, job.failure = ImportStatus.FAILED, str(error)[:500] or type(error).__name__
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "failure", "finished_at"])


def requeue_stale(*, older_than=STALE_AFTER) -> int:
    """Queue again the jobs still waiting after `older_than` (their process died before handing them over)."""
    from crmApp import jobs, tasks

    stale = list(
        ImportJob.objects.filter(status=ImportStatus.QUEUED, created_at__lt=timezone.now() - older_than).values_list(
            "id", flat=True
        )
    )
    for job_id in stale:
        jobs.enqueue(tasks.run_import, job_id)
    return len(stale)
