"""`manage.py purge_trash`: delete for good what has waited in the trash longer than TRASH_RETENTION_DAYS."""

from django.core.management.base import BaseCommand

from crmApp.services.trash_service import purge_expired


class Command(BaseCommand):
    help = "Delete for good the records that have been in the trash longer than TRASH_RETENTION_DAYS (default 30)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="retention in days (default TRASH_RETENTION_DAYS)")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 0:
            self.stderr.write("--days can't be negative.")
            return
        purged = purge_expired(retention_days=days)
        listed = ", ".join(f"{count} {name}" for name, count in purged.items())
        self.stdout.write(f"Purged {listed}.")
