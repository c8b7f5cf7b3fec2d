"""Employees: one employee record per user account in an organization."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from crmApp.models import Employee
from crmApp.services.base import OrganizationService


class EmployeeService(OrganizationService):
    """Creates, changes and deletes employees; deleting one leaves their records unassigned."""

    model = Employee

    def _check_user_free(self, user, *, exclude_pk: int | None = None) -> None:
        """Raise a validation error on `user` when another employee here already has that account."""
        if user is None:
            return
        if self.records.filter(user=user).exclude(pk=exclude_pk).exists():
            raise DjangoValidationError({"user": "Another employee of this organization already has this user."})

    @transaction.atomic
    def create(self, **fields) -> Employee:
        """Create an employee; raises ValidationError when the user already has an employee record here."""
        self._check_user_free(fields.get("user"))
        return super().create(**fields)

    @transaction.atomic
    def update(self, instance: Employee, **fields) -> Employee:
        """Change an employee; raises ValidationError when the new user already has an employee record here."""
        if "user" in fields:
            self._check_user_free(fields["user"], exclude_pk=instance.pk)
        return super().update(instance, **fields)
