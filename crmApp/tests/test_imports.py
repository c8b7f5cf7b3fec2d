"""CSV import and export: encodings, mapping, create and upsert, duplicates, errors, dry runs, the round trip."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from crmApp import jobs
from crmApp.imports.runner import DUPLICATE, run_import
from crmApp.models import ApiKey, Customer, HistoryEntry, ImportJob, Lead, OutboxEvent, UserRole
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    RoleFactory,
    UserRoleFactory,
)
from crmApp.tests.test_webhooks import make_webhook

pytestmark = pytest.mark.django_db


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(client, content: bytes, **form):
    form = {"resource": "leads", **form}
    form["file"] = SimpleUploadedFile("data.csv", content, content_type="text/csv")
    return client.post("/api/imports/", form, format="multipart")


def test_an_upload_over_the_5_mb_body_limit_reaches_the_import_and_one_over_51_mb_is_refused(owner_client):
    # 6 MB of bytes that are neither UTF-8 nor Windows-1252: read and refused by the import itself.
    response = upload(owner_client, b"name\n" + b"\x81" * (6 * 1024 * 1024))
    assert response.status_code == 400 and "file" in response.json()["errors"], response.content

    declared = owner_client.generic("POST", "/api/imports/", b"", CONTENT_LENGTH=str(52 * 1024 * 1024))
    assert declared.status_code == 413 and declared.json()["detail"] == "Request body is too large (51 MB at most)."
    assert ImportJob.objects.count() == 0


def started(client, content: bytes, **form) -> dict:
    response = upload(client, content, **form)
    assert response.status_code == 202, response.json()
    return response.json()


def errors(client, job: dict) -> list[tuple[int, str, str]]:
    rows = client.get(f"/api/imports/{job['id']}/errors/").json()["results"]
    return [(row["row"], row["field"], row["message"]) for row in rows]


def exported(client, resource: str, **query) -> str:
    response = client.get(f"/api/{resource}/export/", query)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


# --- import ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        *("", "\n", "a", "a,b\nc,d", "a\r\nb\r\n", 'a,"x\ny"\r\nb', "x\x85y\u2028z\x0c\n\n", "\n\n\na"),
        *("a\rb\r", 'a,"x\ry"\rb', "a\r\rb\r\n\n\rc", "\r"),
    ],
)
def test_a_file_is_read_line_by_line_as_a_stringio_for_csv_would_give_it(text):
    from crmApp.imports import reading

    assert list(reading.lines(text)) == list(io.StringIO(text, newline=""))


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"], ids=["unix", "windows", "old mac"])
def test_every_line_ending_is_read_and_kept_inside_quoted_cells(owner_client, line_end):
    rows = [["first_name", "notes"], ["Ada", f"one{line_end}two"], ["Bo", ""]]
    content = "".join(",".join(f'"{cell}"' for cell in row) + line_end for row in rows).encode()
    job = started(owner_client, content)
    assert (job["total_rows"], job["created"]) == (2, 2)
    assert Lead.objects.get(first_name="Ada").notes == f"one{line_end}two"


def test_a_leads_file_is_imported_with_scores_codes_history_and_events(owner_client, owner, organization):
    make_webhook(organization)
    content = csv_bytes([["First Name", "Last-Name", "EMAIL", "Company"], ["Ada", "Lovelace", "ada@x.io", "Engines"]])
    job = started(owner_client, content)

    assert (job["status"], job["total_rows"], job["processed_rows"], job["created"]) == ("succeeded", 1, 1, 1)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.company) == ("Ada", "Lovelace", "ada@x.io", "Engines")
    assert lead.score > 0 and lead.code == "LEAD-0001" and lead.created_by == owner
    created = HistoryEntry.objects.get(record_type="lead", record_id=lead.id, event="created")
    assert created.source == "import"
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ["lead.created"]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""), ("cp1252", b"\xef\xbb\xbf")],
    ids=["utf-8", "utf-8 with BOM", "windows-1252", "windows-1252 after a UTF-8 BOM"],
)
def test_encodings_are_detected(owner_client, encoding, bom):
    content = bom + csv_bytes([["first_name", "company"], ["Zoë", "Café Müller"]], encoding)
    started(owner_client, content)
    assert Lead.objects.values_list("first_name", "company").get() == ("Zoë", "Café Müller")
    # The job keeps its file as UTF-8 without a BOM, whatever came.
    assert bytes(ImportJob.objects.get().file) == csv_bytes([["first_name", "company"], ["Zoë", "Café Müller"]])


@pytest.mark.parametrize(
    ("content", "form", "field"),
    [
        (b"\x00\x01\x02binary", {}, "file"),
        (b"\x81\x8d\x8f\x90", {}, "file"),
        (csv_bytes([["colour", "size"], ["red", "L"]]), {}, "file"),
        (b"", {}, "file"),
        (csv_bytes([["first_name"], ["Ada"]]), {"resource": "deals"}, "resource"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mode": "merge"}, "mode"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mapping": "{not json"}, "mapping"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mapping": '{"Nope": "first_name"}'}, "mapping"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mapping": '{"first_name": "score"}'}, "mapping"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mapping": "[" * 100_000 + "]" * 100_000}, "mapping"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mapping": '{"\\ud800": "first_name"}'}, "mapping"),
        (csv_bytes([["First Name", "first_name"], ["Ada", "Bo"]]), {}, "file"),
        (csv_bytes([["email", "first_name", "email"], ["a@x.io", "A", "b@x.io"]]), {}, "file"),
        (csv_bytes([["A", "B"], ["a@x.io", "b@x.io"]]), {"mapping": '{"A": "email", "B": "email"}'}, "mapping"),
        (csv_bytes([["email", "email"], ["a@x.io", "b@x.io"]]), {"mapping": '{"email": "email"}'}, "mapping"),
        (csv_bytes([["first_name"], ["Ada"]]), {"mode": "upsert"}, "match_on"),
    ],
)
def test_unreadable_uploads_are_a_400_and_queue_nothing(owner_client, content, form, field):
    response = upload(owner_client, content, **form)
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not ImportJob.objects.exists()


def test_a_file_over_the_row_limit_is_refused(owner_client, monkeypatch):
    from crmApp.imports import reading

    monkeypatch.setattr(reading, "MAX_ROWS", 2)
    response = upload(owner_client, csv_bytes([["first_name"], ["A"], ["B"], ["C"]]))
    assert response.status_code == 400 and "rows" in response.json()["errors"]["file"][0]


def test_an_explicit_mapping_picks_the_columns(owner_client):
    content = csv_bytes([["Given", "Org", "first_name"], ["Ada", "Engines", "ignored"]])
    started(owner_client, content, mapping='{"Given": "first_name", "Org": "company"}')
    assert Lead.objects.values_list("first_name", "company").get() == ("Ada", "Engines")


def test_bad_rows_are_listed_and_the_rest_imported(owner_client, organization, other_organization):
    foreign = EmployeeFactory(organization=other_organization)
    content = csv_bytes(
        [
            ["first_name", "email", "estimated_value", "status", "assigned_to"],
            ["Ada", "ada@x.io", "10.50", "new", ""],
            ["Bo", "not-an-email", "", "", ""],
            ["Cy", "", "-5", "", ""],
            ["Di", "", "", "converted", ""],
            ["Ed", "", "", "", str(foreign.id)],
            ["Flo", "", "", "qualified", ""],
        ]
    )
    job = started(owner_client, content)
    assert (job["created"], job["skipped"], job["error_count"], job["processed_rows"]) == (2, 4, 4, 6)
    listed = errors(owner_client, job)
    assert [(row, field) for row, field, _ in listed] == [
        (2, "email"),
        (3, "estimated_value"),
        (4, ""),
        (5, "assigned_to"),
    ]
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == ["Ada", "Flo"]
    assert Lead.objects.get(first_name="Flo").qualified_at is not None  # the workflow's rules held


@pytest.mark.parametrize("field", ["first_name", "notes"])
def test_a_cell_over_a_megabyte_is_an_error_of_its_row_not_of_the_file(owner_client, field):
    oversized = {"first_name": "B", "notes": "b", field: "x" * (1024 * 1024 + 1)}
    content = csv_bytes([["first_name", "notes"], ["A", "a"], [oversized["first_name"], oversized["notes"]]])
    job = started(owner_client, content)
    assert (job["created"], job["error_count"]) == (1, 1)
    assert [(row, name) for row, name, _ in errors(owner_client, job)] == [(2, field)]


def test_create_mode_skips_duplicates_of_the_organization_and_of_the_file(owner_client, organization):
    LeadFactory(organization=organization, email="Taken@X.io")
    content = csv_bytes(
        [["first_name", "email"], ["A", "taken@x.io"], ["B", "new@x.io"], ["C", "NEW@x.io"], ["D", ""], ["E", ""]]
    )
    job = started(owner_client, content)
    assert (job["created"], job["skipped"], job["error_count"]) == (3, 2, 2)
    assert errors(owner_client, job) == [(1, "email", "duplicate"), (3, "email", "duplicate")]


def test_upsert_updates_matches_and_creates_the_rest(owner_client, organization):
    lead = LeadFactory(organization=organization, email="ada@x.io", company="Old")
    content = csv_bytes([["email", "company", "first_name"], ["ADA@x.io", "New", ""], ["bo@x.io", "Other", "Bo"]])
    job = started(owner_client, content, mode="upsert")
    assert (job["created"], job["updated"], job["skipped"]) == (1, 1, 0)
    lead.refresh_from_db()
    assert (lead.company, lead.version) == ("New", 2)
    assert lead.first_name  # an empty cell leaves the field as it was
    assert HistoryEntry.objects.get(record_type="lead", record_id=lead.id, kind="change").source == "import"


def test_upsert_on_code_updates_by_code_and_lists_unknown_codes(owner_client, organization):
    lead = LeadFactory(organization=organization, company="Old")
    content = csv_bytes([["code", "company"], [lead.code, "New"], ["LEAD-9999", "Ghost"]])
    job = started(owner_client, content, mode="upsert", match_on="code")
    assert (job["updated"], job["created"], job["error_count"]) == (1, 0, 1)
    assert errors(owner_client, job)[0][:2] == (2, "code")
    assert Lead.objects.get(pk=lead.pk).company == "New"


def test_upsert_needs_the_update_code_too(member_client):
    content = csv_bytes([["email", "first_name"], ["a@x.io", "A"]])
    assert upload(member_client(["leads:create"]), content, mode="upsert").status_code == 403
    assert upload(member_client(["leads:view"]), content).status_code == 403
    assert upload(member_client(["leads:create", "leads:update"]), content, mode="upsert").status_code == 202


@pytest.mark.parametrize(
    ("mode", "codes_left"),
    [("create", []), ("create", ["leads:view"]), ("upsert", ["leads:create"]), ("upsert", ["leads:update"])],
)
def test_a_queued_job_runs_only_while_its_author_still_holds_the_codes(
    make_member, organization, monkeypatch, mode, codes_left
):
    monkeypatch.setattr(jobs, "enqueue", lambda task, *args: None)  # queued: run below, once the codes changed
    lead = LeadFactory(organization=organization, email="a@x.io", company="Old")
    member = make_member(["leads:create", "leads:update"])
    content = csv_bytes([["email", "first_name", "company"], ["a@x.io", "A", "New"], ["b@x.io", "B", "New"]])
    job = started(make_client(member, organization), content, mode=mode)
    UserRole.objects.filter(user=member).delete()
    if codes_left:
        UserRoleFactory(user=member, role=RoleFactory(organization=organization, codes=codes_left))

    run_import(job["id"])

    stored = ImportJob.objects.get(pk=job["id"])
    assert (stored.status, stored.created, stored.updated) == ("failed", 0, 0)
    assert "no longer holds" in stored.failure
    assert Lead.objects.filter(organization=organization).count() == 1
    assert Lead.objects.get(pk=lead.pk).company == "Old"


@pytest.mark.parametrize("narrowing", ["codes", "scope"])
def test_a_running_job_follows_its_authors_access_from_its_next_batch(
    make_member, organization, monkeypatch, narrowing
):
    from crmApp.imports import runner

    monkeypatch.setattr(jobs, "enqueue", lambda task, *args: None)  # run below
    monkeypatch.setattr(runner, "BATCH_ROWS", 2)
    theirs = LeadFactory(organization=organization, email="c@x.io", company="Old")
    member = make_member()
    role = RoleFactory(organization=organization, codes=["leads:view", "leads:create", "leads:update"])
    UserRoleFactory(user=member, role=role)
    rows = [["email", "first_name", "company"], ["a@x.io", "A", "New"], ["b@x.io", "B", "New"]]
    job_id = started(make_client(member, organization), csv_bytes([*rows, ["c@x.io", "C", "New"]]), mode="upsert")["id"]
    flush = runner.ImportRun.flush

    def narrow_after_the_first_batch(run, batch):
        flush(run, batch)
        if run.job.processed_rows == 2:
            if narrowing == "codes":
                role.permissions.clear()
            else:
                role.record_scope = "own"
                role.save(update_fields=["record_scope"])

    monkeypatch.setattr(runner.ImportRun, "flush", narrow_after_the_first_batch)
    run_import(job_id)

    stored = ImportJob.objects.get(pk=job_id)
    assert Lead.objects.get(pk=theirs.pk).company == "Old"
    if narrowing == "codes":
        assert (stored.status, stored.created, stored.processed_rows) == ("failed", 2, 2)
        assert "no longer holds" in stored.failure
    else:  # the lead of someone else is no longer theirs to update: the row makes a lead of their own
        assert (stored.status, stored.created, stored.updated) == ("succeeded", 3, 0)


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        ("revoked", "was revoked"),
        ("expired", "has expired"),
        ("narrowed", "no longer holds"),
        ("deactivated", "no longer"),
        (None, None),
    ],
)
def test_a_job_started_with_an_api_key_runs_with_the_key_and_stops_once_it_is_revoked(
    owner, owner_client, organization, monkeypatch, change, failure
):
    from crmApp.imports import runner
    from crmApp.tests.test_api_keys import issue, key_client

    monkeypatch.setattr(jobs, "enqueue", lambda task, *args: None)  # run below
    monkeypatch.setattr(runner, "BATCH_ROWS", 1)
    key = issue(owner_client, ["leads:create", "leads:update"])
    rows = [["email", "first_name"], ["a@x.io", "A"], ["b@x.io", "B"]]
    job_id = started(key_client(key["key"], organization), csv_bytes(rows), mode="upsert")["id"]
    assert ImportJob.objects.get(pk=job_id).api_key_id == key["id"]
    flush = runner.ImportRun.flush

    def change_the_key_after_the_first_batch(run, batch):
        flush(run, batch)
        stored = ApiKey.objects.get(pk=key["id"])
        if change == "revoked":
            owner_client.delete(f"/api/api-keys/{key['id']}/")
        elif change == "expired":
            ApiKey.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        elif change == "narrowed":
            ApiKey.objects.filter(pk=stored.pk).update(scopes=["leads:update"])
        elif change == "deactivated":
            type(owner).objects.filter(pk=owner.pk).update(is_active=False)

    monkeypatch.setattr(runner.ImportRun, "flush", change_the_key_after_the_first_batch)
    run_import(job_id)

    stored = ImportJob.objects.get(pk=job_id)
    if change is None:
        assert (stored.status, stored.created) == ("succeeded", 2)
    else:
        assert (stored.status, stored.created) == ("failed", 1) and failure in stored.failure, stored.failure
    assert Lead.objects.filter(organization=organization).count() == stored.created


def test_a_key_that_may_only_create_follows_the_job_it_started(owner_client, organization):
    # Its progress and row errors are its own file's: a key that can't read leads still needs them.
    from crmApp.tests.test_api_keys import issue, key_client

    client = key_client(issue(owner_client, ["leads:create"])["key"], organization)
    started(owner_client, csv_bytes([["email", "first_name"], ["b@x.io", "B"]]))  # its creator's, not the key's
    job = started(client, csv_bytes([["email", "first_name"], ["a@x.io", "A"], ["a@x.io", "B"]]))
    assert client.get(f"/api/imports/{job['id']}/").json()["created"] == 1
    assert [row["id"] for row in client.get("/api/imports/").json()["results"]] == [job["id"]]
    assert errors(client, job) == [(2, "email", DUPLICATE)]
    assert client.get("/api/leads/").status_code == 403


def test_a_dry_run_reports_and_stores_nothing(owner_client, organization):
    LeadFactory(organization=organization, email="ada@x.io")
    content = csv_bytes([["first_name", "email"], ["A", "ada@x.io"], ["B", "b@x.io"], ["C", "b@x.io"]])
    job = started(owner_client, content, dry_run="true")
    assert (job["dry_run"], job["created"], job["skipped"], job["error_count"]) == (True, 1, 2, 2)
    assert Lead.objects.count() == 1 and not HistoryEntry.objects.filter(source="import").exists()


def test_customers_are_imported_with_their_rules(owner_client):
    content = csv_bytes(
        [
            ["customer_type", "company_name", "first_name", "last_name"],
            ["business", "Initech", "", ""],
            ["individual", "", "Ada", ""],
        ]
    )
    job = started(owner_client, content, resource="customers")
    assert (job["created"], job["error_count"]) == (1, 1)
    assert Customer.objects.get().company_name == "Initech"


def test_jobs_are_seen_by_who_may_read_the_resource(owner_client, member_client):
    job = started(owner_client, csv_bytes([["first_name"], ["A"]]))
    assert member_client(["customers:view"]).get(f"/api/imports/{job['id']}/").status_code == 404
    assert member_client(["leads:view"]).get(f"/api/imports/{job['id']}/").status_code == 200


def test_each_batch_costs_the_same_statements_however_many_rows_it_holds(owner_client, organization, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from crmApp.imports import runner

    make_webhook(organization)

    def statements(rows: int, batch: int) -> int:
        """Statements of an upload of `rows` valid rows and a refused one, in batches of `batch` rows."""
        monkeypatch.setattr(runner, "BATCH_ROWS", batch)
        first = Lead.objects.count()
        body = [["first_name", "email", "status"]]
        body += [[f"N{first + n}", f"n{first + n}@x.io", "qualified" if n % 2 else "new"] for n in range(rows)]
        body.append(["Bad", "not-an-email", ""])
        with CaptureQueriesContext(connection) as captured:
            started(owner_client, csv_bytes(body))
        return sum(
            1
            for query in captured
            if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
            and "crmApp_codesequence" not in query["sql"]
        )

    statements(1, 11)  # the organization's first leads create its code sequence
    one, three = statements(10, 11), statements(32, 11)
    assert three - one == 2 * STATEMENTS_PER_BATCH
    assert statements(43, 44) == one  # a batch of 44 rows costs what a batch of 11 does


# Of a batch whose rows are all valid: on PostgreSQL take the organization's import lock, read the author's
# membership (the access the batch is written with; an owner's roles need no read), then insert the
# events and their deliveries in one statement (two elsewhere, where no lock is needed); look up the stored
# emails; insert the leads and their history; read the active webhooks (again each batch: they may have
# changed) and the leads as rows, converted customers included, for the webhook payloads; record the job's
# progress. Not counted: the batch's block of codes, one statement (on PostgreSQL, on the numbering
# connection once the counter row is committed; see test_codes.py).
STATEMENTS_PER_BATCH = 9


# --- export ---------------------------------------------------------------------------------------------
def test_an_export_streams_the_filtered_list_as_csv_with_a_bom(owner_client, organization):
    LeadFactory(organization=organization, status="new", first_name="Ada", notes='line one\nand "two", three')
    LeadFactory(organization=organization, status="contacted", first_name="Bo")
    response = owner_client.get("/api/leads/export/", {"status": "new"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [(row["first_name"], row["notes"]) for row in rows] == [("Ada", 'line one\nand "two", three')]
    assert list(rows[0])[:3] == ["id", "code", "organization"]


@pytest.mark.parametrize("resource", ["leads", "customers", "deals", "activities"])
def test_every_record_list_exports_with_its_list_fields(owner_client, organization, resource):
    DealFactory(organization=organization, value="1234.50")
    from crmApp.tests.factories import ActivityFactory

    ActivityFactory(organization=organization)
    listed = owner_client.get(f"/api/{resource}/").json()
    rows = list(csv.DictReader(io.StringIO(exported(owner_client, resource)[1:])))
    assert len(rows) == listed["count"] and set(rows[0]) == set(listed["results"][0])
    if resource == "deals":
        assert rows[0]["value"] == "1234.50" and rows[0]["customer"].isdigit()


def test_an_export_needs_the_view_code_and_refuses_unknown_parameters(member_client):
    assert member_client(["customers:view"]).get("/api/leads/export/").status_code == 403
    assert member_client(["leads:view"]).get("/api/leads/export/", {"stauts": "new"}).status_code == 400


@pytest.mark.parametrize("path", ["/api/leads/export/", "/api/leads/", "/api/customers/export/"])
def test_a_format_the_endpoint_cannot_render_is_a_400_naming_the_parameter(owner_client, path):
    response = owner_client.get(path, {"format": "xml"})
    assert response.status_code == 400 and "format" in response.json()["errors"], response.content
    assert owner_client.get("/api/leads/export/", {"format": "csv"}).status_code == 200
    assert owner_client.get("/api/leads/1.xml/").status_code == 404


def test_an_export_reimported_with_upsert_on_code_changes_nothing(owner_client, organization):
    make_webhook(organization)
    employee = EmployeeFactory(organization=organization)
    LeadFactory(organization=organization, email="a@x.io", estimated_value="10.00", assigned_to=employee)
    LeadFactory(organization=organization, notes='multi\nline, with "quotes"', phone="+47 22 33")
    LeadFactory(organization=organization, status="qualified")
    CustomerFactory(organization=organization, company_name="Initech")
    versions = list(Lead.objects.order_by("id").values_list("version", flat=True))
    history, events = HistoryEntry.objects.count(), OutboxEvent.objects.count()

    for resource in ("leads", "customers"):
        content = exported(owner_client, resource).encode("utf-8")
        job = started(owner_client, content, resource=resource, mode="upsert", match_on="code")
        assert (job["created"], job["updated"], job["error_count"]) == (0, 0, 0), errors(owner_client, job)
    assert list(Lead.objects.order_by("id").values_list("version", flat=True)) == versions
    assert (HistoryEntry.objects.count(), OutboxEvent.objects.count()) == (history, events)
