"""GET/PATCH /api/users/me/: the shape, the active organization rules, codes, and the editable fields."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crmApp.constants import ALL_PERMISSION_CODES, MembershipRole, ProfileType
from crmApp.models import Membership, Organization
from crmApp.services.organization_service import create_organization
from crmApp.tests.conftest import error_fields, make_client
from crmApp.tests.factories import MembershipFactory, OrganizationFactory, RoleFactory, UserFactory, UserRoleFactory

ME = "/api/users/me/"

pytestmark = pytest.mark.django_db


def test_owner_sees_the_whole_shape(owner, organization):
    response = make_client(owner).get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": owner.id,
        "email": "owner@example.com",
        "username": None,
        "first_name": owner.first_name,
        "last_name": owner.last_name,
        "is_email_verified": False,
        "active_organization": organization.id,
        "organizations": [{"id": organization.id, "name": "Acme", "role": "owner", "profile_type": "employee"}],
        "permissions": sorted(ALL_PERMISSION_CODES),
    }


def test_narrow_member_sees_exactly_their_codes(make_member, organization):
    member = make_member(codes=["leads:view", "customers:view", "customers:create"])
    body = make_client(member).get(ME).json()
    assert body["permissions"] == ["customers:create", "customers:view", "leads:view"]
    assert body["organizations"] == [
        {"id": organization.id, "name": "Acme", "role": "member", "profile_type": "employee"}
    ]


def test_codes_are_the_union_of_roles_in_the_active_organization_only(make_member, organization, other_organization):
    member = make_member(codes=["leads:view"])
    UserRoleFactory(user=member, role=RoleFactory(organization=organization, codes=["leads:view", "deals:view"]))
    make_member(codes=["vendors:delete"], org=other_organization, user=member)

    assert make_client(member).get(ME).json()["permissions"] == ["deals:view", "leads:view"]
    assert make_client(member, other_organization).get(ME).json()["permissions"] == ["vendors:delete"]


@pytest.mark.parametrize(
    "role, profile_type, expected",
    [
        (MembershipRole.ADMIN, ProfileType.EMPLOYEE, sorted(ALL_PERMISSION_CODES)),
        (MembershipRole.MEMBER, ProfileType.EMPLOYEE, []),
        (MembershipRole.MEMBER, ProfileType.CUSTOMER, []),
        (MembershipRole.MEMBER, ProfileType.VENDOR, []),
    ],
)
def test_codes_by_membership_role(make_member, role, profile_type, expected):
    member = make_member(role=role, profile_type=profile_type)
    body = make_client(member).get(ME).json()
    assert body["permissions"] == expected
    assert (body["organizations"][0]["role"], body["organizations"][0]["profile_type"]) == (role, profile_type)


# --- the active organization ----------------------------------------------------------------------
@pytest.fixture
def two_org_member(make_member, organization, other_organization):
    """A member of Acme holding leads:view, and an admin of Globex."""
    member = make_member(codes=["leads:view"])
    make_member(role=MembershipRole.ADMIN, org=other_organization, user=member)
    return member


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, "organization"),
        ("own", "organization"),
        ("other", "other_organization"),
        (" other ", "other_organization"),
    ],
)
def test_header_picks_the_active_organization(two_org_member, organization, other_organization, header, expected):
    ids = {"own": str(organization.id), "other": str(other_organization.id), " other ": f" {other_organization.id} "}
    extra = {} if header is None else {"HTTP_X_ORGANIZATION_ID": ids.get(header, header)}
    body = make_client(two_org_member).get(ME, **extra).json()
    active = {"organization": organization, "other_organization": other_organization}[expected]
    assert body["active_organization"] == active.id
    assert body["permissions"] == (["leads:view"] if active == organization else sorted(ALL_PERMISSION_CODES))
    assert [o["name"] for o in body["organizations"]] == ["Acme", "Globex"]


def foreign_org_id():
    return str(OrganizationFactory().id)


@pytest.mark.parametrize(
    "header",
    [
        foreign_org_id,
        lambda: "abc",
        lambda: "0",
        lambda: "-1",
        lambda: "99999999999999999999999",
        lambda: "1.5",
        lambda: "9223372036854775807",
    ],
    ids=["foreign", "text", "zero", "negative", "overflow", "decimal", "max-bigint-missing"],
)
@pytest.mark.parametrize("method", ["get", "patch"])
def test_header_naming_an_organization_you_are_not_in_is_403(owner, organization, header, method):
    client = make_client(owner)
    body = None if method == "get" else {"first_name": "Changed"}
    response = getattr(client, method)(ME, body, format="json", HTTP_X_ORGANIZATION_ID=header())
    assert response.status_code == 403
    assert response.json()["code"] == "organization_forbidden"
    owner.refresh_from_db()
    assert owner.first_name != "Changed"


@pytest.mark.parametrize("change", ["membership", "organization"])
def test_inactive_membership_or_organization_is_neither_listed_nor_usable(two_org_member, other_organization, change):
    if change == "membership":
        Membership.objects.filter(user=two_org_member, organization=other_organization).update(status="removed")
    else:
        Organization.objects.filter(pk=other_organization.pk).update(is_active=False)
    client = make_client(two_org_member)
    assert [o["name"] for o in client.get(ME).json()["organizations"]] == ["Acme"]
    assert client.get(ME, HTTP_X_ORGANIZATION_ID=str(other_organization.id)).status_code == 403


def test_default_organization_wins_over_the_first_joined(two_org_member, other_organization):
    two_org_member.default_organization = other_organization
    two_org_member.save()
    assert make_client(two_org_member).get(ME).json()["active_organization"] == other_organization.id


def test_user_without_organization_has_null_active_organization():
    loner = UserFactory()
    body = make_client(loner).get(ME).json()
    assert (body["active_organization"], body["organizations"], body["permissions"]) == (None, [], [])


def test_user_without_organization_naming_one_is_403(organization):
    loner = UserFactory()
    assert make_client(loner, organization).get(ME).status_code == 403


# --- query count ----------------------------------------------------------------------------------
def queries_for(client) -> int:
    """Queries of one request with nothing cached about the caller yet."""
    cache.clear()
    with CaptureQueriesContext(connection) as context:
        assert client.get(ME).status_code == 200
    return len(context)


def test_query_count_does_not_grow_with_organizations_or_roles(
    make_member, organization, django_assert_max_num_queries
):
    small = make_member(codes=["leads:view"])
    big = make_member(codes=["leads:view"])
    for index in range(5):
        UserRoleFactory(user=big, role=RoleFactory(organization=organization, codes=["deals:view", "customers:view"]))
        org = create_organization(name=f"Extra {index}", owner=UserFactory())
        MembershipFactory(user=big, organization=org)
    owner_of_many = UserFactory()
    for index in range(5):
        create_organization(name=f"Owned {index}", owner=owner_of_many)

    client = make_client(big)
    with django_assert_max_num_queries(4):  # user, active membership, memberships, codes
        client.get(ME)
    assert queries_for(make_client(small)) == queries_for(make_client(big))
    assert queries_for(make_client(owner_of_many)) <= queries_for(make_client(big))


# --- PATCH ----------------------------------------------------------------------------------------
def test_patch_changes_names_and_username_and_answers_the_same_shape(owner, organization):
    client = make_client(owner)
    response = client.patch(ME, {"first_name": "Ada", "last_name": "Lovelace", "username": "Ada.L"}, format="json")

    assert response.status_code == 200
    changed = {"first_name": "Ada", "last_name": "Lovelace", "username": "Ada.L"}
    assert response.json() == {**client.get(ME).json(), **changed}
    owner.refresh_from_db()
    assert (owner.first_name, owner.last_name, owner.username) == ("Ada", "Lovelace", "Ada.L")


def test_patch_ignores_the_fields_the_profile_only_shows(owner, organization):
    client = make_client(owner)
    shown = client.get(ME).json()
    sent = {
        **shown,
        "email": "else@example.com",
        "is_email_verified": not shown["is_email_verified"],
        "permissions": [],
    }

    answer = client.patch(ME, sent, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json() == shown
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"
    # A field no answer shows is still a typo.
    assert error_fields(client.patch(ME, {"frist_name": "X"}, format="json")) == {"frist_name"}


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_patch_blank_username_clears_it(owner, blank):
    owner.username = "someone"
    owner.save()
    response = make_client(owner).patch(ME, {"username": blank}, format="json")
    assert response.status_code == 200
    assert response.json()["username"] is None
    owner.refresh_from_db()
    assert owner.username is None


def test_patch_keeping_your_own_username_in_another_case_is_fine(owner):
    owner.username = "owner"
    owner.save()
    assert make_client(owner).patch(ME, {"username": "OWNER"}, format="json").json()["username"] == "OWNER"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "TAKEN"}, "username"),
        ({"username": "taken"}, "username"),
        ({"username": "a@b.c"}, "username"),
        ({"username": "u" * 101}, "username"),
        ({"username": 42}, "username"),
        ({"username": 1.5}, "username"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"last_name": "y" * 101}, "last_name"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": None}, "first_name"),
        ({"last_name": ["a"]}, "last_name"),
    ],
)
def test_patch_refusals_are_400_on_the_field(owner, body, field):
    UserFactory(username="Taken")
    before = (owner.first_name, owner.last_name, owner.username)
    response = make_client(owner).patch(ME, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    owner.refresh_from_db()
    assert (owner.first_name, owner.last_name, owner.username) == before


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_other_methods_are_405(owner, method):
    assert getattr(make_client(owner), method)(ME, {}, format="json").status_code == 405
