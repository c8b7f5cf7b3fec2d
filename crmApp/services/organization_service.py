"""Organizations: creating one gives it an owner, the default roles and the default pipeline."""
from django.db import transaction
from django.utils.text import slugify
from django.utils.crypto import get_random_string

from crmApp.constants import DEFAULT_PIPELINE_NAME, DEFAULT_PIPELINE_STAGES, DEFAULT_ROLES, MembershipRole, ProfileType
from crmApp.models import Membership, Organization, Permission, Pipeline, PipelineStage, Role


def unique_slug(name: str) -> str:
    """A slug for the name with a random suffix, so equal names never collide."""
    return f"{slugify(name)[:200] or 'organization'}-{get_random_string(8).lower()}"


@transaction.atomic
def provision_organization(organization: Organization) -> None:
    """Give a new organization its default roles and default pipeline with its six stages."""
    permissions = {p.code: p for p in Permission.objects.all()}
    for name, spec in DEFAULT_ROLES.items():
        role, created = Role.objects.get_or_create(
            organization=organization, name=name, defaults={"description": spec["description"]}
        )
        if created:
            role.permissions.set([permissions[code] for code in spec["permissions"] if code in permissions])
    if not Pipeline.objects.filter(organization=organization, is_default=True).exists():
        pipeline = Pipeline.objects.create(organization=organization, name=DEFAULT_PIPELINE_NAME, is_default=True)
        PipelineStage.objects.bulk_create(
            PipelineStage(
                organization=organization,
                pipeline=pipeline,
                name=name,
                order=order,
                probability=probability,
                is_won=is_won,
                is_lost=is_lost,
            )
            for order, (name, probability, is_won, is_lost) in enumerate(DEFAULT_PIPELINE_STAGES, start=1)
        )


@transaction.atomic
def create_organization(*, name: str, owner, profile_type: str = ProfileType.EMPLOYEE) -> Organization:
    """Create an organization owned by `owner`, provisioned with its defaults."""
    organization = Organization.objects.create(name=name, slug=unique_slug(name))
    Membership.objects.create(
        user=owner, organization=organization, role=MembershipRole.OWNER, profile_type=profile_type
    )
    if owner.default_organization_id is None:
        owner.default_organization = organization
        owner.save(update_fields=["default_organization"])
    provision_organization(organization)
    return organization
