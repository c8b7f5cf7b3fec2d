"""Starting an import: the upload is checked (encoding, columns, size) before a job is queued for it."""

from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.exceptions import ParseError

from crmApp import jobs, tasks
from crmApp.constants import ImportMode
from crmApp.imports import reading, storage
from crmApp.imports.resources import importable_fields
from crmApp.models import ImportJob
from crmApp.parsers import strict_loads
from crmApp.tenancy import Tenant


class ImportService:
    """Imports of one organization."""

    def __init__(self, tenant: Tenant, **_):
        self.tenant = tenant

    @property
    def jobs(self):
        """The organization's jobs (without their files); a member with a narrower scope sees their own."""
        rows = ImportJob.objects.filter(organization=self.tenant.organization).defer("file")
        return rows if self.tenant.visible_users is None else rows.filter(created_by=self.tenant.user)

    @transaction.atomic
    def start(self, *, upload, resource: str, mode: str, match_on: str, mapping: str | None, dry_run: bool):
        """Queue a job for a readable upload; raises ValidationError naming what is wrong with it.

        A job started with an API key runs with that key's scopes, for as long as the key may act.
        """
        if upload.size > reading.MAX_BYTES:
            raise ValidationError({"file": "The file is larger than 50 MB."})
        content = upload.read()
        try:
            encoding, header, total = reading.inspect(content)
        except reading.UnreadableFile as error:
            raise ValidationError({"file": str(error)})
        explicit = self.parse_mapping(mapping)
        try:
            columns = reading.resolve_mapping(header, importable_fields(resource), explicit)
        except reading.UnreadableFile as error:
            raise ValidationError({"file" if explicit is None else "mapping": str(error)})
        if not columns:
            raise ValidationError({"file": "No column of the file maps to a field; name them after the fields."})
        if total > reading.MAX_ROWS:
            raise ValidationError({"file": f"The file has {total:,} rows; an import takes at most 200,000."})
        if mode == ImportMode.UPSERT and match_on not in columns.values():
            raise ValidationError({"match_on": f"No column of the file holds `{match_on}` to match records on."})
        job = ImportJob.objects.create(
            organization=self.tenant.organization,
            resource=resource,
            mode=mode,
            match_on=match_on,
            mapping=columns,
            dry_run=dry_run,
            encoding=encoding,
            file=b"",
            total_rows=max(total, 0),
            created_by=self.tenant.user,
            api_key=self.tenant.api_key,
        )
        storage.save_file(job.id, reading.as_utf8(content, encoding))
        jobs.enqueue(tasks.run_import, job.id)
        # Without the file, so that refreshing the job (as the view does) never reads it back.
        return ImportJob.objects.defer("file").get(pk=job.pk)

    @staticmethod
    def parse_mapping(raw: str | None) -> dict[str, str] | None:
        if raw in (None, ""):
            return None
        # The checks a JSON body gets: too deep a nesting is a RecursionError, and a lone surrogate
        # (`"\ud800"`) can't be encoded into the error that names it.
        try:
            mapping = strict_loads(raw)
        except ParseError:
            mapping = None
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ValidationError({"mapping": 'Send a JSON object {"<column>": "<field>"}.'})
        return mapping
