"""Field history on every write path, the record timeline and the audit log."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crmApp.models import Customer, HistoryEntry
from crmApp.services.customer_service import CustomerService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import CustomerFactory, DealFactory, EmployeeFactory, LeadFactory, default_stage
from crmApp.tests.test_admin import ACTIVITIES_INLINE

pytestmark = pytest.mark.django_db


def entries(record_type: str, record_id: int, **filters) -> list[HistoryEntry]:
    return list(HistoryEntry.objects.filter(record_type=record_type, record_id=record_id, **filters).order_by("id"))


def changed(entry: HistoryEntry) -> dict:
    return {change["field"]: (change["old"], change["new"]) for change in entry.changes}


# --- one test per write path ----------------------------------------------------------------------------
def test_create_records_every_set_field_with_old_null_and_a_created_event(owner_client, owner, organization):
    lead = owner_client.post("/api/leads/", {"first_name": "Ada", "email": "ada@example.com"}, format="json").json()

    event, change = entries("lead", lead["id"])
    assert (event.kind, event.event, event.actor, event.source) == ("event", "created", owner, "api")
    fields = changed(change)
    assert fields["first_name"] == (None, "Ada") and fields["score"] == (None, 10) and fields["code"][1] == "LEAD-0001"
    assert "organization" not in fields and "version" not in fields


def test_creating_a_pipeline_with_stages_records_each_of_them(owner_client, owner):
    body = {"name": "Renewals", "stages": [{"name": "Ask", "probability": 20}, {"name": "Signed", "is_won": True}]}
    pipeline = owner_client.post("/api/pipelines/", body, format="json").json()

    event, change = entries("pipeline", pipeline["id"])
    assert (event.event, event.actor, event.source, changed(change)["name"]) == (
        "created",
        owner,
        "api",
        (None, "Renewals"),
    )
    for stage in pipeline["stages"]:
        event, change = entries("stage", stage["id"])
        assert (event.event, changed(change)["name"]) == ("created", (None, stage["name"]))


def test_deleting_a_pipeline_records_the_deletion_of_each_of_its_stages(owner_client, owner):
    body = {"name": "Renewals", "stages": [{"name": "Ask", "probability": 20}, {"name": "Signed", "is_won": True}]}
    pipeline = owner_client.post("/api/pipelines/", body, format="json").json()

    assert owner_client.delete(f"/api/pipelines/{pipeline['id']}/").status_code == 204

    for stage in pipeline["stages"]:
        *_, deleted = entries("stage", stage["id"])
        assert (deleted.event, deleted.actor, deleted.source, deleted.record_code) == ("deleted", owner, "api", "")


def test_update_records_only_what_changed_and_the_computed_fields(owner_client, organization):
    lead = LeadFactory(organization=organization)
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "Initech", "status": "contacted"}, format="json")

    status_event, change = entries("lead", lead.id)
    assert changed(change) == {"company": ("", "Initech"), "status": ("new", "contacted"), "score": (0, 15)}
    assert (status_event.event, status_event.data) == ("status_changed", {"from": "new", "to": "contacted"})


def test_a_write_that_changes_nothing_records_nothing(owner_client, organization):
    lead = LeadFactory(organization=organization, company="Initech")
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "Initech"}, format="json")
    assert entries("lead", lead.id) == []


def test_assign_records_the_change_and_an_assigned_event(owner_client, organization):
    lead, employee = LeadFactory(organization=organization), EmployeeFactory(organization=organization)
    owner_client.post(f"/api/leads/{lead.id}/assign/", {"employee": employee.id}, format="json")

    event, change = entries("lead", lead.id)
    assert (event.event, event.data, changed(change)) == (
        "assigned",
        {"from": None, "to": employee.id},
        {"assigned_to": (None, employee.id)},
    )


def test_convert_records_the_lead_the_customer_and_the_deal(owner_client, organization):
    lead = LeadFactory(
        organization=organization, status="qualified", last_name="Lovelace", estimated_value=Decimal("10")
    )
    answer = owner_client.post(f"/api/leads/{lead.id}/convert/", {"create_deal": True}, format="json").json()

    converted = entries("lead", lead.id, event="converted")[0]
    assert converted.data == {"customer": answer["customer"]["id"], "deal": answer["deal"]["id"]}
    assert changed(entries("lead", lead.id, kind="change")[0])["status"] == ("qualified", "converted")
    assert entries("customer", answer["customer"]["id"], event="created")
    assert entries("deal", answer["deal"]["id"], event="created")


@pytest.mark.parametrize(
    ("path", "body", "event"),
    [
        ("move-stage/", lambda org: {"stage": default_stage(org, "Proposal").id}, "stage_changed"),
        ("win/", lambda org: {}, "won"),
        ("lose/", lambda org: {"lost_reason": "Price"}, "lost"),
    ],
)
def test_stage_moves_win_and_lose_record_their_events(owner_client, organization, path, body, event):
    deal = DealFactory(organization=organization)
    owner_client.post(f"/api/deals/{deal.id}/{path}", body(organization), format="json")

    recorded = {entry.event for entry in entries("deal", deal.id, kind="event")}
    assert event in recorded
    assert "stage" in changed(entries("deal", deal.id, kind="change")[0])


def test_reopening_a_won_deal_records_reopened(owner_client, organization):
    deal = DealFactory(organization=organization, stage=default_stage(organization, "Closed Won"))
    owner_client.post(f"/api/deals/{deal.id}/move-stage/", {"stage": default_stage(organization).id}, format="json")
    assert [entry.event for entry in entries("deal", deal.id, kind="event")] == ["stage_changed", "reopened"]


def test_bulk_update_records_every_changed_record_with_source_bulk(owner_client, organization):
    customers = CustomerFactory.create_batch(3, organization=organization, status="prospect")
    body = {"ids": [customer.id for customer in customers], "data": {"status": "active"}}
    owner_client.post("/api/customers/bulk-update/", body, format="json")

    for customer in customers:
        change = entries("customer", customer.id, kind="change")[0]
        assert (changed(change), change.source) == ({"status": ("prospect", "active")}, "bulk")


def test_a_bulk_update_of_1000_records_writes_its_history_in_constant_statements(organization):
    Customer.objects.bulk_create(
        Customer(organization=organization, code=f"CUST-{number:05d}", first_name="A", last_name=f"{number}")
        for number in range(1000)
    )
    ids = list(Customer.objects.filter(organization=organization).values_list("id", flat=True))

    with CaptureQueriesContext(connection) as queries:
        updated = CustomerService(Tenant.system(organization)).bulk_update(ids=ids, status="inactive")

    assert updated == 1000
    assert HistoryEntry.objects.filter(record_type="customer", kind="change").count() == 1000
    # count, locked read of the old values, one UPDATE, one INSERT of the history (and savepoints)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 5, statements
    assert sum('INSERT INTO "crmApp_historyentry"' in sql for sql in statements) == 1


def test_a_stage_probability_change_records_each_repriced_deal(owner_client, organization):
    deal = DealFactory(organization=organization, value=Decimal("100.00"))
    owner_client.patch(f"/api/pipeline-stages/{deal.stage_id}/", {"probability": 30}, format="json")

    assert changed(entries("deal", deal.id, kind="change")[0]) == {
        "probability": (10, 30),
        "expected_revenue": ("10.00", "30.00"),
    }


def test_deleting_an_employee_records_the_unassigned_records(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization, assigned_to=employee)
    owner_client.delete(f"/api/employees/{employee.id}/")

    assert changed(entries("lead", lead.id, kind="change")[0]) == {"assigned_to": (employee.id, None)}
    assert entries("employee", employee.id, event="deleted")


def test_an_admin_save_is_recorded_with_source_admin(admin_client, admin_user, organization):
    customer = CustomerFactory(organization=organization, city="Oslo")
    form = {
        **ACTIVITIES_INLINE,
        "customer_type": "individual",
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "status": "active",
        "city": "Bergen",
    }
    response = admin_client.post(reverse("admin:crmApp_customer_change", args=[customer.id]), form)
    assert response.status_code == 302, response.content[:3000]

    change = entries("customer", customer.id, kind="change")[0]
    assert (changed(change)["city"], change.source, change.actor) == (("Oslo", "Bergen"), "admin", admin_user)


def test_delete_is_recorded_and_the_history_outlives_the_record(owner_client, organization):
    lead = LeadFactory(organization=organization)
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "Gone Inc"}, format="json")
    owner_client.delete(f"/api/leads/{lead.id}/")

    log = owner_client.get("/api/audit-log/", {"record_type": "lead", "record_id": lead.id}).json()["results"]
    assert [entry["event"] or entry["kind"] for entry in log] == ["deleted", "change"]
    assert log[0]["record"] == {"type": "lead", "id": lead.id, "code": lead.code}


def test_completing_an_activity_records_it(owner_client, organization):
    lead = LeadFactory(organization=organization)
    activity = owner_client.post("/api/activities/", {"subject": "Call", "lead": lead.id}, format="json").json()
    owner_client.post(f"/api/activities/{activity['id']}/complete/")
    assert entries("activity", activity["id"], event="completed")


# --- reading it back ------------------------------------------------------------------------------------
def test_a_records_history_is_one_entry_per_write_newest_first(owner_client, organization):
    lead = LeadFactory(organization=organization)
    for company in ("One", "Two", "Three"):
        owner_client.patch(f"/api/leads/{lead.id}/", {"company": company}, format="json")

    history = owner_client.get(f"/api/leads/{lead.id}/history/").json()

    assert history["count"] == 3
    assert [entry["changes"][0]["new"] for entry in history["results"]] == ["Three", "Two", "One"]
    assert set(history["results"][0]) == {"id", "at", "actor", "source", "changes"}


@pytest.mark.parametrize(
    "url", ["employees", "vendors", "customers", "leads", "deals", "pipelines", "pipeline-stages", "activities"]
)
def test_every_crm_resource_has_a_history_route(owner_client, organization, url):
    response = owner_client.get(f"/api/{url}/999999/history/")
    assert response.status_code == 404  # routed, scoped: a missing record is a 404, not an unknown route


def test_a_sales_reps_day_is_on_the_customers_timeline_in_order(owner, organization, make_member, admin_client):
    rep = make_member(
        [
            "leads:view",
            "leads:update",
            "customers:view",
            "customers:create",
            "customers:update",
            "deals:view",
            "deals:create",
            "deals:update",
            "activities:view",
            "activities:create",
        ]
    )
    client = make_client(rep, organization)
    lead = LeadFactory(organization=organization, status="qualified", last_name="Lovelace", company="Analytical")
    call = client.post("/api/activities/", {"type": "call", "subject": "Discovery", "lead": lead.id}, format="json")
    converted = client.post(f"/api/leads/{lead.id}/convert/", {"create_deal": True}, format="json").json()
    customer_id, deal_id = converted["customer"]["id"], converted["deal"]["id"]
    client.post(f"/api/deals/{deal_id}/win/", format="json")
    form = {**ACTIVITIES_INLINE, "customer_type": "business", "company_name": "Analytical Engines", "status": "active"}
    admin_client.post(reverse("admin:crmApp_customer_change", args=[customer_id]), form)
    employee = EmployeeFactory(organization=organization)
    make_client(owner, organization).post(
        "/api/customers/bulk-update/", {"ids": [customer_id], "data": {"assigned_to": employee.id}}, format="json"
    )

    timeline = client.get(f"/api/customers/{customer_id}/timeline/", {"page_size": 100}).json()["results"]

    steps = [(e["kind"], e["record"]["type"], e.get("event"), e["source"]) for e in reversed(timeline)]
    assert steps[0] == ("activity", "lead", None, "api") and call.json()["id"] == timeline[-1]["activity"]["id"]
    assert ("event", "lead", "converted", "api") in steps
    assert ("event", "deal", "won", "api") in steps
    assert ("change", "customer", None, "admin") in steps
    assert ("event", "customer", "assigned", "bulk") in steps
    assert steps.index(("event", "deal", "won", "api")) < steps.index(("change", "customer", None, "admin"))
    actors = {e["actor"]["id"] for e in timeline if e["source"] == "api" and e["actor"]}
    assert actors == {rep.id}
    assert [e["at"] for e in timeline] == sorted((e["at"] for e in timeline), reverse=True)


def test_timeline_kinds_stable_ids_and_activities_need_their_code(owner_client, organization, member_client):
    lead = LeadFactory(organization=organization)
    owner_client.post("/api/activities/", {"subject": "Note", "lead": lead.id}, format="json")
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "X"}, format="json")
    url = f"/api/leads/{lead.id}/timeline/"

    everything = owner_client.get(url).json()
    assert {entry["kind"] for entry in everything["results"]} == {"activity", "change"}
    assert len({entry["id"] for entry in everything["results"]}) == everything["count"]
    assert {e["kind"] for e in owner_client.get(url, {"kind": "activity"}).json()["results"]} == {"activity"}
    assert owner_client.get(url, {"kind": "nope"}).status_code == 400
    first = owner_client.get(url, {"page_size": 1}).json()["results"][0]["id"]
    second = owner_client.get(url, {"page_size": 1, "page": 2}).json()["results"][0]["id"]
    assert first != second
    without_activities = member_client(["leads:view"]).get(url).json()
    assert {entry["kind"] for entry in without_activities["results"]} == {"change"}


@pytest.mark.parametrize("writes", [2, 20])
def test_the_timeline_runs_a_constant_number_of_queries(
    owner_client, organization, writes, django_assert_max_num_queries
):
    customer = CustomerFactory(organization=organization)
    deal = DealFactory(organization=organization, customer=customer)
    for number in range(writes):
        owner_client.patch(f"/api/deals/{deal.id}/", {"title": f"Deal {number}"}, format="json")
        owner_client.post("/api/activities/", {"subject": f"Call {number}", "customer": customer.id}, format="json")

    with django_assert_max_num_queries(10):
        response = owner_client.get(f"/api/customers/{customer.id}/timeline/", {"page_size": 100})
    assert response.json()["count"] == 2 * writes


def test_the_audit_log_needs_audit_view_and_filters(owner_client, owner, organization, member_client, other_client):
    lead = LeadFactory(organization=organization)
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "Audited"}, format="json")
    other_client.post("/api/leads/", {"first_name": "Elsewhere"}, format="json")

    assert member_client(["leads:view"]).get("/api/audit-log/").status_code == 403
    # Besides the CRM's own creation of the default pipeline and its six stages (source `system`), each
    # logged as its values and a `created` event:
    assert owner_client.get("/api/audit-log/", {"source": "system"}).json()["count"] == 14
    log = owner_client.get("/api/audit-log/", {"source": "api"}).json()
    assert log["count"] == 1 and log["results"][0]["actor"]["id"] == owner.id
    assert owner_client.get("/api/audit-log/", {"actor": owner.id, "source": "api"}).json()["count"] == 1
    assert owner_client.get("/api/audit-log/", {"record_type": "customer"}).json()["count"] == 0
    assert owner_client.get("/api/audit-log/", {"after": "2999-01-01"}).json()["count"] == 0
    assert owner_client.get("/api/audit-log/", {"record_type": "spaceship"}).status_code == 400
