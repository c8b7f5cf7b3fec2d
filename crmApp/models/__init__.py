"""Every model of the CRM, importable from `crmApp.models`."""

from crmApp.models.activity import Activity
from crmApp.models.auth import User
from crmApp.models.base import CodedRecord, CodeSequence, OrganizationOwned
from crmApp.models.customer import Customer
from crmApp.models.deal import Deal, Pipeline, PipelineStage
from crmApp.models.employee import Employee
from crmApp.models.history import EntryKind, HistoryEntry
from crmApp.models.idempotency import IdempotencyKey
from crmApp.models.imports import ImportJob, ImportRowError
from crmApp.models.integration import ApiKey, OutboxEvent, Webhook, WebhookDelivery
from crmApp.models.lead import Lead
from crmApp.models.organization import Membership, Organization
from crmApp.models.rbac import Permission, Role, Team, UserRole
from crmApp.models.tally import CustomerTally, DealTally, LeadTally
from crmApp.models.vendor import Vendor

__all__ = [
    "Activity",
    "ApiKey",
    "CodeSequence",
    "CodedRecord",
    "Customer",
    "CustomerTally",
    "Deal",
    "DealTally",
    "Employee",
    "EntryKind",
    "HistoryEntry",
    "IdempotencyKey",
    "ImportJob",
    "ImportRowError",
    "Lead",
    "LeadTally",
    "Membership",
    "Organization",
    "OrganizationOwned",
    "OutboxEvent",
    "Permission",
    "Pipeline",
    "PipelineStage",
    "Role",
    "Team",
    "User",
    "UserRole",
    "Vendor",
    "Webhook",
    "WebhookDelivery",
]
