"""`manage.py count_tallies`: count the tallies of organizations again from their records."""

from django.core.management.base import BaseCommand, CommandError

from crmApp import tallies
from crmApp.models import Organization


class Command(BaseCommand):
    help = (
        "Count the running totals behind stats, analytics and list counts again from the records "
        "(PostgreSQL), after data was loaded with triggers off (pg_restore --disable-triggers, replica mode)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", type=int, action="append", help="an organization id (default: all)")

    def handle(self, *args, organization=None, **options):
        if not tallies.kept():
            self.stdout.write("This database keeps no tallies: its figures are counted from the records.")
            return
        organizations = Organization.objects.order_by("id")
        if organization:
            organizations = organizations.filter(id__in=organization)
        ids = list(organizations.values_list("id", flat=True))
        missing = set(organization or ()) - set(ids)
        if missing:
            raise CommandError(f"No organization with id {', '.join(map(str, sorted(missing)))}.")
        for organization_id in ids:
            tallies.rebuild(organization_id)
        self.stdout.write(f"Counted the tallies of {len(ids)} organization(s).")
