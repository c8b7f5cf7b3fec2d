"""Reading the history: a record's changes, its timeline (changes, events and activities) and the audit log."""

from django.db.models import F, Q, QuerySet, Value

from crmApp.history import record_type
from crmApp.models import Activity, Customer, Deal, EntryKind, HistoryEntry, Lead
from crmApp.tenancy import Tenant

HISTORY_ROWS = "h"
ACTIVITY_ROWS = "a"
TIMELINE_KINDS = ("activity", EntryKind.CHANGE.value, EntryKind.EVENT.value)


class TimelinePage:
    """A record's history entries and activities as one list, newest first, read a page at a time.

    Django's paginator asks for `count()` and a slice; each costs a constant number of queries (two
    counts; one UNION for the page, then one query per kind of row on it), whatever the timeline's length.
    """

    def __init__(self, organization_id: int, history: QuerySet | None, activities: QuerySet | None):
        self.organization_id, self.history, self.activities = organization_id, history, activities

    def count(self) -> int:
        return sum(rows.count() for rows in (self.history, self.activities) if rows is not None)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list:
        parts = []
        if self.history is not None:
            parts.append(self.history.annotate(moment=F("at"), table=Value(HISTORY_ROWS)))
        if self.activities is not None:
            parts.append(self.activities.annotate(moment=F("created_at"), table=Value(ACTIVITY_ROWS)))
        if not parts:
            return []
        rows = [part.order_by().values_list("moment", "id", "table") for part in parts]
        union = rows[0].union(*rows[1:], all=True) if len(rows) > 1 else rows[0]
        page = list(union.order_by("-moment", "-table", "-id")[window])
        ids = {table: [row_id for _, row_id, kind in page if kind == table] for table in (HISTORY_ROWS, ACTIVITY_ROWS)}
        entries = HistoryEntry.objects.select_related("actor").in_bulk(ids[HISTORY_ROWS])
        activities = Activity.objects.select_related("customer", "lead", "deal", "created_by").in_bulk(
            ids[ACTIVITY_ROWS]
        )
        # Who made each activity, and from where: its `created` entry.
        creations = {
            entry.record_id: entry
            for entry in HistoryEntry.objects.select_related("actor").filter(
                organization_id=self.organization_id,  # leads the index on (organization, record_type, record_id)
                record_type="activity",
                record_id__in=ids[ACTIVITY_ROWS],
                event="created",
            )
        }
        return [
            entries[row_id] if table == HISTORY_ROWS else TimelineActivity(activities[row_id], creations.get(row_id))
            for _, row_id, table in page
        ]


class TimelineActivity:
    """An activity as a timeline entry, with the author and source of its creation."""

    def __init__(self, activity: Activity, created: HistoryEntry | None):
        self.activity, self.created = activity, created


class TimelineService:
    """History reads of one organization."""

    def __init__(self, tenant: Tenant, **_):
        self.tenant = tenant
        self.organization = tenant.organization

    def entries(self) -> QuerySet:
        return HistoryEntry.objects.filter(organization=self.organization)

    def history_of(self, record) -> QuerySet:
        """The field changes of one record, newest first (one write, one entry)."""
        return (
            self.entries()
            .filter(record_type=record_type(type(record)), record_id=record.pk, kind=EntryKind.CHANGE)
            .select_related("actor")
            .order_by("-at", "-id")
        )

    def audit_log(self) -> QuerySet:
        """Every history entry of the organization, newest first."""
        return self.entries().select_related("actor").order_by("-at", "-id")

    def timeline(self, record, *, kind: str | None = None, with_activities: bool = True) -> TimelinePage:
        """The timeline of a customer (with its deals and the lead it came from), a lead or a deal.

        Related records and activities the caller's record scope hides stay out of it.
        """
        history_scope, activity_scope = self._scopes(record)
        history = self.entries().filter(history_scope)
        activities = self.tenant.visible(Activity.objects.filter(organization=self.organization)).filter(activity_scope)
        if kind in (EntryKind.CHANGE, EntryKind.EVENT):
            history, activities = history.filter(kind=kind), None
        elif kind == "activity":
            history = None
        return TimelinePage(self.organization.id, history, activities if with_activities else None)

    def _scopes(self, record) -> tuple[Q, Q]:
        if isinstance(record, Customer):
            # The related ids are read first (one query) and named as literals: a subquery inside the
            # OR would make PostgreSQL scan the whole history instead of one index range per record.
            deals = self.tenant.visible(Deal.objects.filter(customer=record)).order_by()
            related = deals.values_list("id", Value("deal"))
            if record.converted_from_lead_id:
                lead = self.tenant.visible(Lead.objects.filter(pk=record.converted_from_lead_id))
                related = related.union(lead.order_by().values_list("id", Value("lead")), all=True)
            ids = {"deal": [], "lead": []}
            for record_id, kind in related:
                ids[kind].append(record_id)
            history = (
                Q(record_type="customer", record_id=record.pk)
                | Q(record_type="deal", record_id__in=ids["deal"])
                | Q(record_type="lead", record_id__in=ids["lead"])
            )
            activities = Q(customer=record) | Q(deal__in=ids["deal"]) | Q(lead__in=ids["lead"])
            return history, activities
        if isinstance(record, Lead):
            return Q(record_type="lead", record_id=record.pk), Q(lead=record)
        return Q(record_type="deal", record_id=record.pk), Q(deal=record)
