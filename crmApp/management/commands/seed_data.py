"""`manage.py seed_data`: the documented demo, or one organization filled to a given size."""

import sys
import time
from random import Random

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from crmApp.constants import MembershipRole
from crmApp.models import Membership, Organization
from crmApp.seeding import demo
from crmApp.seeding.fill import Counts, FillReport, fill_organization, vacuum
from crmApp.services.organization_service import create_organization

DEFAULT_SEED = 20_240_601
SIZE_OPTIONS = tuple(name for name, _ in Counts().items())


class Command(BaseCommand):
    """Seed demo data; with --organization and sizes, fill one organization up to those sizes."""

    help = (
        "Without options: create the demo (admin / admin@crm.com / admin123, two organizations, users per role, "
        "a year of leads, customers and deals); a rerun changes nothing. With --organization NAME and sizes "
        "(--leads, --customers, --deals, --employees, --vendors): top that organization up to at least those "
        "counts, creating it (owned by --owner) if missing."
    )

    def add_arguments(self, parser):
        """The seed, the organization to fill and its sizes."""
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same data)")
        parser.add_argument("--organization", metavar="NAME", help="fill this organization instead of the demo")
        parser.add_argument(
            "--owner",
            metavar="EMAIL",
            default=demo.ADMIN_EMAIL,
            help=f"owner of a newly created --organization (default {demo.ADMIN_EMAIL}); "
            f"a missing account is created with password {demo.DEMO_PASSWORD}",
        )
        for name in SIZE_OPTIONS:
            parser.add_argument(f"--{name}", type=int, metavar="N", help=f"at least N {name} in the organization")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, **options):
        """Seed the demo, or fill the named organization."""
        progress = not options["no_progress"] and sys.stderr.isatty()
        sizes = {name: options[name] for name in SIZE_OPTIONS if options[name] is not None}
        if any(value < 0 for value in sizes.values()):
            raise CommandError("Sizes can't be negative.")
        if options["organization"]:
            try:  # else the organization's owner is an account nobody can sign in with
                validate_email(options["owner"])
            except ValidationError:
                raise CommandError(f"--owner must be an email address, not {options['owner']!r}.") from None
            self._fill(options["organization"], options["owner"], Counts(**sizes), options["seed"], progress)
        elif sizes:
            raise CommandError("Size options need --organization NAME (the demo has fixed sizes).")
        else:
            self._demo(options["seed"], progress)

    def _demo(self, seed: int, progress: bool) -> None:
        started = time.perf_counter()
        report = demo.seed_demo(seed=seed, progress=progress)
        if not report.organizations_created and not report.users_created:
            self.stdout.write("Demo data already present; nothing changed.")
        for fill in report.organizations_created:
            self._write_fill(fill)
        for name in report.organizations_present:
            self.stdout.write(f"{name}: already present, left as is.")
        self.stdout.write("\nDemo accounts (email / password / where):")
        for user in demo.USERS.values():
            state = "created" if user.email in report.users_created else "already present, unchanged"
            self.stdout.write(f"  {user.email:<18} {user.password:<10} {self._roles(user.email)}  [{state}]")
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.perf_counter() - started:.1f} s."))

    def _fill(self, name: str, owner_email: str, targets: Counts, seed: int, progress: bool) -> None:
        started = time.perf_counter()
        with transaction.atomic():
            organization = Organization.objects.filter(name=name).order_by("id").first()
            if organization is None:
                owner, _ = demo.ensure_user(owner_email)
                organization = create_organization(name=name, owner=owner)
                self.stdout.write(f"Created organization {name!r} (id {organization.id}) owned by {owner.email}.")
            else:
                owner = self._owner(organization)
            try:
                report = fill_organization(
                    organization, targets=targets, rng=Random(seed), author=owner, progress=progress
                )
            except ValueError as error:
                raise CommandError(str(error)) from error
            except IntegrityError as error:  # e.g. record codes behind rows loaded without their counters
                raise CommandError(f"The fill would break a unique constraint; nothing was written. {error}") from error
        if any(step.added for step in report.steps):
            vacuuming = time.perf_counter()
            vacuum()
            self.stdout.write(f"  VACUUM {time.perf_counter() - vacuuming:.1f} s")
        self._write_fill(report)
        self.stdout.write(self.style.SUCCESS(f"Done in {time.perf_counter() - started:.1f} s."))

    @staticmethod
    def _owner(organization):
        membership = (
            Membership.objects.filter(organization=organization, role=MembershipRole.OWNER).order_by("id").first()
        )
        return membership.user if membership else None

    @staticmethod
    def _roles(email: str) -> str:
        memberships = Membership.objects.filter(user__email=email).select_related("organization").order_by("id")
        parts = []
        for membership in memberships:
            roles = ", ".join(
                membership.user.user_roles.filter(organization=membership.organization).values_list(
                    "role__name", flat=True
                )
            )
            kind = "portal customer" if membership.profile_type == "customer" else (roles or membership.role)
            parts.append(f"{membership.organization.name}: {kind}")
        return "; ".join(parts) or "no organization"

    def _write_fill(self, report: FillReport) -> None:
        organization = report.organization
        self.stdout.write(f"{organization.name} (id {organization.id}):")
        for step in report.steps:
            if step.added:
                self.stdout.write(
                    f"  {step.kind:<10} +{step.added:>10,}  {step.seconds:7.2f} s  {step.rate:>10,.0f} rows/s"
                )
            elif step.target:
                self.stdout.write(f"  {step.kind:<10} {'already there':>11}")
        if report.history and report.history.added:
            history = report.history
            self.stdout.write(
                f"  {'history':<10} +{history.added:>10,}  {history.seconds:7.2f} s  {history.rate:>10,.0f} rows/s"
            )
        if report.linked_conversions:
            self.stdout.write(
                f"  {report.linked_conversions:,} customers linked to the leads they were converted from"
                f" ({report.link_seconds:.1f} s)"
            )
        if report.indexes_built:
            self.stdout.write(
                f"  {report.indexes_built} indexes of the tables loaded in bulk built in {report.index_seconds:.1f} s"
            )
        if report.analyze_seconds > 0.05:
            self.stdout.write(f"  ANALYZE {report.analyze_seconds:.1f} s")
        if report.tally_seconds:
            self.stdout.write(f"  tallies counted in {report.tally_seconds:.1f} s")
        if report.check_seconds:
            self.stdout.write(f"  references checked set-based in {report.check_seconds:.1f} s")
        self.stdout.write(f"  fill {report.seconds:.1f} s")
