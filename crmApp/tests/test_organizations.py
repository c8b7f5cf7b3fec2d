"""`/api/organizations/`: the caller's organizations, creating, renaming and deleting one."""

import pytest

from crmApp.constants import DEFAULT_PIPELINE_NAME, DEFAULT_ROLES, MembershipRole, ProfileType
from crmApp.models import Customer, Deal, Membership, Organization, Pipeline, Role, User, UserRole
from crmApp.services.organization_service import create_organization
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    MembershipFactory,
    OrganizationFactory,
    RoleFactory,
    UserFactory,
    UserRoleFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/organizations/"


def detail(organization_id) -> str:
    return f"{URL}{organization_id}/"


# --- list -----------------------------------------------------------------------------------------
def test_list_shows_only_the_callers_active_organizations_with_their_role(owner, organization, other_organization):
    second = OrganizationFactory(name="Beta")
    MembershipFactory(user=owner, organization=second, role=MembershipRole.MEMBER, profile_type=ProfileType.VENDOR)
    left = OrganizationFactory(name="Left")
    MembershipFactory(user=owner, organization=left, status="removed")
    switched_off = OrganizationFactory(name="Switched off", is_active=False)
    MembershipFactory(user=owner, organization=switched_off)

    response = make_client(owner).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(o["id"], o["name"], o["role"], o["profile_type"]) for o in body["results"]] == [
        (organization.id, "Acme", "owner", "employee"),
        (second.id, "Beta", "member", "vendor"),
    ]
    assert set(body["results"][0]) == {"id", "name", "slug", "role", "profile_type", "created_at", "updated_at"}


@pytest.mark.parametrize(
    ("query", "expected"), [({}, ["Aardvark", "Acme", "Zeta"]), ({"ordering": "-name"}, ["Zeta", "Acme", "Aardvark"])]
)
def test_organizations_are_listed_by_name_unless_asked_otherwise(owner, organization, query, expected):
    for name in ("Zeta", "Aardvark"):  # created after Acme, so id order would differ
        MembershipFactory(user=owner, organization=OrganizationFactory(name=name))

    assert [o["name"] for o in make_client(owner).get(URL, query).json()["results"]] == expected


def test_list_ignores_the_organization_header(owner, organization, other_organization):
    response = make_client(owner, other_organization).get(URL)

    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [organization.id]


def test_user_without_any_organization_gets_an_empty_list(db):
    response = make_client(UserFactory()).get(URL)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_anonymous_caller_is_401(api_client, organization):
    assert api_client.get(URL).status_code == 401
    assert api_client.get(detail(organization.id)).status_code == 401


@pytest.mark.parametrize("page_size", [1, 100])
def test_list_runs_a_constant_number_of_queries(owner, organization, page_size, django_assert_max_num_queries):
    for index in range(5):
        MembershipFactory(user=owner, organization=OrganizationFactory(name=f"Org {index}"))
    client = make_client(owner)
    # user, count, page
    with django_assert_max_num_queries(3):
        response = client.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 6)


# --- create ---------------------------------------------------------------------------------------
def test_create_makes_the_caller_owner_with_default_roles_and_pipeline(owner, organization, owner_client):
    response = owner_client.post(URL, {"name": "  New Co  ", "slug": "chosen", "id": 999}, format="json")

    assert response.status_code == 201
    body = response.json()
    created = Organization.objects.get(pk=body["id"])
    assert body["id"] != 999
    assert body["name"] == created.name == "New Co"
    assert body["slug"] == created.slug != "chosen"
    assert (body["role"], body["profile_type"]) == ("owner", "employee")
    assert Membership.objects.get(organization=created, user=owner).role == MembershipRole.OWNER
    assert set(Role.objects.filter(organization=created).values_list("name", flat=True)) == set(DEFAULT_ROLES)
    assert Pipeline.objects.get(organization=created, is_default=True).name == DEFAULT_PIPELINE_NAME
    owner.refresh_from_db()
    assert owner.default_organization_id == organization.id  # the first one stays the default


def test_first_organization_becomes_the_default(db):
    user = UserFactory()

    response = make_client(user).post(URL, {"name": "Solo"}, format="json")

    assert response.status_code == 201
    user.refresh_from_db()
    assert user.default_organization_id == response.json()["id"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": ["a"]}, {"name": {"a": 1}}],
)
def test_create_with_an_invalid_name_is_400_and_creates_nothing(owner_client, organization, payload):
    response = owner_client.post(URL, payload, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert Organization.objects.count() == 1


def test_create_accepts_a_name_of_200_characters(owner_client):
    assert owner_client.post(URL, {"name": "x" * 200}, format="json").status_code == 201


# --- retrieve -------------------------------------------------------------------------------------
def test_any_active_member_reads_the_organization_with_their_role(make_member, organization):
    member = make_member(profile_type=ProfileType.CUSTOMER)

    response = make_client(member).get(detail(organization.id))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["role"], body["profile_type"]) == (
        organization.id,
        "Acme",
        "member",
        "customer",
    )


@pytest.mark.parametrize("organization_id", ["other", "missing", "0", "99999999999999999999999"])
def test_an_organization_the_caller_is_not_in_is_404(owner_client, other_organization, organization_id):
    organization_id = {"other": other_organization.id, "missing": other_organization.id + 100}.get(
        organization_id, organization_id
    )
    for method in ("get", "patch", "delete"):
        response = getattr(owner_client, method)(detail(organization_id), {"name": "Taken"}, format="json")
        assert response.status_code == 404, method
        assert response.json()["code"] == "not_found"
    other_organization.refresh_from_db()
    assert other_organization.name == "Globex"


def test_a_deactivated_membership_gives_404(make_member, organization):
    member = make_member()
    Membership.objects.filter(user=member).update(status="removed")

    assert make_client(member).get(detail(organization.id)).status_code == 404


# --- update ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "codes", "expected"),
    [
        (MembershipRole.OWNER, (), 200),
        (MembershipRole.ADMIN, (), 200),
        (MembershipRole.MEMBER, ("members:manage", "roles:manage"), 403),
        (MembershipRole.MEMBER, (), 403),
    ],
)
def test_only_owners_and_admins_rename_the_organization(make_member, organization, role, codes, expected):
    user = make_member(codes, role=role)

    response = make_client(user).patch(detail(organization.id), {"name": "Renamed"}, format="json")

    assert response.status_code == expected
    organization.refresh_from_db()
    assert organization.name == ("Renamed" if expected == 200 else "Acme")


def test_rename_ignores_read_only_fields_and_returns_the_role(owner_client, organization):
    slug = organization.slug

    response = owner_client.patch(detail(organization.id), {"name": "Acme 2", "slug": "x", "id": 5}, format="json")

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["slug"], response.json()["role"]) == ("Acme 2", slug, "owner")
    organization.refresh_from_db()
    assert (organization.id, organization.slug) == (response.json()["id"], slug)


@pytest.mark.parametrize("body", [{}, {"name": "Acme"}], ids=["nothing", "the same name"])
def test_a_rename_that_changes_nothing_leaves_updated_at(owner_client, organization, body):
    organization.name = "Acme"
    organization.save()
    before = Organization.objects.get(pk=organization.pk).updated_at

    response = owner_client.patch(detail(organization.id), body, format="json")

    assert response.status_code == 200
    assert Organization.objects.get(pk=organization.pk).updated_at == before


def test_rename_with_an_overlong_name_is_400(owner_client, organization):
    response = owner_client.patch(detail(organization.id), {"name": "x" * 201}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]


def test_put_is_not_offered(owner_client, organization):
    assert owner_client.put(detail(organization.id), {"name": "x"}, format="json").status_code == 405


# --- delete ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [MembershipRole.ADMIN, MembershipRole.MEMBER])
def test_only_the_owner_deletes_the_organization(make_member, organization, role):
    user = make_member(("members:manage", "roles:manage"), role=role)

    response = make_client(user).delete(detail(organization.id))

    assert response.status_code == 403
    assert Organization.objects.filter(pk=organization.pk).exists()


def test_delete_removes_the_organization_and_everything_it_owns(owner_client, organization, other_organization):
    customer = CustomerFactory(organization=organization)
    DealFactory(organization=organization, customer=customer)
    UserRoleFactory(role=RoleFactory(organization=organization), user=UserFactory())
    foreign_deal = DealFactory(organization=other_organization)

    response = owner_client.delete(detail(organization.id))

    assert response.status_code == 204
    assert not Organization.objects.filter(pk=organization.pk).exists()
    for model in (Customer, Deal, Membership, Role, UserRole, Pipeline):
        assert not model.objects.filter(organization_id=organization.id).exists(), model.__name__
    assert Deal.objects.filter(pk=foreign_deal.pk).exists()
    assert Role.objects.filter(organization=other_organization).count() == len(DEFAULT_ROLES)
    assert owner_client.get(detail(organization.id)).status_code == 404


def test_delete_moves_each_members_default_to_their_next_organization(owner, owner_client, organization, make_member):
    later = create_organization(name="Later", owner=owner)
    member_elsewhere = make_member()
    MembershipFactory(user=member_elsewhere, organization=later)
    User.objects.filter(pk=member_elsewhere.pk).update(default_organization=organization)
    only_here = make_member()
    User.objects.filter(pk=only_here.pk).update(default_organization=organization)

    assert owner_client.delete(detail(organization.id)).status_code == 204

    assert User.objects.get(pk=owner.pk).default_organization_id == later.id
    assert User.objects.get(pk=member_elsewhere.pk).default_organization_id == later.id
    assert User.objects.get(pk=only_here.pk).default_organization_id is None
    # Users outlive the organization; the one without another organization can start a new one.
    assert make_client(only_here).post(URL, {"name": "Fresh start"}, format="json").status_code == 201
