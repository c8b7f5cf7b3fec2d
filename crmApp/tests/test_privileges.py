"""Privilege boundaries: portal customers see only their own records, role managers grant only what they hold,
and OPTIONS advertises only what the caller may do."""

import pytest
from django.db import IntegrityError, transaction

from crmApp.constants import ProfileType, RecordScope
from crmApp.models import Role, UserRole
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import RoleFactory, UserRoleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/api/organizations/{org}/members/", "/api/roles/", "/api/user-roles/", "/api/permissions/"],
)
def test_a_portal_customer_reads_no_member_role_or_catalogue(make_member, organization, url):
    portal = make_client(make_member(profile_type=ProfileType.CUSTOMER), organization)

    response = portal.get(url.format(org=organization.id))

    assert response.status_code == 403
    assert "@" not in response.content.decode()


@pytest.fixture
def role_manager(make_member, organization):
    return make_client(make_member(["roles:manage", "leads:view", "leads:create"]), organization)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["leads:view"], 201),
        (["leads:view", "leads:create"], 201),
        (["leads:delete"], 403),
        (["roles:manage", "members:manage"], 403),
    ],
)
def test_a_role_manager_creates_roles_only_from_codes_it_holds(role_manager, codes, expected):
    response = role_manager.post("/api/roles/", {"name": "Custom", "permissions": codes}, format="json")

    assert response.status_code == expected
    assert Role.objects.filter(name="Custom").exists() == (expected == 201)


def test_a_role_manager_cannot_widen_or_hand_out_a_bigger_role(role_manager, organization, make_member):
    mine = RoleFactory(organization=organization, name="Small", codes=["leads:view"])
    bigger = RoleFactory(organization=organization, name="Big", codes=["leads:view", "deals:delete"])
    colleague = make_member()

    widen = role_manager.patch(f"/api/roles/{mine.id}/", {"permissions": ["leads:view", "deals:view"]}, format="json")
    rename_bigger = role_manager.patch(f"/api/roles/{bigger.id}/", {"name": "Bigger"}, format="json")
    assign_bigger = role_manager.post("/api/user-roles/", {"user": colleague.id, "role": bigger.id}, format="json")
    assign_mine = role_manager.post("/api/user-roles/", {"user": colleague.id, "role": mine.id}, format="json")

    assert (widen.status_code, rename_bigger.status_code, assign_bigger.status_code) == (403, 403, 403)
    assert assign_mine.status_code == 201
    assert sorted(bigger.permissions.values_list("code", flat=True)) == ["deals:delete", "leads:view"]
    assert UserRole.objects.filter(user=colleague).count() == 1


@pytest.mark.parametrize(
    ("own_scope", "role_scope", "status"),
    [
        (RecordScope.OWN, RecordScope.ALL, 403),
        (RecordScope.OWN, RecordScope.TEAM, 403),
        (RecordScope.TEAM, RecordScope.ALL, 403),
        (RecordScope.OWN, RecordScope.OWN, 201),
        (RecordScope.TEAM, RecordScope.TEAM, 201),
    ],
)
def test_a_role_manager_cannot_hand_out_a_wider_scope_by_assigning_a_role(
    make_member, organization, own_scope, role_scope, status
):
    manager = make_member()
    UserRoleFactory(
        user=manager, role=RoleFactory(organization=organization, codes=["roles:manage"], record_scope=own_scope)
    )
    empty = RoleFactory(organization=organization, name="Nothing", record_scope=role_scope)  # no code to refuse

    response = make_client(manager, organization).post(
        "/api/user-roles/", {"user": manager.id, "role": empty.id}, format="json"
    )

    assert response.status_code == status
    assert UserRole.objects.filter(role=empty).exists() == (status == 201)


def test_a_role_manager_cannot_grant_itself_every_code(make_member, organization):
    manager = make_member(["roles:manage"])
    client = make_client(manager, organization)
    own_role = UserRole.objects.get(user=manager).role

    response = client.patch(
        f"/api/roles/{own_role.id}/", {"permissions": ["roles:manage", "leads:delete"]}, format="json"
    )

    assert response.status_code == 403
    assert client.get("/api/users/me/").json()["permissions"] == ["roles:manage"]


def test_role_names_are_unique_regardless_of_case_in_the_database(organization):
    RoleFactory(organization=organization, name="Closers")
    with pytest.raises(IntegrityError), transaction.atomic():
        Role.objects.create(organization=organization, name="CLOSERS")


def allowed(response) -> set[str]:
    return {method.strip() for method in response["Allow"].split(",")}


@pytest.mark.parametrize(
    ("codes", "collection", "record"),
    [
        (["leads:view"], {"GET", "HEAD", "OPTIONS"}, {"GET", "HEAD", "OPTIONS"}),
        (["leads:view", "leads:create"], {"GET", "HEAD", "POST", "OPTIONS"}, {"GET", "HEAD", "OPTIONS"}),
        (["leads:view", "leads:update"], {"GET", "HEAD", "OPTIONS"}, {"GET", "HEAD", "PUT", "PATCH", "OPTIONS"}),
        (["leads:view", "leads:delete"], {"GET", "HEAD", "OPTIONS"}, {"GET", "HEAD", "DELETE", "OPTIONS"}),
    ],
)
def test_options_advertises_only_the_callers_methods(make_member, organization, codes, collection, record):
    from crmApp.tests.factories import LeadFactory

    client = make_client(make_member(codes), organization)
    lead = LeadFactory(organization=organization)

    listing = client.options("/api/leads/")
    detail = client.options(f"/api/leads/{lead.id}/")

    assert (allowed(listing), allowed(detail)) == (collection, record)
    assert ("POST" in listing.json().get("actions", {})) == ("POST" in collection)
    assert ("PUT" in detail.json().get("actions", {})) == ("PUT" in record)


def test_options_on_the_members_route_follows_the_membership_rules(make_member, organization):
    plain = make_client(make_member(), organization)
    manager = make_client(make_member(["members:manage"]), organization)
    url = f"/api/organizations/{organization.id}/members/"

    assert allowed(plain.options(url)) == {"GET", "HEAD", "OPTIONS"}
    assert allowed(manager.options(url)) == {"GET", "HEAD", "POST", "OPTIONS"}


@pytest.fixture
def auth_rate_2(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "2/minute", "user": "2/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_the_admin_sign_in_is_throttled_per_address(auth_rate_2, client, db):
    form = {"username": "nobody@example.com", "password": "wrong-password"}
    statuses = [client.post("/admin/login/", form, REMOTE_ADDR="10.1.1.1").status_code for _ in range(3)]

    assert statuses[:2] == [200, 200] and statuses[2] == 429
    assert client.post("/admin/login/", form, REMOTE_ADDR="10.1.1.2").status_code == 200


def test_a_forged_forwarded_for_buys_an_anonymous_caller_no_fresh_bucket(auth_rate_2, api_client, db):
    statuses = [
        api_client.get("/api/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_counts(auth_rate_2, api_client, settings, db):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    statuses = [
        api_client.get("/api/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 200]


def test_a_reset_request_does_the_same_work_for_known_and_unknown_addresses(
    api_client, owner, settings, django_assert_num_queries
):
    settings.TASKS_RUN_SYNCHRONOUSLY = False  # the job runs after the request, as in production
    for address in (owner.email, "nobody-here@example.com"):
        with django_assert_num_queries(0):  # the look-up and the mail happen in the background job
            response = api_client.post("/api/auth/password-reset/", {"email": address}, format="json")
        assert response.status_code == 202
