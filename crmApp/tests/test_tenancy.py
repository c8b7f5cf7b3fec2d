"""The tenancy base: every organization-owned route is scoped, the base can't be bypassed, and
`X-Organization-ID` picks the organization a request acts in."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import Customer, Employee, Membership, Organization, Role, User
from crmApp.permissions import ANY_MEMBER
from crmApp.tenancy import parse_id
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import EmployeeFactory, MembershipFactory, UserFactory
from crmApp.viewsets.organization import OrganizationViewSet
from crmApp.viewsets.rbac import PermissionViewSet

# Views that deliberately don't use the organization-scoped base; each names why in `dangerously_unscoped`.
DELIBERATE_EXCEPTIONS = {OrganizationViewSet, PermissionViewSet}


def api_views(patterns, prefix=""):
    """(route, view class) for every URL pattern under /api/, walking included resolvers recursively."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.lstrip("^").startswith("api/"):
            view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
            if view_class is not None:
                yield route, view_class


def owns_organization_rows(model) -> bool:
    return any(field.name == "organization" for field in model._meta.get_fields())


def scoping_violations(patterns) -> list[str]:
    """Routes whose view reaches data without the organization-scoped base, and isn't a named exception."""
    problems = []
    for route, view in api_views(patterns):
        if issubclass(view, OrganizationScopedViewSet):
            continue
        queryset = getattr(view, "queryset", None)
        reads_data = queryset is not None or "get_queryset" in vars(view)
        if queryset is not None and owns_organization_rows(queryset.model):
            problems.append(
                f"{route}: {view.__name__} serves {queryset.model.__name__} without OrganizationScopedViewSet"
            )
        elif reads_data and not (view in DELIBERATE_EXCEPTIONS and getattr(view, "dangerously_unscoped", "")):
            problems.append(f"{route}: {view.__name__} is unscoped without being a named, documented exception")
    return problems


def test_every_api_route_with_organization_data_is_scoped():
    routes = dict(api_views(get_resolver().url_patterns))

    assert scoping_violations(get_resolver().url_patterns) == []
    # The walk really reached the router's views (so an empty result above means something).
    reached = set(routes.values())
    assert {OrganizationViewSet, PermissionViewSet} <= reached
    assert {view.__name__ for view in reached} >= {
        "RoleViewSet",
        "UserRoleViewSet",
        "EmployeeViewSet",
        "CustomerViewSet",
    }


class UnscopedCustomers(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Customer.objects.all()


class UnscopedOrganizations(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Organization.objects.all()


def test_the_walk_flags_an_unscoped_viewset_and_an_undeclared_exception():
    router = SimpleRouter()
    router.register("customers", UnscopedCustomers, basename="c")
    router.register("organizations", UnscopedOrganizations, basename="o")
    patterns = [path("api/nested/", include(router.urls))]

    problems = scoping_violations(patterns)

    assert len(problems) == 2
    assert "UnscopedCustomers serves Customer" in problems[0]
    assert "UnscopedOrganizations is unscoped" in problems[1]


def test_the_deliberate_exceptions_say_why():
    for view in DELIBERATE_EXCEPTIONS:
        assert len(view.dangerously_unscoped) > 20


# --- the base refuses to be bypassed -------------------------------------------------------------
@pytest.mark.parametrize("method", ["get_queryset", "get_object", "get_permissions"])
def test_the_base_refuses_a_subclass_that_overrides_a_sealed_method(method):
    with pytest.raises(ImproperlyConfigured, match=method):
        type("Leaky", (OrganizationScopedViewSet,), {"queryset": Customer.objects.all(), method: lambda self: None})


def test_the_base_refuses_a_custom_action_without_a_permission_code():
    with pytest.raises(ImproperlyConfigured, match="must declare its permission_code"):

        class Careless(OrganizationScopedViewSet):
            queryset = Customer.objects.all()

            @action(detail=False)
            def report(self, request):
                return Response({})


def test_the_base_accepts_a_custom_action_that_names_its_code():
    class Careful(OrganizationScopedViewSet):
        queryset = Customer.objects.all()

        @action(detail=False, permission_code=ANY_MEMBER)
        def report(self, request):
            return Response({})

    assert Careful.get_extra_actions()[0].kwargs["permission_code"] == ANY_MEMBER


# --- X-Organization-ID --------------------------------------------------------------------------------
def role_organizations(response) -> set[int]:
    return {Role.objects.get(pk=role["id"]).organization_id for role in response.json()["results"]}


@pytest.mark.django_db
def test_without_the_header_the_default_organization_is_used(owner, organization, other_organization):
    MembershipFactory(user=owner, organization=other_organization)  # joined later, not the default

    response = make_client(owner).get("/api/roles/")

    assert response.status_code == 200
    assert role_organizations(response) == {organization.id}


@pytest.mark.django_db
def test_without_a_default_the_first_joined_organization_is_used(organization, other_organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=other_organization)
    MembershipFactory(user=user, organization=organization)
    assert user.default_organization_id is None

    assert role_organizations(make_client(user).get("/api/roles/")) == {other_organization.id}


@pytest.mark.django_db
def test_the_header_picks_another_organization_of_the_caller(owner, organization, other_organization):
    MembershipFactory(user=owner, organization=other_organization)

    response = make_client(owner, other_organization).get("/api/roles/")

    assert role_organizations(response) == {other_organization.id}


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["foreign", "missing", "abc", "0", "-1", "1.5", "99999999999999999999999", " "])
def test_a_header_naming_no_organization_of_the_caller_is_403(owner, organization, other_organization, header):
    value = {"foreign": other_organization.id, "missing": other_organization.id + 50}.get(header, header)
    client = make_client(owner)
    client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_ORGANIZATION_ID=str(value))

    response = client.get("/api/roles/")

    assert response.status_code == 403
    assert response.json()["code"] == "organization_forbidden"


@pytest.mark.django_db
def test_an_empty_header_is_malformed_and_a_403(owner, organization, other_organization):
    MembershipFactory(user=owner, organization=other_organization)
    client = make_client(owner)
    client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_ORGANIZATION_ID="")

    response = client.get("/api/roles/")

    assert (response.status_code, response.json()["code"]) == (403, "organization_forbidden")


@pytest.mark.django_db
def test_a_deactivated_membership_is_403_even_for_the_default(make_member, organization):
    member = make_member(["employees:view"])
    User.objects.filter(pk=member.pk).update(default_organization=organization)
    Membership.objects.filter(user=member).update(status="removed")

    assert make_client(member, organization).get("/api/employees/").status_code == 403
    assert make_client(member).get("/api/employees/").status_code == 403


@pytest.mark.django_db
def test_a_deactivated_organization_is_403(owner, organization):
    Organization.objects.filter(pk=organization.pk).update(is_active=False)

    assert make_client(owner, organization).get("/api/roles/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("superuser", [False, True])
def test_a_user_without_any_organization_is_told_how_to_get_one(db, superuser):
    client = make_client(UserFactory(is_superuser=superuser, is_staff=superuser))

    response = client.get("/api/employees/")

    assert response.status_code == 403
    assert response.json()["code"] == "no_organization"
    assert "POST /api/organizations/" in response.json()["detail"]
    created = client.post("/api/organizations/", {"name": "Mine"}, format="json")
    assert created.status_code == 201
    assert client.get("/api/employees/").status_code == 200


@pytest.mark.django_db
def test_records_of_the_other_organization_never_show(owner_client, organization, other_organization):
    mine = EmployeeFactory(organization=organization)
    EmployeeFactory(organization=other_organization)

    body = owner_client.get("/api/employees/").json()

    assert (body["count"], [e["id"] for e in body["results"]]) == (1, [mine.id])


# --- codes are computed once per request -------------------------------------------------------
def permission_lookups(queries) -> int:
    return sum(1 for query in queries if "crmApp_userrole" in query["sql"] and "crmApp_permission" in query["sql"])


@pytest.mark.django_db
def test_a_members_codes_are_loaded_once_then_cached(member_client, organization):
    for index in range(3):
        EmployeeFactory(organization=organization, first_name=f"E{index}")
    client = member_client(["employees:view", "leads:view", "deals:view"])

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/employees/")
        assert response.status_code == 200
        response = client.get(f"/api/employees/{Employee.objects.first().id}/")
        assert response.status_code == 200

    # One for the first request, none per record or check; the next request finds them cached.
    assert permission_lookups(queries.captured_queries) == 1


@pytest.mark.django_db
def test_owners_and_admins_need_no_code_query(owner_client, make_member, organization):
    admin_client = make_client(make_member(role="admin"), organization)

    with CaptureQueriesContext(connection) as queries:
        assert owner_client.get("/api/employees/").status_code == 200
        assert admin_client.get("/api/employees/").status_code == 200

    assert permission_lookups(queries.captured_queries) == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1),
        ("42", 42),
        (" 42 ", 42),
        ("+1", None),
        ("01", None),
        ("\u0661", None),  # ARABIC-INDIC DIGIT ONE, which int() reads as 1
        ("1.0", None),
        (True, None),
        (0, None),
        ("9" * 20, None),
        (2**63, None),
    ],
)
def test_an_id_is_taken_only_as_written(raw, expected):
    assert parse_id(raw) == expected
