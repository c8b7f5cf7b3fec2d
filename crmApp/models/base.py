"""The abstract bases of every CRM record: tenant, timestamps, author and per-organization code."""

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone


class OrganizationOwned(models.Model):
    """A record that belongs to one organization and remembers who made it and when."""

    # No index of its own: every composite index and unique constraint of a tenant table leads with it.
    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    # A default rather than auto_now_add, so imports and the demo seed can keep historical dates.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # 1 on create, +1 on every change by any path; the ETag of the record (API.md › Write safety).
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def clean(self):
        """Refuse links to another organization's rows (the API's scoped fields do the same for requests)."""
        super().clean()
        errors = {}
        for field in self._meta.concrete_fields:
            if not field.is_relation or field.name == "organization":
                continue
            if not any(f.name == "organization" for f in field.related_model._meta.concrete_fields):
                continue
            related_id = getattr(self, field.attname)
            if related_id is None or self.organization_id is None:
                continue
            related = (
                field.related_model._base_manager.filter(pk=related_id)
                .values_list("organization_id", flat=True)
                .first()
            )
            if related != self.organization_id:
                errors[field.name] = "This belongs to another organization."
        if errors:
            raise ValidationError(errors)


class CodeSequenceManager(models.Manager):
    def allocate(self, *, organization_id: int, prefix: str, count: int = 1) -> int:
        """Reserve `count` consecutive numbers and return the first; the row lock makes it race-free."""
        with transaction.atomic():
            updated = self.filter(organization_id=organization_id, prefix=prefix).update(
                last_value=F("last_value") + count
            )
            if not updated:
                try:
                    with transaction.atomic():
                        self.create(organization_id=organization_id, prefix=prefix, last_value=count)
                        return 1
                except IntegrityError:  # another request created the row first; take the lock now
                    self.filter(organization_id=organization_id, prefix=prefix).update(
                        last_value=F("last_value") + count
                    )
            last = (
                self.filter(organization_id=organization_id, prefix=prefix).values_list("last_value", flat=True).get()
            )
            return last - count + 1


class CodeSequence(models.Model):
    """The last number handed out for one code prefix in one organization."""

    organization = models.ForeignKey("crmApp.Organization", on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=10)
    last_value = models.PositiveBigIntegerField(default=0)

    objects = CodeSequenceManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "prefix"], name="code_sequence_unique")]

    def __str__(self):
        return f"{self.prefix} #{self.last_value}"


def format_code(prefix: str, number: int) -> str:
    return f"{prefix}-{number:04d}"


class AllRowsManager(models.Manager):
    """Every row, trashed ones too: restore, purge and the trash list read through it."""


class LiveManager(models.Manager):
    """The records that are not in the trash: what every list, detail, count and figure reads."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


# The condition of the indexes that only live records need (counts and figures read them alone).
LIVE = models.Q(deleted_at__isnull=True)


class CodedRecord(OrganizationOwned):
    """An organization-owned record with a human code (`CUST-0001`) unique within its organization.

    Deleting one moves it to the trash (`deleted_at`): `objects` no longer returns it, `with_trashed`
    does, and its code is never handed out again.
    """

    CODE_PREFIX: ClassVar[str]

    code = models.CharField(max_length=20, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = LiveManager()
    with_trashed = AllRowsManager()

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="%(class)s_unique_code_per_org"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "deleted_at"],
                condition=models.Q(deleted_at__isnull=False),
                name="%(class)s_org_trash_idx",
            ),
        ]

    def save(self, *args, **kwargs):
        if not self.code:
            with transaction.atomic():
                number = CodeSequence.objects.allocate(organization_id=self.organization_id, prefix=self.CODE_PREFIX)
                self.code = format_code(self.CODE_PREFIX, number)
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)
