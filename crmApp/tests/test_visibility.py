"""Record scope (API.md › Record visibility and teams): a rep with an `own` or `team` scope never sees, counts,
changes, links or restores a customer, lead, deal or activity outside it, on any route.

The world: rep A (`own` role, its own employee record), teammate B, outsider C, and of each kind of record one
created by A, one assigned to A's employee, one created by B, one assigned to B's employee and one of C's.
"""

import csv
import io
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, resolve
from django.utils import timezone
from rest_framework.test import APIClient

from crmApp.constants import RecordScope
from crmApp.models import Activity, Customer, Deal, Lead, Permission
from crmApp.tenancy import SCOPED_MODELS
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    RoleFactory,
    UserRoleFactory,
    default_stage,
)
from crmApp.tests.test_tenancy import api_views
from crmApp.viewsets.analytics import AnalyticsViewSet
from crmApp.viewsets.trash import TrashViewSet

pytestmark = pytest.mark.django_db

MODELS = {"customers": Customer, "leads": Lead, "deals": Deal, "activities": Activity}
REP_CODES = [f"{resource}:{verb}" for resource in MODELS for verb in ("view", "create", "update", "delete")]
REP_CODES += ["analytics:view", "pipelines:view"]
# kind -> (who created the records, whose employee record they are assigned to); "owner" is the organization's owner.
KINDS = {
    "a_created": ("a", None),
    "a_assigned": ("owner", "a"),
    "b_created": ("b", None),
    "b_assigned": ("owner", "b"),
    "c": ("c", "c"),
}
VISIBLE = ("a_created", "a_assigned")  # to A with an `own` scope
TEAMMATES = ("b_created", "b_assigned")  # to A too, once A (`team` scope) and B share a team
INVISIBLE = (*TEAMMATES, "c")
# Distinct powers of two, so every sum says which deals it holds; the deals of A and B alternate won and open.
DEAL_VALUES = {"a_created": 1000, "a_assigned": 2000, "b_created": 4000, "b_assigned": 8000, "c": 16000}
WON = ("a_created", "b_created", "c")
CODE = re.compile(r"\b(?:CUST|LEAD|DEAL|ACT)-\d{4}\b")


# --- the world ------------------------------------------------------------------------------------------------
@pytest.fixture
def world(organization, owner, make_member):
    rep_role = RoleFactory(organization=organization, codes=REP_CODES, record_scope=RecordScope.OWN)
    users = {"owner": owner, "a": make_member(), "b": make_member(), "c": make_member()}
    for name in ("a", "b"):
        UserRoleFactory(user=users[name], role=rep_role)
    employees = {name: EmployeeFactory(organization=organization, user=users[name]) for name in ("a", "b", "c")}
    records = {resource: {} for resource in MODELS}
    for kind, (creator, assignee) in KINDS.items():
        made = {"organization": organization, "created_by": users[creator], "assigned_to": employees.get(assignee)}
        customer = CustomerFactory(**made, last_name=kind, phone="+1 555 0100")  # all share a phone number
        lead = LeadFactory(**made, last_name=kind, email=f"{kind}@leads.example", company="Shared Co")
        stage = default_stage(organization, "Closed Won" if kind in WON else "Proposal")
        deal = DealFactory(
            **made, customer=customer, stage=stage, value=DEAL_VALUES[kind], expected_close_date=timezone.now().date()
        )
        activity = ActivityFactory(**made, lead=lead)
        for resource, record in zip(MODELS, (customer, lead, deal, activity), strict=True):
            records[resource][kind] = record
    return SimpleNamespace(
        organization=organization,
        rep_role=rep_role,
        users=users,
        employees=employees,
        records=records,
        a_client=make_client(users["a"], organization),
    )


def codes_of(world, kinds, resources=tuple(MODELS)) -> set[str]:
    return {world.records[resource][kind].code for resource in resources for kind in kinds}


def codes_in(text: str) -> set[str]:
    return set(CODE.findall(text))


def content(response) -> str:
    """The body of a 200 as text, streamed (CSV exports) or not."""
    assert response.status_code == 200, response.content
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def send(client, method: str, path: str, body=None):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, body, format="json")


def rows_now() -> dict:
    """Every customer, lead, deal and activity row (trashed too) as stored now."""
    return {(name, row["id"]): row for name, model in MODELS.items() for row in model.with_trashed.values()}


def forget(world, kinds) -> None:
    """Delete the records of `kinds` for good, as if they had never existed, and drop every cached figure."""
    for resource in ("activities", "deals", "leads", "customers"):
        MODELS[resource].with_trashed.filter(pk__in=[world.records[resource][k].pk for k in kinds]).delete()
    cache.clear()


def trash(world, resource, kinds) -> None:
    MODELS[resource].with_trashed.filter(pk__in=[world.records[resource][k].pk for k in kinds]).update(
        deleted_at=timezone.now()
    )
    cache.clear()


def give_a_role(world, scope: str) -> None:
    """A second role for A, granting no code, only a record scope."""
    UserRoleFactory(user=world.users["a"], role=RoleFactory(organization=world.organization, record_scope=scope))


def list_codes(client, path: str) -> set[str]:
    return codes_in(content(client.get(path)))


def lead_count(client) -> int:
    return client.get("/api/leads/").json()["count"]


def dashboard_leads(client) -> int:
    return client.get("/api/analytics/dashboard/").json()["leads"]["total"]


# --- the routes -----------------------------------------------------------------------------------------------
# Views without a queryset that read customers, leads, deals or activities through their services.
SCOPED_REPORT_VIEWS = {AnalyticsViewSet, TrashViewSet}
METHODS = ("get", "post", "put", "patch", "delete")


def path_template(route: str) -> str:
    """`api/^leads/(?P<pk>[0-9]+)/$` -> `/api/leads/{pk}/`; `api/trash/<str:resource>/` -> `/api/trash/{resource}/`."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.replace("^", "").replace("$", ""))
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def reads_scoped_records(view) -> bool:
    model = getattr(getattr(view, "queryset", None), "model", None)
    return view in SCOPED_REPORT_VIEWS or (model is not None and model._meta.model_name in SCOPED_MODELS)


def scoped_routes() -> set[tuple[str, str]]:
    """(path template, method) of every route, found by the URL resolver, that serves scoped records."""
    routes = set()
    for route, view in api_views(get_resolver().url_patterns):
        if "(?P<format>" in route or not reads_scoped_records(view):
            continue
        template = path_template(route)
        actions = resolve(template.format(pk=1, resource="leads")).func.actions
        routes |= {(template, method) for method in actions if method in METHODS}
    return routes


# Routes that need parameters or bodies supplied by hand, and the test that covers each.
RESTORE_OR_PURGE = "test_restoring_or_purging_a_trashed_record_outside_the_scope_is_a_404"
COVERED_BY_HAND = {
    ("/api/trash/", "get"): "needs ?resource=: test_the_trash_lists_only_records_in_the_scope",
    ("/api/trash/{resource}/{pk}/restore/", "post"): RESTORE_OR_PURGE,
    ("/api/trash/{resource}/{pk}/", "delete"): RESTORE_OR_PURGE,
    ("/api/customers/bulk-update/", "post"): "test_bulk_update_changes_and_counts_only_customers_in_the_scope",
    ("/api/customers/bulk-delete/", "post"): "test_bulk_delete_trashes_and_counts_only_customers_in_the_scope",
    ("/api/deals/", "post"): "test_linking_a_record_outside_the_scope_is_a_400_on_that_field",
    ("/api/activities/", "post"): "test_linking_a_record_outside_the_scope_is_a_400_on_that_field",
    # A new customer or lead names no scoped record (its `assigned_to` is an employee: not scoped).
    ("/api/customers/", "post"): "nothing outside the scope can be named",
    ("/api/leads/", "post"): "nothing outside the scope can be named",
}
# Every GET of a collection not covered by hand is walked: a new one is walked (and must hold the scope) at once.
WALKED = sorted(
    template
    for template, method in scoped_routes()
    if method == "get" and "{" not in template and (template, method) not in COVERED_BY_HAND
)


def crud(resource: str, put, patch) -> list:
    record = f"/api/{resource}/{{pk}}/"
    return [
        (record, "get", None),
        (record, "put", put),
        (record, "patch", patch),
        (record, "delete", None),
        (f"{record}history/", "get", None),
    ]


def mine(resource: str):
    return lambda w: w.records[resource]["a_created"].id


# Every route about one record: (path template, method, body or world -> body).
DETAIL_CALLS = [
    *crud("customers", {"customer_type": "individual", "first_name": "Taken", "last_name": "Over"}, {"notes": "x"}),
    ("/api/customers/{pk}/merge/", "post", lambda w: {"source_ids": [mine("customers")(w)]}),
    ("/api/customers/{pk}/timeline/", "get", None),
    *crud("leads", {"first_name": "Taken", "last_name": "Over"}, {"notes": "x"}),
    ("/api/leads/{pk}/assign/", "post", lambda w: {"employee": w.employees["a"].id}),
    ("/api/leads/{pk}/convert/", "post", {}),
    ("/api/leads/{pk}/merge/", "post", lambda w: {"source_ids": [mine("leads")(w)]}),
    ("/api/leads/{pk}/timeline/", "get", None),
    *crud("deals", lambda w: {"title": "Taken", "customer": mine("customers")(w)}, {"title": "Taken"}),
    ("/api/deals/{pk}/move-stage/", "post", lambda w: {"stage": default_stage(w.organization, "Negotiation").id}),
    ("/api/deals/{pk}/win/", "post", None),
    ("/api/deals/{pk}/lose/", "post", {"lost_reason": "Taken"}),
    ("/api/deals/{pk}/timeline/", "get", None),
    *crud("activities", lambda w: {"type": "call", "subject": "Taken", "lead": mine("leads")(w)}, {"subject": "x"}),
    ("/api/activities/{pk}/complete/", "post", None),
    ("/api/activities/{pk}/reopen/", "post", None),
]


def test_every_route_on_scoped_records_is_walked_or_covered_by_hand():
    detail = {(template, method) for template, method, _ in DETAIL_CALLS}

    assert scoped_routes() == {(template, "get") for template in WALKED} | detail | set(COVERED_BY_HAND)
    # The walk really reached the list-like actions and the reports (so the equality above means something).
    reached = {"/api/leads/stats/", "/api/deals/board/", "/api/customers/duplicates/", "/api/analytics/dashboard/"}
    assert reached <= set(WALKED)


@pytest.mark.parametrize("path", WALKED)
def test_a_list_route_shows_an_own_rep_exactly_what_it_would_show_if_only_their_records_existed(
    world, owner_client, path
):
    seen = content(world.a_client.get(path))
    everything = content(owner_client.get(path))

    assert seen != everything, "the data must make this route tell the scopes apart"
    assert codes_in(seen) == codes_in(everything) & codes_of(world, VISIBLE)
    forget(world, INVISIBLE)
    assert content(owner_client.get(path)) == seen


# --- one record -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "method", "body"), DETAIL_CALLS, ids=[f"{m.upper()} {t}" for t, m, _ in DETAIL_CALLS]
)
def test_a_record_outside_the_scope_is_a_404_and_stays_as_it_was(world, template, method, body):
    resource = template.split("/")[2]
    before = rows_now()

    for kind in INVISIBLE:
        path = template.format(pk=world.records[resource][kind].id)
        response = send(world.a_client, method, path, body(world) if callable(body) else body)
        assert response.status_code == 404, (kind, response.content)

    assert rows_now() == before


@pytest.mark.parametrize("resource", MODELS)
def test_the_rep_opens_every_record_in_the_scope(world, resource):
    for kind in VISIBLE:
        record = f"/api/{resource}/{world.records[resource][kind].id}/"
        assert world.a_client.get(record).json()["code"] == world.records[resource][kind].code
        assert world.a_client.get(f"{record}history/").status_code == 200
        if resource != "activities":
            assert world.a_client.get(f"{record}timeline/").status_code == 200


# --- bulk actions ---------------------------------------------------------------------------------------------
def test_bulk_update_changes_and_counts_only_customers_in_the_scope(world):
    customers = world.records["customers"]
    before = {kind: (record.status, record.version) for kind, record in customers.items()}

    response = world.a_client.post(
        "/api/customers/bulk-update/",
        {"ids": [record.id for record in customers.values()], "data": {"status": "inactive"}},
        format="json",
    )

    assert (response.status_code, response.json()) == (200, {"updated": 2})
    stored = {row.id: (row.status, row.version) for row in Customer.objects.filter(organization=world.organization)}
    after = {kind: stored[record.id] for kind, record in customers.items()}
    assert {kind: after[kind][0] for kind in VISIBLE} == dict.fromkeys(VISIBLE, "inactive")
    assert {kind: after[kind] for kind in INVISIBLE} == {kind: before[kind] for kind in INVISIBLE}


def test_bulk_delete_trashes_and_counts_only_customers_in_the_scope(world):
    made = {"organization": world.organization}
    visible = [
        CustomerFactory(**made, created_by=world.users["a"]),
        CustomerFactory(**made, assigned_to=world.employees["a"]),
    ]
    invisible = [
        CustomerFactory(**made, created_by=world.users["b"]),
        CustomerFactory(**made, created_by=world.users["c"], assigned_to=world.employees["c"]),
    ]

    response = world.a_client.post(
        "/api/customers/bulk-delete/", {"ids": [c.id for c in visible + invisible]}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"deleted": 2})
    trashed = Customer.with_trashed.filter(deleted_at__isnull=False).values_list("id", flat=True)
    assert set(trashed) == {c.id for c in visible}


# --- counts, statistics, analytics and their cache ------------------------------------------------------------
def total_revenue(body) -> Decimal:
    return sum((Decimal(row["revenue"]) for row in body["results"]), Decimal(0))


# (path, the figure read from the body, its value for A); the owner's value differs in every row.
FIGURES = [
    ("/api/leads/", lambda body: body["count"], 2),
    ("/api/leads/stats/", lambda body: body["total"], 2),
    ("/api/customers/stats/", lambda body: body["total"], 2),
    ("/api/deals/board/", lambda body: sum(column["count"] for column in body), 2),
    (
        "/api/analytics/dashboard/",
        lambda body: (body["customers"]["total"], body["leads"]["total"], body["deals"]["total"]),
        (2, 2, 2),
    ),
    ("/api/analytics/sales-funnel/", lambda body: [stage["count"] for stage in body["stages"]], [2, 0, 2, 1]),
    ("/api/analytics/employee-performance/", lambda body: sum(r["leads_assigned"] for r in body["results"]), 1),
    ("/api/analytics/forecast/", lambda body: sum(row["deals"] for row in body["results"]), 1),
    ("/api/analytics/revenue/", total_revenue, Decimal(1000)),
]


@pytest.mark.parametrize(("path", "figure", "expected"), FIGURES, ids=[path for path, _, _ in FIGURES])
def test_a_figure_counts_only_the_scope_even_after_the_owner_cached_theirs(world, owner_client, path, figure, expected):
    owners = figure(owner_client.get(path).json())  # computed (and cached) first, with the `all` scope

    assert figure(world.a_client.get(path).json()) == expected
    assert owners != expected


def test_a_team_scope_widens_on_the_next_request_and_narrows_back_when_the_teammate_leaves(world, owner_client):
    give_a_role(world, RecordScope.TEAM)
    assert (lead_count(world.a_client), dashboard_leads(world.a_client)) == (2, 2)  # no team yet: only their own

    members = [world.users["a"].id, world.users["b"].id]
    team = owner_client.post("/api/teams/", {"name": "East", "members": members}, format="json")
    assert team.status_code == 201, team.content

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE + TEAMMATES, ["leads"])
    assert (lead_count(world.a_client), dashboard_leads(world.a_client)) == (4, 4)

    left = owner_client.patch(f"/api/teams/{team.json()['id']}/", {"members": [world.users["a"].id]}, format="json")
    assert left.status_code == 200, left.content

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])
    assert (lead_count(world.a_client), dashboard_leads(world.a_client)) == (2, 2)


def test_linking_employee_records_to_the_rep_moves_their_scope_on_the_next_request(world, owner_client):
    def relink(name, user):
        response = owner_client.patch(f"/api/employees/{world.employees[name].id}/", {"user": user}, format="json")
        assert response.status_code == 200, response.content

    leads = world.records["leads"]
    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])  # cached now

    relink("a", None)  # what is only assigned to A's employee record leaves A's scope
    assert list_codes(world.a_client, "/api/leads/") == {leads["a_created"].code}

    relink("c", None)
    relink("c", world.users["a"].id)  # C's employee record becomes A's: its records come into A's scope
    assert list_codes(world.a_client, "/api/leads/") == {leads["a_created"].code, leads["c"].code}
    assert lead_count(world.a_client) == 2


# (A's scope, whose employee record A relinks, to whom (None: unlinked), whether A may)
EMPLOYEE_RELINKS = [
    (RecordScope.OWN, "b", "a", False),  # B's records would come into A's scope
    (RecordScope.TEAM, "c", "b", False),  # C's would come into the team's
    (RecordScope.TEAM, "c", "a", False),
    (RecordScope.OWN, "c", "b", True),  # to someone outside A's reach: nothing A sees changes
    (RecordScope.OWN, "b", None, True),  # unlinking only narrows
]


@pytest.mark.parametrize(("scope", "employee", "user", "allowed"), EMPLOYEE_RELINKS)
def test_a_member_with_a_narrow_scope_cannot_widen_it_by_relinking_employee_records(
    world, owner_client, scope, employee, user, allowed
):
    role = RoleFactory(organization=world.organization, codes=["employees:update"], record_scope=scope)
    UserRoleFactory(user=world.users["a"], role=role)
    if scope == RecordScope.TEAM:
        members = [world.users["a"].id, world.users["b"].id]
        assert owner_client.post("/api/teams/", {"name": "East", "members": members}, format="json").status_code == 201
    if user is not None:  # free the account, as the owner may
        freed = owner_client.patch(f"/api/employees/{world.employees[user].id}/", {"user": None}, format="json")
        assert freed.status_code == 200, freed.content
    seen = list_codes(world.a_client, "/api/leads/")

    target = None if user is None else world.users[user].id
    answer = world.a_client.patch(f"/api/employees/{world.employees[employee].id}/", {"user": target}, format="json")

    assert answer.status_code == (200 if allowed else 403), answer.content
    world.employees[employee].refresh_from_db()
    assert world.employees[employee].user_id == (target if allowed else world.users[employee].id)
    if not allowed:
        assert list_codes(world.a_client, "/api/leads/") == seen


def test_a_teammate_leaving_from_the_users_side_narrows_the_scope_on_the_next_request(world, owner_client):
    give_a_role(world, RecordScope.TEAM)
    members = [world.users["a"].id, world.users["b"].id]
    team = owner_client.post("/api/teams/", {"name": "East", "members": members}, format="json").json()
    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE + TEAMMATES, ["leads"])  # cached

    world.users["b"].teams.remove(team["id"])  # the other side of the relation, as a shell or the admin could

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])


def test_a_teammate_whose_account_is_deleted_leaves_the_scope_on_the_next_request(world, owner_client):
    give_a_role(world, RecordScope.TEAM)
    members = [world.users["a"].id, world.users["b"].id]
    assert owner_client.post("/api/teams/", {"name": "East", "members": members}, format="json").status_code == 201
    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE + TEAMMATES, ["leads"])  # cached

    # As staff do in the admin: the database unlinks B's employee record and drops B from the team.
    world.users["b"].delete()

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])


def test_a_team_role_without_a_shared_team_sees_no_teammate_records(world, owner_client):
    give_a_role(world, RecordScope.TEAM)
    members = [world.users["b"].id, world.users["c"].id]
    assert owner_client.post("/api/teams/", {"name": "West", "members": members}, format="json").status_code == 201

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])


# (the team before, or None to create one; its members after; whether A, who sees their teams' records, may)
TEAM_CHANGES = [
    (None, ["a", "b"], False),  # a team with themselves in it
    (None, ["b", "c"], True),  # a team of others
    (["a"], ["a", "b"], False),  # a teammate for themselves
    (["b"], ["b", "a"], False),  # joining
    (["a", "b"], ["a"], True),  # removing a teammate only narrows
    (["a", "b"], ["b"], True),  # so does leaving
    (["b"], ["b", "c"], True),  # another team
]


@pytest.mark.parametrize(("before", "after", "allowed"), TEAM_CHANGES)
def test_a_member_who_sees_their_teams_records_cannot_widen_that_through_the_teams(
    world, owner_client, before, after, allowed
):
    UserRoleFactory(
        user=world.users["a"],
        role=RoleFactory(organization=world.organization, codes=["members:manage"], record_scope=RecordScope.TEAM),
    )
    ids = [world.users[name].id for name in after]
    if before is None:
        answer = world.a_client.post("/api/teams/", {"name": "East", "members": ids}, format="json")
    else:
        team = owner_client.post(
            "/api/teams/", {"name": "East", "members": [world.users[name].id for name in before]}, format="json"
        ).json()
        answer = world.a_client.patch(f"/api/teams/{team['id']}/", {"members": ids}, format="json")
    assert answer.status_code == ((201 if before is None else 200) if allowed else 403), answer.content
    shared = world.users["a"].teams.filter(members=world.users["b"]).exists()
    assert shared == (allowed and "a" in after and "b" in after)


# --- whose scope wins -----------------------------------------------------------------------------------------
def test_the_widest_of_a_members_roles_wins(world):
    give_a_role(world, RecordScope.ALL)

    assert list_codes(world.a_client, "/api/leads/") == codes_of(world, KINDS, ["leads"])


@pytest.mark.parametrize("membership_role", ["owner", "admin"])
def test_owners_and_admins_see_every_record_even_with_an_own_role(world, make_member, membership_role):
    user = make_member(role=membership_role)
    UserRoleFactory(user=user, role=world.rep_role)
    client = make_client(user, world.organization)

    assert list_codes(client, "/api/leads/") == codes_of(world, KINDS, ["leads"])
    assert client.get(f"/api/leads/{world.records['leads']['c'].id}/").status_code == 200


# --- links to other records -----------------------------------------------------------------------------------
# (route, field, the rest of the body): the field names a lead, customer or deal.
LINKS = [
    ("/api/activities/", "lead", {"type": "call", "subject": "Follow up"}),
    ("/api/activities/", "customer", {"type": "call", "subject": "Follow up"}),
    ("/api/activities/", "deal", {"type": "call", "subject": "Follow up"}),
    ("/api/deals/", "customer", {"title": "Upsell", "value": "10.00"}),
    ("/api/deals/", "lead", {"title": "Upsell", "value": "10.00", "customer": "mine"}),
]
LINKED = {"lead": "leads", "customer": "customers", "deal": "deals"}


@pytest.mark.parametrize(("path", "field", "rest"), LINKS, ids=[f"{p} {f}" for p, f, _ in LINKS])
def test_linking_a_record_outside_the_scope_is_a_400_on_that_field(world, path, field, rest):
    customer = world.records["customers"]["a_created"].id
    rest = {key: customer if value == "mine" else value for key, value in rest.items()}
    before = rows_now()

    for kind in INVISIBLE:
        response = world.a_client.post(path, {**rest, field: world.records[LINKED[field]][kind].id}, format="json")
        assert response.status_code == 400, (kind, response.content)
        assert field in error_fields(response)
    assert rows_now() == before

    created = world.a_client.post(path, {**rest, field: world.records[LINKED[field]]["a_assigned"].id}, format="json")
    assert created.status_code == 201, created.content  # the same link inside the scope is fine


def test_moving_an_activity_to_a_lead_outside_the_scope_is_a_400(world):
    activity = world.records["activities"]["a_created"]

    response = world.a_client.patch(
        f"/api/activities/{activity.id}/", {"lead": world.records["leads"]["c"].id}, format="json"
    )

    assert response.status_code == 400 and error_fields(response) == {"lead"}
    activity.refresh_from_db()
    assert activity.lead_id == world.records["leads"]["a_created"].id


@pytest.mark.parametrize(
    ("resource", "field", "linked", "method"),
    [
        ("deals", "customer", "customers", "patch"),
        ("deals", "customer", "customers", "put"),
        ("activities", "lead", "leads", "patch"),
        ("activities", "lead", "leads", "put"),
    ],
)
def test_a_link_outside_the_scope_that_a_record_already_has_may_be_sent_back_unchanged(
    world, resource, field, linked, method
):
    record = world.records[resource]["a_assigned"]
    theirs = world.records[linked]["c"]
    MODELS[resource].objects.filter(pk=record.pk).update(**{field: theirs})
    path = f"/api/{resource}/{record.id}/"
    label = "title" if resource == "deals" else "subject"
    shown = world.a_client.get(path).json()  # a form sends back what it read

    body = {**shown, label: "Renamed"} if method == "put" else {field: theirs.id, label: "Renamed"}
    response = send(world.a_client, method, path, body)

    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert (getattr(record, f"{field}_id"), getattr(record, label)) == (theirs.id, "Renamed")
    # Another record outside the scope is still no link to make.
    other = world.records[linked]["b_created"]
    assert error_fields(send(world.a_client, "patch", path, {field: other.id})) == {field}


# --- export, duplicates and merge -----------------------------------------------------------------------------
def test_the_lead_export_holds_only_the_rows_in_the_scope(world):
    text = content(world.a_client.get("/api/leads/export/")).lstrip("\ufeff")

    rows = list(csv.DictReader(io.StringIO(text)))

    assert {row["code"] for row in rows} == codes_of(world, VISIBLE, ["leads"])


@pytest.mark.parametrize(("resource", "reason"), [("customers", "phone"), ("leads", "company")])
def test_duplicate_groups_never_hold_a_record_outside_the_scope(world, resource, reason):
    body = world.a_client.get(f"/api/{resource}/duplicates/").json()

    groups = [(group["reason"], {record["code"] for record in group["records"]}) for group in body["results"]]

    assert groups == [(reason, codes_of(world, VISIBLE, [resource]))]


@pytest.mark.parametrize("resource", ["customers", "leads"])
def test_merging_a_source_outside_the_scope_is_a_400_and_changes_nothing(world, resource):
    merge = f"/api/{resource}/{world.records[resource]['a_created'].id}/merge/"
    before = rows_now()

    for kind in INVISIBLE:
        response = world.a_client.post(merge, {"source_ids": [world.records[resource][kind].id]}, format="json")
        assert response.status_code == 400, (kind, response.content)
        assert error_fields(response) == {"source_ids"}

    assert rows_now() == before


# --- import ---------------------------------------------------------------------------------------------------
def test_an_upsert_import_never_matches_a_lead_outside_the_scope(world):
    theirs, own = world.records["leads"]["c"], world.records["leads"]["a_created"]
    text = f"first_name,last_name,email\nImported,Stranger,{theirs.email}\nImported,Mine,{own.email}\n"
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")

    started = world.a_client.post(
        "/api/imports/",
        {"file": upload, "resource": "leads", "mode": "upsert", "match_on": "email"},
        format="multipart",
    )

    assert started.status_code == 202, started.content
    job = world.a_client.get(f"/api/imports/{started.json()['id']}/").json()
    assert (job["status"], job["created"], job["updated"], job["error_count"]) == ("succeeded", 1, 1, 0)
    assert world.a_client.get(f"/api/imports/{job['id']}/errors/").json()["count"] == 0
    before = (theirs.first_name, theirs.last_name, theirs.version)
    theirs.refresh_from_db()
    assert (theirs.first_name, theirs.last_name, theirs.version) == before
    # No visible lead has that address, so the row made a new lead of A's (the invisible one is untouched).
    twin = Lead.objects.get(email=theirs.email, created_by=world.users["a"])
    assert (twin.first_name, twin.last_name) == ("Imported", "Stranger")
    own.refresh_from_db()
    assert own.last_name == "Mine"


# --- trash ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", MODELS)
def test_the_trash_lists_only_records_in_the_scope(world, resource):
    trash(world, resource, KINDS)

    response = world.a_client.get(f"/api/trash/?resource={resource}")

    assert codes_in(content(response)) == codes_of(world, VISIBLE, [resource])


@pytest.mark.parametrize("resource", MODELS)
@pytest.mark.parametrize("method", ["restore", "purge"])
def test_restoring_or_purging_a_trashed_record_outside_the_scope_is_a_404(world, resource, method):
    trash(world, resource, KINDS)
    before = rows_now()

    for kind in INVISIBLE:
        path = f"/api/trash/{resource}/{world.records[resource][kind].id}/"
        response = world.a_client.post(f"{path}restore/") if method == "restore" else world.a_client.delete(path)
        assert response.status_code == 404, (kind, response.content)

    assert rows_now() == before
    restored = world.a_client.post(f"/api/trash/{resource}/{world.records[resource]['a_created'].id}/restore/")
    assert restored.status_code == 200, restored.content  # the same call inside the scope works


# --- API keys -------------------------------------------------------------------------------------------------
def test_an_api_key_sees_only_what_its_creator_sees(world):
    world.rep_role.permissions.add(Permission.objects.get(code="api_keys:manage"))
    created = world.a_client.post(
        "/api/api-keys/", {"name": "sync", "scopes": ["leads:view", "deals:view"]}, format="json"
    )
    assert created.status_code == 201, created.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.json()['key']}")

    assert list_codes(client, "/api/leads/") == codes_of(world, VISIBLE, ["leads"])
    assert list_codes(client, "/api/deals/") == codes_of(world, VISIBLE, ["deals"])
    for kind in INVISIBLE:
        assert client.get(f"/api/leads/{world.records['leads'][kind].id}/").status_code == 404


# --- figures about visible records made of invisible ones -----------------------------------------------------
def test_top_customers_sum_only_the_won_deals_in_the_scope(world):
    customer = world.records["customers"]["a_created"]  # its own deal, won, is worth 1000
    DealFactory(
        organization=world.organization,
        customer=customer,
        created_by=world.users["c"],
        assigned_to=world.employees["c"],
        stage=default_stage(world.organization, "Closed Won"),
        value=50000,
    )

    top = world.a_client.get("/api/customers/top/").json()

    assert [(row["code"], row["revenue"], row["deals_won"]) for row in top] == [(customer.code, "1000.00", 1)]


def test_the_audit_log_shows_only_the_history_of_records_in_the_scope(world, owner_client):
    for resource in MODELS:  # some history for every record
        field = {"activities": "body", "deals": "title"}.get(resource, "notes")
        for record in world.records[resource].values():
            owner_client.patch(f"/api/{resource}/{record.id}/", {field: "x"}, format="json")
    world.rep_role.permissions.add(Permission.objects.get(code="audit:view"))
    entries = world.a_client.get("/api/audit-log/", {"page_size": 100}).json()["results"]
    codes = {entry["record"]["code"] for entry in entries}
    assert codes_of(world, VISIBLE) <= codes
    assert not codes & codes_of(world, INVISIBLE)


def test_a_customers_timeline_leaves_out_the_deals_activities_and_lead_outside_the_scope(world, owner_client):
    customer = world.records["customers"]["a_created"]
    employees = {name: world.employees[name].id for name in ("a", "c")}
    made = {}
    for name, employee in employees.items():
        deal = owner_client.post(
            "/api/deals/",
            {"title": f"Deal {name}", "customer": customer.id, "value": "10.00", "assigned_to": employee},
            format="json",
        )
        activity = owner_client.post(
            "/api/activities/",
            {"type": "note", "subject": f"Note {name}", "customer": customer.id, "assigned_to": employee},
            format="json",
        )
        assert deal.status_code == activity.status_code == 201, (deal.content, activity.content)
        made[name] = {deal.json()["code"], activity.json()["code"]}
    Customer.objects.filter(pk=customer.pk).update(converted_from_lead=world.records["leads"]["c"])

    shown = codes_in(content(world.a_client.get(f"/api/customers/{customer.id}/timeline/?page_size=100")))

    assert made["a"] <= shown
    assert not shown & (made["c"] | {world.records["leads"]["c"].code}), shown
    owners_view = codes_in(content(owner_client.get(f"/api/customers/{customer.id}/timeline/?page_size=100")))
    assert made["c"] | {world.records["leads"]["c"].code} <= owners_view
