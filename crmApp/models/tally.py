"""Tallies: running totals of live leads, deals and customers, kept by the database on every write.

The figures of an organization (lead stats, the dashboard, the funnel, employee performance) are
counts and sums over up to a million rows: hundreds of milliseconds whenever a write has made the
cached figure stale. On PostgreSQL, statement triggers (migration 0013) append one row per changed
group to these tables in the writing transaction: +1 and the amounts for a record that enters a group
(created, restored, moved into it), −1 and minus the amounts for one that leaves it (trashed, purged,
moved out). Every path that writes the rows (the API, the admin, bulk edits, imports, merges, COPY
outside seeding's replica mode) is covered, and a figure is the sum of a few thousand small rows at
most (crmApp.tallies). SQLite has no tallies; its figures are computed from the records.

The organization is a plain column: the organization's own delete trigger removes its tallies after
every record of it has gone (and has added its last changes here).
"""

from django.db import models

from crmApp.constants import MONEY_PLACES

# Sums of money can pass a single amount's digits; they stay exact.
SUM_DIGITS = 28


class Tally(models.Model):
    """One change to the totals of one group of an organization's live records."""

    organization_id = models.BigIntegerField()
    records = models.BigIntegerField()
    # Written by a trigger and not yet summed into its group's one row (crmApp.tallies.compact).
    pending = models.BooleanField(db_default=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{type(self).__name__} of organization {self.organization_id}: {self.records:+d}"


class LeadTally(Tally):
    """Live leads by status, source, whether qualified, and assignee; with their summed score."""

    status = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    qualified = models.BooleanField()
    assigned_to_id = models.BigIntegerField(null=True)
    score_sum = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["organization_id"], name="leadtally_org_idx")]


class DealTally(Tally):
    """Live deals by status and assignee; with their summed value and expected revenue."""

    status = models.CharField(max_length=10)
    assigned_to_id = models.BigIntegerField(null=True)
    value_sum = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=MONEY_PLACES)
    expected_sum = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=MONEY_PLACES)

    class Meta:
        indexes = [models.Index(fields=["organization_id"], name="dealtally_org_idx")]


class CustomerTally(Tally):
    """Live customers by status and type."""

    status = models.CharField(max_length=20)
    customer_type = models.CharField(max_length=20)

    class Meta:
        indexes = [models.Index(fields=["organization_id"], name="customertally_org_idx")]
