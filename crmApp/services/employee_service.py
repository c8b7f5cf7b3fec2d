"""Employees: one employee record per user account in an organization."""

from django.core.exceptions import ValidationError as DjangoValidationError

from crmApp.exceptions import MemberChangeForbidden
from crmApp.models import Activity, Customer, Deal, Employee, Lead
from crmApp.services.base import OrganizationService, check_linked_user, links_another_user


class EmployeeService(OrganizationService):
    """Creates, changes and deletes employees; deleting one leaves their records unassigned."""

    model = Employee

    def _check_user_free(self, user, *, exclude_pk: int | None = None) -> None:
        """Raise a validation error on `user` when another employee here already has that account."""
        if user is None:
            return
        # The database's uniqueness covers the trash too, so a trashed employee still holds their account.
        holders = Employee.with_trashed.filter(organization=self.organization, user=user).exclude(pk=exclude_pk)
        held = list(holders.values_list("deleted_at", flat=True)[:1])
        if held and held[0] is not None:
            raise DjangoValidationError(
                {"user": "This user's employee record of this organization is in the trash: restore it instead."}
            )
        if held:
            raise DjangoValidationError({"user": "Another employee of this organization already has this user."})

    def prepare_create(self, record: Employee) -> None:
        """Raises ValidationError when the user isn't an active member or already has an employee record here."""
        check_linked_user(self.organization, record.user)
        self._check_user_free(record.user)

    def check_own_reach(self, record: Employee, user) -> None:
        """Raise MemberChangeForbidden (403) when linking `record` to `user` widens what the actor sees.

        A narrow record scope shows what is assigned to the employee records of the actor (and teammates):
        linking another employee record to one of them would bring its records in. As with teams and
        roles, nobody hands themselves more than they have; unlinking, and linking to others, stay open.
        """
        reach = self.tenant.visible_users
        if reach is None or user is None or user.pk == record.user_id or user.pk not in reach:
            return
        raise MemberChangeForbidden(
            "Your record scope shows what your (and your teammates') employee records hold, "
            "so you can't link another employee record to yourself or a teammate."
        )

    def apply_update(self, record: Employee, fields: dict) -> None:
        """Raises ValidationError when the new user isn't an active member or already has an employee record here."""
        if links_another_user(record, fields):
            self.check_own_reach(record, fields["user"])
            check_linked_user(self.organization, fields["user"])
            self._check_user_free(fields["user"], exclude_pk=record.pk)
        super().apply_update(record, fields)

    def trash_record(self, record: Employee, **extra) -> Employee:
        """Trash the employee; the customers, leads, deals and activities they held become unassigned.

        Each unassignment is a change of its own, so a restored employee does not get them back.
        """
        for model in (Customer, Lead, Deal, Activity):
            self.update_rows(model.objects.filter(organization=self.organization, assigned_to=record), assigned_to=None)
        return super().trash_record(record, **extra)
