"""Choices, permission codes, default roles and the default pipeline, each listed once."""

from django.db import models


class MembershipRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class MembershipStatus(models.TextChoices):
    INVITED = "invited", "Invited"
    ACTIVE = "active", "Active"
    REMOVED = "removed", "Removed"


class ProfileType(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    VENDOR = "vendor", "Vendor"
    CUSTOMER = "customer", "Customer"


class ActiveStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


class CustomerType(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    BUSINESS = "business", "Business"


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    PROSPECT = "prospect", "Prospect"


class LeadSource(models.TextChoices):
    REFERRAL = "referral", "Referral"
    PARTNER = "partner", "Partner"
    WEBSITE = "website", "Website"
    SOCIAL_MEDIA = "social_media", "Social media"
    EMAIL_CAMPAIGN = "email_campaign", "Email campaign"
    EVENT = "event", "Event"
    COLD_CALL = "cold_call", "Cold call"
    ADVERTISEMENT = "advertisement", "Advertisement"
    OTHER = "other", "Other"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    UNQUALIFIED = "unqualified", "Unqualified"
    CONVERTED = "converted", "Converted"
    LOST = "lost", "Lost"


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class ActivityType(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    TASK = "task", "Task"
    EMAIL = "email", "Email"


class ChangeSource(models.TextChoices):
    """Where a change to a record came from (history entries carry it)."""

    API = "api", "API"
    ADMIN = "admin", "Admin"
    BULK = "bulk", "Bulk action"
    IMPORT = "import", "Import"
    SYSTEM = "system", "System"


# --- Visibility, import ----------------------------------------------------------------------------
class RecordScope(models.TextChoices):
    """Which customers, leads, deals and activities a role's members see (the widest of their roles)."""

    OWN = "own", "Own records"
    TEAM = "team", "Their teams' records"
    ALL = "all", "All records"


# Widest first: a member's scope is the first of these that one of their roles has.
SCOPE_BREADTH = (RecordScope.ALL, RecordScope.TEAM, RecordScope.OWN)
TRASH_RESOURCES = ("customers", "leads", "deals", "activities", "employees", "vendors")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportMode(models.TextChoices):
    CREATE = "create", "Create"
    UPSERT = "upsert", "Create or update"


# --- Integrations ---------------------------------------------------------------------------------
class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# Every event a webhook can subscribe to (API.md › Integrations); "*" subscribes to all of them.
WEBHOOK_EVENTS: tuple[str, ...] = (
    *(f"customer.{name}" for name in ("created", "updated", "deleted", "restored", "merged")),
    *(f"lead.{name}" for name in ("created", "updated", "deleted", "restored", "converted")),
    *(f"deal.{name}" for name in ("created", "updated", "deleted", "restored", "stage_changed", "won", "lost")),
    *(f"activity.{name}" for name in ("created", "updated", "completed", "deleted", "restored")),
)
ALL_EVENTS = "*"
PING_EVENT = "ping"
# Codes an API key never carries, whatever its creator holds.
NEVER_API_KEY_CODES = frozenset({"api_keys:manage", "webhooks:manage", "roles:manage", "members:manage"})


# --- RBAC -----------------------------------------------------------------------------------------
CRUD_ACTIONS = ("view", "create", "update", "delete")
CRM_RESOURCES = ("employees", "vendors", "customers", "leads", "deals", "pipelines", "activities")
# Codes beyond the CRM records; audit, webhooks and API keys are for owners and admins unless granted.
OTHER_CODES = {
    "analytics:view": "View analytics",
    "audit:view": "Read the audit log of every change",
    "roles:manage": "Create, change and assign roles",
    "members:manage": "Invite, change and remove members",
    "webhooks:manage": "Create and manage webhooks",
    "api_keys:manage": "Create and revoke API keys",
}


def _catalogue() -> dict[str, str]:
    codes = {
        f"{resource}:{action}": f"{action.capitalize()} {resource}"
        for resource in CRM_RESOURCES
        for action in CRUD_ACTIONS
    }
    return {**codes, **OTHER_CODES}


# code -> description; the Permission table is seeded from this by migrations.
PERMISSIONS: dict[str, str] = _catalogue()
ALL_PERMISSION_CODES: frozenset[str] = frozenset(PERMISSIONS)

_CRM_CODES = [f"{r}:{a}" for r in CRM_RESOURCES for a in CRUD_ACTIONS]
DEFAULT_ROLES: dict[str, dict] = {
    "Sales Manager": {
        "description": "Every CRM record and analytics.",
        "permissions": [*_CRM_CODES, "analytics:view"],
    },
    "Sales Rep": {
        "description": "Works customers, leads, deals and activities.",
        "permissions": [
            *(f"{r}:{a}" for r in ("customers", "leads", "deals", "activities") for a in ("view", "create", "update")),
            "pipelines:view",
        ],
    },
    "Viewer": {
        "description": "Reads every record and analytics.",
        "permissions": sorted(code for code in PERMISSIONS if code.endswith(":view") and code != "audit:view"),
    },
}

# --- Pipeline -------------------------------------------------------------------------------------
DEFAULT_PIPELINE_NAME = "Sales Pipeline"
# (name, probability, is_won, is_lost), in order.
DEFAULT_PIPELINE_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 25, False, False),
    ("Proposal", 50, False, False),
    ("Negotiation", 75, False, False),
    ("Closed Won", 100, True, False),
    ("Closed Lost", 0, False, True),
)

# --- Field limits (API.md › limits) -----------------------------------------------------------------
NAME_MAX = 100
LONG_NAME_MAX = 200
EMAIL_MAX = 254
PHONE_MAX = 40
NOTES_MAX = 10_000
MONEY_DIGITS = 14
MONEY_PLACES = 2
# A non-negative amount as the API takes it: up to 12 digits before the point and 2 after.
MONEY_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"
