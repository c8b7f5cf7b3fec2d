"""`manage.py purge_trash`: delete for good what has waited in the trash longer than TRASH_RETENTION_DAYS."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crmApp.services.trash_service import purge_expired


class Command(BaseCommand):
    help = "Delete for good the records that have been in the trash longer than TRASH_RETENTION_DAYS (default 30)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="retention in days (default TRASH_RETENTION_DAYS)")

    def handle(self, *args, days=None, **options):
        # A CommandError, so that the scheduler running it sees a failure (a non-zero exit).
        if days is not None and not 0 <= days <= settings.MAX_TRASH_RETENTION_DAYS:
            raise CommandError(f"--days must be from 0 to {settings.MAX_TRASH_RETENTION_DAYS}.")
        purged = purge_expired(retention_days=days)
        listed = ", ".join(f"{count} {name}" for name, count in purged.items())
        self.stdout.write(f"Purged {listed}.")
