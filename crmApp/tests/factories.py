"""factory-boy factories; child records always land in their parent's organization."""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from crmApp.caching import mark_organization_changed
from crmApp.constants import CustomerType, MembershipRole, ProfileType
from crmApp.models import (
    Activity,
    Customer,
    Deal,
    Employee,
    Lead,
    Membership,
    Organization,
    Pipeline,
    PipelineStage,
    Role,
    User,
    UserRole,
    Vendor,
)
from crmApp.services.deal_service import apply_stage
from crmApp.services.lead_scoring import score_lead
from crmApp.services.organization_service import provision_organization, unique_slug

TEST_PASSWORD = "Str0ng-enough-pass!"


class OrganizationOwnedFactory(DjangoModelFactory):
    """Records written straight to the database make the organization's cached figures stale, like service writes."""

    class Meta:
        abstract = True

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        super()._after_postgeneration(instance, create, results)
        if create:
            mark_organization_changed(instance.organization_id)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(DjangoModelFactory):
    """An organization with its default roles and pipeline, like one made through the API."""

    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.LazyAttribute(lambda o: unique_slug(o.name))

    @factory.post_generation
    def provision(obj, create, extracted, **kwargs):
        if create:
            provision_organization(obj)


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = MembershipRole.MEMBER
    profile_type = ProfileType.EMPLOYEE


class RoleFactory(DjangoModelFactory):
    class Meta:
        model = Role
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Role {n}")

    @factory.post_generation
    def codes(obj, create, extracted, **kwargs):
        """RoleFactory(codes=["leads:view"]) grants those codes."""
        if create and extracted:
            from crmApp.models import Permission

            obj.permissions.set(Permission.objects.filter(code__in=extracted))


class UserRoleFactory(DjangoModelFactory):
    class Meta:
        model = UserRole

    role = factory.SubFactory(RoleFactory)
    organization = factory.SelfAttribute("role.organization")
    user = factory.SubFactory(UserFactory)


class EmployeeFactory(OrganizationOwnedFactory):
    class Meta:
        model = Employee

    organization = factory.SubFactory(OrganizationFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"employee{n}@example.com")


class VendorFactory(OrganizationOwnedFactory):
    class Meta:
        model = Vendor

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Vendor {n}")


class CustomerFactory(OrganizationOwnedFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    customer_type = CustomerType.INDIVIDUAL
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class LeadFactory(OrganizationOwnedFactory):
    class Meta:
        model = Lead

    organization = factory.SubFactory(OrganizationFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    score = factory.LazyAttribute(
        lambda o: score_lead(
            email=o.email,
            phone=o.phone,
            company=o.company,
            job_title=o.job_title,
            source=o.source,
            estimated_value=o.estimated_value,
        )
    )
    email = ""
    phone = ""
    company = ""
    job_title = ""
    source = "other"
    estimated_value = None


class PipelineFactory(OrganizationOwnedFactory):
    class Meta:
        model = Pipeline

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Pipeline {n}")


class PipelineStageFactory(OrganizationOwnedFactory):
    class Meta:
        model = PipelineStage

    pipeline = factory.SubFactory(PipelineFactory)
    organization = factory.SelfAttribute("pipeline.organization")
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)
    probability = 10


def default_stage(organization, name: str = "Prospecting") -> PipelineStage:
    """A stage of the organization's default pipeline, by name."""
    return PipelineStage.objects.get(organization=organization, pipeline__is_default=True, name=name)


class DealFactory(OrganizationOwnedFactory):
    """DealFactory(organization=org, stage=default_stage(org, "Closed Won"), value=...)."""

    class Meta:
        model = Deal

    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Deal {n}")
    customer = factory.SubFactory(CustomerFactory, organization=factory.SelfAttribute("..organization"))
    stage = factory.LazyAttribute(lambda o: default_stage(o.organization))
    pipeline = factory.SelfAttribute("stage.pipeline")
    value = Decimal("1000.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        deal = model_class(*args, **kwargs)
        apply_stage(deal, kwargs["stage"])
        deal.save()
        return deal


class ActivityFactory(OrganizationOwnedFactory):
    """An activity about a lead of the same organization."""

    class Meta:
        model = Activity

    organization = factory.SubFactory(OrganizationFactory)
    subject = factory.Sequence(lambda n: f"Call {n}")
    lead = factory.SubFactory(LeadFactory, organization=factory.SelfAttribute("..organization"))


# The factory of each CRM record resource, by its API path segment.
FACTORIES_BY_RESOURCE = {
    "customers": CustomerFactory,
    "leads": LeadFactory,
    "deals": DealFactory,
    "activities": ActivityFactory,
    "employees": EmployeeFactory,
    "vendors": VendorFactory,
}
