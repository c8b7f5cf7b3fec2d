"""Vendors: plain records of the organization."""

from crmApp.models import Vendor
from crmApp.services.base import OrganizationService, check_linked_user, links_another_user


class VendorService(OrganizationService):
    """Creates, changes and deletes the organization's vendors."""

    model = Vendor

    def prepare_create(self, record: Vendor) -> None:
        """Raises ValidationError when the user isn't an active member here."""
        check_linked_user(self.organization, record.user)

    def apply_update(self, record: Vendor, fields: dict) -> None:
        """Raises ValidationError when the new user isn't an active member here."""
        if links_another_user(record, fields):
            check_linked_user(self.organization, fields["user"])
        super().apply_update(record, fields)
