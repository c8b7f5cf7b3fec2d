"""Django admin for back-office staff: every model, searchable and filterable by organization."""

from crmApp.admin import accounts, integrations, lifecycle, records

__all__ = ["accounts", "integrations", "lifecycle", "records"]
