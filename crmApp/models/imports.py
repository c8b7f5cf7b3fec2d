"""CSV imports: the uploaded file, the job's progress, and the rows it could not take."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from crmApp.constants import ImportMode, ImportStatus


class ImportJob(models.Model):
    """One uploaded file imported in the background into one resource of one organization.

    The file is kept in the database, so any worker (on any machine) can run the job.
    """

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    resource = models.CharField(max_length=20)
    mode = models.CharField(max_length=10, choices=ImportMode.choices, default=ImportMode.CREATE)
    match_on = models.CharField(max_length=10, default="email")
    # CSV column -> field, as resolved at upload.
    mapping = models.JSONField(default=dict)
    dry_run = models.BooleanField(default=False)
    encoding = models.CharField(max_length=20)
    file = models.BinaryField()
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Why a job failed as a whole (row errors are ImportRowError rows).
    failure = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The key a service started the job with: the job runs with that key's scopes, and stops once it is revoked.
    # Keys are revoked, not deleted; only their organization's deletion takes them, and its jobs with them.
    api_key = models.ForeignKey("crmApp.ApiKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="import_org_created_idx")]

    def __str__(self):
        return f"{self.resource} import #{self.pk}"


class ImportRowError(models.Model):
    """A row the import did not store (or would not, in a dry run), and why."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="errors")
    # 1 is the first data row (the header is row 0).
    row = models.PositiveIntegerField()
    field = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["row", "id"]
        indexes = [models.Index(fields=["job", "row", "id"], name="import_error_job_row_idx")]

    def __str__(self):
        return f"row {self.row}: {self.message}"
