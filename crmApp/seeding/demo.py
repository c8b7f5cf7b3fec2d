"""The documented demo: an admin, two organizations, a user per role and a year of CRM history."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from random import Random

from django.db import transaction
from django.utils import timezone

from crmApp.constants import CustomerType, MembershipRole, ProfileType
from crmApp.models import Customer, Employee, Membership, Organization, PipelineStage, Role, User, UserRole
from crmApp.seeding.fill import Counts, FillReport, fill_organization
from crmApp.services.deal_service import DealService
from crmApp.services.organization_service import create_organization
from crmApp.tenancy import Tenant

ADMIN_EMAIL = "admin@crm.com"
DEMO_PASSWORD = "demo12345"


@dataclass(frozen=True)
class DemoUser:
    """A demo account: its login and the role it plays in each demo organization it belongs to."""

    email: str
    first_name: str
    last_name: str
    password: str = DEMO_PASSWORD
    username: str | None = None
    superuser: bool = False


@dataclass(frozen=True)
class DemoOrganization:
    """A demo organization: its size and its members as (email, role name or None, profile type)."""

    name: str
    counts: Counts
    members: tuple = ()


USERS = {
    user.email: user
    for user in (
        DemoUser(ADMIN_EMAIL, "Alex", "Admin", password="admin123", username="admin", superuser=True),
        DemoUser("manager@crm.com", "Maria", "Lopez", username="manager"),
        DemoUser("rep@crm.com", "Sam", "Carter", username="rep"),
        DemoUser("viewer@crm.com", "Victor", "Hale", username="viewer"),
        DemoUser("customer@crm.com", "Claire", "Dunn", username="customer"),
    )
}
ORGANIZATIONS = (
    DemoOrganization(
        "Acme Corporation",
        Counts(employees=12, vendors=6, customers=60, leads=160, deals=90, activities=150),
        members=(
            ("manager@crm.com", "Sales Manager", ProfileType.EMPLOYEE),
            ("rep@crm.com", "Sales Rep", ProfileType.EMPLOYEE),
            ("viewer@crm.com", "Viewer", ProfileType.EMPLOYEE),
            ("customer@crm.com", None, ProfileType.CUSTOMER),
        ),
    ),
    DemoOrganization(
        "Globex Industries",
        Counts(employees=8, vendors=4, customers=40, leads=100, deals=60, activities=80),
        members=(
            ("manager@crm.com", "Sales Manager", ProfileType.EMPLOYEE),
            ("viewer@crm.com", "Viewer", ProfileType.EMPLOYEE),
        ),
    ),
)
# Portal customer's own deals: (stage name, value).
PORTAL_DEALS = (("Proposal", Decimal("18500.00")), ("Closed Won", Decimal("42000.00")))


@dataclass
class DemoReport:
    """What a demo run created and what it found already there."""

    users_created: list[str] = field(default_factory=list)
    users_present: list[str] = field(default_factory=list)
    organizations_created: list[FillReport] = field(default_factory=list)
    organizations_present: list[str] = field(default_factory=list)


def ensure_user(email: str) -> tuple[User, bool]:
    """The demo account for `email` (created with its documented password if missing); an existing one is left as is."""
    existing = User.objects.find_by_email(email)
    if existing is not None:
        return existing, False
    spec = USERS.get(email.lower(), DemoUser(email.lower(), "", ""))
    create = User.objects.create_superuser if spec.superuser else User.objects.create_user
    user = create(
        spec.email,
        spec.password,
        username=spec.username,
        first_name=spec.first_name,
        last_name=spec.last_name,
        is_email_verified=True,
    )
    return user, True


def demo_organization(spec: DemoOrganization, admin: User) -> Organization | None:
    """The demo organization of that name owned by the admin, if it was seeded before."""
    return (
        Organization.objects.filter(name=spec.name, memberships__user=admin, memberships__role=MembershipRole.OWNER)
        .order_by("id")
        .first()
    )


def _add_member(organization: Organization, user: User, role_name: str | None, profile_type: str) -> None:
    Membership.objects.create(
        user=user, organization=organization, role=MembershipRole.MEMBER, profile_type=profile_type
    )
    if role_name:
        role = Role.objects.get(organization=organization, name=role_name)
        UserRole.objects.create(organization=organization, user=user, role=role)
    if user.default_organization_id is None:
        user.default_organization = organization
        user.save(update_fields=["default_organization"])


def _build_organization(spec: DemoOrganization, admin: User, users: dict, rng: Random, progress: bool) -> FillReport:
    organization = create_organization(name=spec.name, owner=admin)
    portal_customer = None
    for email, role_name, profile_type in spec.members:
        user = users[email]
        _add_member(organization, user, role_name, profile_type)
        if profile_type == ProfileType.CUSTOMER:
            portal_customer = Customer(
                organization=organization,
                created_by=admin,
                customer_type=CustomerType.INDIVIDUAL,
                user=user,
                first_name=user.first_name,
                last_name=user.last_name,
                email=user.email,
                city="Toronto",
                country="Canada",
                source="referral",
            )
            portal_customer.save()
        else:
            Employee(
                organization=organization,
                created_by=admin,
                user=user,
                first_name=user.first_name,
                last_name=user.last_name,
                email=user.email,
                department="Sales",
                job_title=role_name or "",
            ).save()
    report = fill_organization(organization, targets=spec.counts, rng=rng, author=admin, progress=progress)
    if portal_customer is not None:
        service = DealService(Tenant.system(organization, user=admin))
        for stage_name, value in PORTAL_DEALS:
            stage = PipelineStage.objects.get(organization=organization, pipeline__is_default=True, name=stage_name)
            service.create(
                title=f"{stage_name} for {portal_customer.display_name}",
                customer=portal_customer,
                stage=stage,
                value=value,
                expected_close_date=timezone.localdate() + timedelta(days=0 if stage.is_won else 45),
            )
    return report


@transaction.atomic
def seed_demo(*, seed: int, progress: bool = False) -> DemoReport:
    """Create the demo once: missing users and organizations are made, ones already there are left untouched."""
    report = DemoReport()
    users = {}
    for email in USERS:
        users[email], created = ensure_user(email)
        (report.users_created if created else report.users_present).append(email)
    admin = users[ADMIN_EMAIL]
    for index, spec in enumerate(ORGANIZATIONS):
        if demo_organization(spec, admin) is not None:
            report.organizations_present.append(spec.name)
            continue
        rng = Random(f"{seed}:{index}")
        report.organizations_created.append(_build_organization(spec, admin, users, rng, progress))
    return report
