"""Vendors: plain records of the organization."""

from crmApp.models import Vendor
from crmApp.services.base import OrganizationService


class VendorService(OrganizationService):
    """Creates, changes and deletes the organization's vendors."""

    model = Vendor
