"""RBAC: who holds which code, and the `/api/roles/`, `/api/user-roles/` and `/api/permissions/` rules."""

import pytest

from crmApp.constants import PERMISSIONS, MembershipRole
from crmApp.models import Membership, Role, UserRole
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import MembershipFactory, RoleFactory, UserFactory, UserRoleFactory

pytestmark = pytest.mark.django_db

PRINCIPALS = ["owner", "admin", "member without roles", "Sales Manager", "Sales Rep", "Viewer"]
CRM = ("employees", "vendors", "customers", "leads", "deals", "pipelines", "activities")


@pytest.fixture
def principal(owner, organization, make_member):
    """principal(name) -> a user of `organization` who is that kind of member."""

    def _principal(name):
        if name == "owner":
            return owner
        if name == "admin":
            return make_member(role=MembershipRole.ADMIN)
        user = make_member()
        if name != "member without roles":
            UserRoleFactory(user=user, role=Role.objects.get(organization=organization, name=name))
        return user

    return _principal


def contract_allows(name: str, code: str) -> bool:
    """API.md's words for each principal, written independently of constants.DEFAULT_ROLES."""
    resource, verb = code.split(":")
    return {
        "owner": True,
        "admin": True,
        "member without roles": False,
        "Sales Manager": resource in CRM or code == "analytics:view",
        "Sales Rep": (
            resource in ("customers", "leads", "deals", "activities") and verb in ("view", "create", "update")
        )
        or code == "pipelines:view",
        "Viewer": verb == "view" and code != "audit:view",
    }[name]


@pytest.mark.parametrize("code", sorted(PERMISSIONS))
@pytest.mark.parametrize("name", PRINCIPALS)
def test_every_code_for_every_default_principal(principal, organization, name, code):
    user = principal(name)
    tenant = Tenant.for_membership(
        Membership.objects.select_related("organization").get(user=user, organization=organization)
    )

    assert tenant.has(code) is contract_allows(name, code)


# Over HTTP against real endpoints: (method, path, code it needs or None for any member).
ENDPOINTS = [
    ("get", "/api/employees/", "employees:view"),
    ("get", "/api/vendors/", "vendors:view"),
    ("get", "/api/customers/", "customers:view"),
    ("get", "/api/leads/", "leads:view"),
    ("get", "/api/deals/", "deals:view"),
    ("get", "/api/pipelines/", "pipelines:view"),
    ("post", "/api/roles/", "roles:manage"),
    ("post", "/api/user-roles/", "roles:manage"),
    ("post", "/api/organizations/{org}/members/", "members:manage"),
    ("get", "/api/roles/", None),
    ("get", "/api/user-roles/", None),
    ("get", "/api/permissions/", None),
    ("get", "/api/organizations/{org}/members/", None),
]


@pytest.mark.parametrize(("method", "path", "code"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
@pytest.mark.parametrize("name", PRINCIPALS)
def test_http_permission_matrix(principal, organization, make_member, name, method, path, code):
    user = principal(name)
    target = make_member()
    bodies = {
        "/api/roles/": {"name": "Auditor", "permissions": ["leads:view"]},
        "/api/user-roles/": {"user": target.id, "role": Role.objects.get(organization=organization, name="Viewer").id},
        "/api/organizations/{org}/members/": {"email": "new@example.com"},
    }
    client = make_client(user, organization)

    response = getattr(client, method)(
        path.format(org=organization.id), bodies.get(path) if method == "post" else None, format="json"
    )

    allowed = code is None or contract_allows(name, code)
    assert response.status_code == ({"get": 200, "post": 201}[method] if allowed else 403), response.content
    if not allowed:
        assert response.json()["code"] == "permission_denied"


def test_codes_are_the_union_of_the_members_roles(make_member, organization):
    user = make_member(["leads:view"])
    UserRoleFactory(user=user, role=RoleFactory(organization=organization, codes=["deals:view", "leads:view"]))
    tenant = Tenant.for_membership(Membership.objects.select_related("organization").get(user=user))

    assert tenant.codes == {"leads:view", "deals:view"}


def test_a_role_held_in_another_organization_grants_nothing_here(make_member, organization, other_organization):
    user = make_member()
    MembershipFactory(user=user, organization=other_organization)
    UserRoleFactory(
        user=user, role=RoleFactory(organization=other_organization, codes=["employees:view", "roles:manage"])
    )

    assert make_client(user, organization).get("/api/employees/").status_code == 403
    assert make_client(user, organization).post("/api/roles/", {"name": "X"}, format="json").status_code == 403
    assert make_client(user, other_organization).get("/api/employees/").status_code == 200


# --- permissions catalogue ------------------------------------------------------------------------
def test_permission_catalogue_lists_every_code_in_one_page(member_client):
    response = member_client().get("/api/permissions/")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (len(PERMISSIONS), None, None)
    assert body["results"] == [{"code": code, "description": PERMISSIONS[code]} for code in sorted(PERMISSIONS)]


def test_permission_catalogue_needs_a_membership(api_client, db):
    assert api_client.get("/api/permissions/").status_code == 401
    assert make_client(UserFactory()).get("/api/permissions/").status_code == 403


# --- roles ----------------------------------------------------------------------------------------
def role_url(role_id) -> str:
    return f"/api/roles/{role_id}/"


def test_roles_list_shows_the_default_roles_with_their_codes(member_client):
    response = member_client().get("/api/roles/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["name"] for r in results] == ["Sales Manager", "Sales Rep", "Viewer"]
    sales_rep = results[1]
    assert set(sales_rep) == {"id", "name", "description", "permissions", "record_scope"}
    assert sales_rep["record_scope"] == "all"
    assert sales_rep["permissions"] == [
        "activities:create",
        "activities:update",
        "activities:view",
        "customers:create",
        "customers:update",
        "customers:view",
        "deals:create",
        "deals:update",
        "deals:view",
        "leads:create",
        "leads:update",
        "leads:view",
        "pipelines:view",
    ]


def test_create_role_stores_deduplicated_codes(owner_client, organization):
    response = owner_client.post(
        "/api/roles/",
        {
            "name": "Auditor",
            "description": "Reads leads",
            "permissions": ["leads:view", "deals:view", "leads:view"],
            "id": 1,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    role = Role.objects.get(pk=body["id"])
    assert body == {
        "id": role.id,
        "name": "Auditor",
        "description": "Reads leads",
        "permissions": ["deals:view", "leads:view"],
        "record_scope": "all",
    }
    assert role.organization_id == organization.id
    assert sorted(role.permissions.values_list("code", flat=True)) == ["deals:view", "leads:view"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "permissions": ["leads:view", "leads:fly"]}, "permissions"),
        ({"name": "X", "permissions": "leads:view"}, "permissions"),
        ({"name": "X", "permissions": [{"code": "leads:view"}]}, "permissions"),
        ({"name": "X", "permissions": ["x" * 1000]}, "permissions"),
        ({"name": "Viewer"}, "name"),
        ({"name": "sales rep"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "X", "description": "d" * 501}, "description"),
    ],
)
def test_invalid_role_input_is_400_on_the_field(owner_client, organization, payload, field):
    response = owner_client.post("/api/roles/", payload, format="json")

    assert response.status_code == 400
    assert error_fields(response) == {field}
    assert Role.objects.filter(organization=organization).count() == 3


def test_the_same_role_name_is_fine_in_another_organization(other_client):
    assert other_client.post("/api/roles/", {"name": "Auditor"}, format="json").status_code == 201
    assert other_client.post("/api/roles/", {"name": "auditor"}, format="json").status_code == 400


def test_patch_replaces_codes_only_when_given(owner_client, organization):
    role = RoleFactory(organization=organization, name="Auditor", codes=["leads:view"])

    renamed = owner_client.patch(role_url(role.id), {"name": "Auditors"}, format="json")
    replaced = owner_client.patch(role_url(role.id), {"permissions": ["deals:view"]}, format="json")
    cleared = owner_client.patch(role_url(role.id), {"permissions": []}, format="json")

    assert (renamed.status_code, renamed.json()["permissions"]) == (200, ["leads:view"])
    assert (replaced.status_code, replaced.json()["permissions"]) == (200, ["deals:view"])
    assert (cleared.status_code, cleared.json()["permissions"]) == (200, [])
    role.refresh_from_db()
    assert (role.name, role.permissions.count()) == ("Auditors", 0)


def test_patch_keeping_its_own_name_is_fine_but_taking_anothers_is_400(owner_client, organization):
    role = RoleFactory(organization=organization, name="Auditor")

    assert owner_client.patch(role_url(role.id), {"name": "Auditor"}, format="json").status_code == 200
    response = owner_client.patch(role_url(role.id), {"name": "VIEWER"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]


def test_deleting_a_role_takes_its_codes_from_its_holders(owner_client, organization, make_member):
    holder = make_member(["roles:manage"])
    role = UserRole.objects.get(user=holder).role
    client = make_client(holder, organization)
    assert client.post("/api/roles/", {"name": "Before"}, format="json").status_code == 201

    assert owner_client.delete(role_url(role.id)).status_code == 204

    assert not UserRole.objects.filter(user=holder).exists()
    assert client.post("/api/roles/", {"name": "After"}, format="json").status_code == 403


def test_another_organizations_role_is_404_and_never_listed(owner_client, other_organization):
    foreign = Role.objects.filter(organization=other_organization).first()

    for method in ("get", "patch", "put", "delete"):
        body = None if method == "get" else {"name": "Taken"}
        response = getattr(owner_client, method)(role_url(foreign.id), body, format="json")
        assert response.status_code == 404, method
    foreign.refresh_from_db()
    assert foreign.name != "Taken"
    assert foreign.id not in [r["id"] for r in owner_client.get("/api/roles/").json()["results"]]


@pytest.mark.parametrize("role_id", ["abc", "99999999999999999999999", "-1"])
def test_an_impossible_role_id_is_404(owner_client, role_id):
    assert owner_client.get(role_url(role_id)).status_code == 404


@pytest.mark.parametrize("page_size", [1, 100])
def test_roles_list_runs_a_constant_number_of_queries(
    owner_client, organization, page_size, django_assert_max_num_queries
):
    for index in range(10):
        RoleFactory(organization=organization, codes=["leads:view", "deals:view"], name=f"Extra {index}")
    # user, membership, count, roles, their permissions
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/roles/", {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 13)


# --- user roles -----------------------------------------------------------------------------------
def viewer_role(organization) -> Role:
    return Role.objects.get(organization=organization, name="Viewer")


def test_assigning_a_role_grants_its_codes(owner_client, organization, make_member):
    member = make_member()
    role = RoleFactory(organization=organization, codes=["roles:manage"])
    member_client = make_client(member, organization)
    assert member_client.post("/api/roles/", {"name": "Before"}, format="json").status_code == 403

    response = owner_client.post("/api/user-roles/", {"user": member.id, "role": role.id, "id": 77}, format="json")

    assert response.status_code == 201
    assignment = UserRole.objects.get(user=member)
    assert response.json() == {"id": assignment.id, "user": member.id, "role": role.id}
    assert assignment.organization_id == organization.id
    assert member_client.post("/api/roles/", {"name": "After"}, format="json").status_code == 201


@pytest.mark.parametrize("who", ["outsider", "foreign member", "removed member", "missing", "text", "huge", "null"])
def test_assigning_to_someone_who_is_not_an_active_member_is_400_on_user(
    owner_client, organization, other_owner, make_member, who
):
    removed = make_member()
    Membership.objects.filter(user=removed).update(status="removed")
    user = {
        "outsider": UserFactory().id,
        "foreign member": other_owner.id,
        "removed member": removed.id,
        "missing": 10**6,
        "text": "abc",
        "huge": 10**25,
        "null": None,
    }[who]

    response = owner_client.post(
        "/api/user-roles/", {"user": user, "role": viewer_role(organization).id}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["user"]
    assert not UserRole.objects.exists()


@pytest.mark.parametrize("role", ["foreign", "missing", "text", "huge"])
def test_assigning_a_role_of_another_organization_is_400_on_role(owner_client, other_organization, make_member, role):
    member = make_member()
    role_id = {"foreign": viewer_role(other_organization).id, "missing": 10**6, "text": "x", "huge": 10**25}[role]

    response = owner_client.post("/api/user-roles/", {"user": member.id, "role": role_id}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["role"]
    assert not UserRole.objects.exists()


def test_assigning_the_same_role_twice_is_400(owner_client, organization, make_member):
    member = make_member()
    payload = {"user": member.id, "role": viewer_role(organization).id}
    assert owner_client.post("/api/user-roles/", payload, format="json").status_code == 201

    response = owner_client.post("/api/user-roles/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["non_field_errors"]
    assert UserRole.objects.count() == 1


def test_the_same_role_assigned_meanwhile_is_the_same_400(owner_client, organization, make_member, monkeypatch):
    # Two simultaneous assignments: the second passes the serializer's check before the first commits.
    from crmApp.serializers.rbac import UserRoleSerializer

    member = make_member()
    payload = {"user": member.id, "role": viewer_role(organization).id}
    assert owner_client.post("/api/user-roles/", payload, format="json").status_code == 201
    monkeypatch.setattr(UserRoleSerializer, "validate", lambda self, attrs: attrs)

    response = owner_client.post("/api/user-roles/", payload, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert response.json()["errors"] == {"non_field_errors": ["This member already has this role."]}
    assert UserRole.objects.count() == 1


def test_user_roles_filter_by_user(owner_client, organization, other_organization, make_member):
    first, second = make_member(), make_member()
    mine = UserRoleFactory(user=first, role=viewer_role(organization))
    UserRoleFactory(user=second, role=viewer_role(organization))
    MembershipFactory(user=first, organization=other_organization)
    UserRoleFactory(user=first, role=viewer_role(other_organization))

    everyone = owner_client.get("/api/user-roles/").json()
    only_first = owner_client.get("/api/user-roles/", {"user": first.id}).json()

    assert everyone["count"] == 2
    assert [(r["id"], r["user"], r["role"]) for r in only_first["results"]] == [(mine.id, first.id, mine.role_id)]


@pytest.mark.parametrize("value", ["abc", "99999999999999999999999", "-3"])
def test_an_impossible_user_filter_is_400(owner_client, value):
    response = owner_client.get("/api/user-roles/", {"user": value})

    assert response.status_code == 400
    assert "user" in response.json()["errors"]


def test_unassigning_removes_the_codes(owner_client, organization, make_member):
    member = make_member(["employees:view"])
    assignment = UserRole.objects.get(user=member)
    client = make_client(member, organization)
    assert client.get("/api/employees/").status_code == 200

    assert owner_client.delete(f"/api/user-roles/{assignment.id}/").status_code == 204

    assert client.get("/api/employees/").status_code == 403


def test_another_organizations_assignment_is_404(owner_client, other_organization, other_owner):
    foreign = UserRoleFactory(user=other_owner, role=viewer_role(other_organization))

    assert owner_client.get(f"/api/user-roles/{foreign.id}/").status_code == 404
    assert owner_client.delete(f"/api/user-roles/{foreign.id}/").status_code == 404
    assert UserRole.objects.filter(pk=foreign.pk).exists()


def test_assignments_cannot_be_edited(owner_client, organization, make_member):
    assignment = UserRoleFactory(user=make_member(), role=viewer_role(organization))

    assert owner_client.patch(f"/api/user-roles/{assignment.id}/", {"role": 1}, format="json").status_code == 405


@pytest.mark.parametrize("page_size", [1, 100])
def test_user_roles_list_runs_a_constant_number_of_queries(
    owner_client, organization, make_member, page_size, django_assert_max_num_queries
):
    for _ in range(6):
        UserRoleFactory(user=make_member(), role=viewer_role(organization))
    # user, membership, count, page
    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/user-roles/", {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 6)
