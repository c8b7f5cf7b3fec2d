"""Duplicates and merge of customers and leads (API.md › Trash, restore and merge).

A mixin for CustomerService and LeadService: they name the fields a merge fills, the company column
duplicates are found by, and the relations that move to the merged record.
"""

from collections.abc import Iterable
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Value, Window
from django.db.models.functions import Lower, Replace, RowNumber, Trim

from crmApp.services import service_for
from crmApp.services.base import snapshot, write_changes

# The characters a phone number is written with besides its digits; removing them leaves the digits.
PHONE_PUNCTUATION = (" ", "-", "(", ")", "+", ".", "/", "\t")
# Records listed per duplicate group (the group's `count` says how many there are).
GROUP_RECORDS = 100


class DryRun(Exception):
    """Rolls back a merge that was only asked for its result."""


def phone_digits(column: str):
    expression = F(column)
    for character in PHONE_PUNCTUATION:
        expression = Replace(expression, Value(character), Value(""))
    return expression


class MergeMixin:
    """Duplicate groups and merging for a service of a record with email, phone and a company column."""

    # The fields a merge copies into the target where the target has none.
    fill_fields: ClassVar[tuple[str, ...]]
    company_field: ClassVar[str]
    # Reverse relations (model, its field) that follow a merged record to the target.
    moved_relations: ClassVar[tuple[tuple[str, str], ...]]

    # --- duplicates -----------------------------------------------------------------------------
    def duplicate_keys(self) -> dict[str, models.Expression]:
        return {
            "email": Lower(Trim(F("email"))),
            "phone": phone_digits("phone"),
            "company": Lower(Trim(F(self.company_field))),
        }

    def duplicate_groups(self) -> list[dict]:
        """Every `{reason, value, count}` shared by two records or more, by reason then value: one query per reason."""
        groups = []
        for reason, key in self.duplicate_keys().items():
            rows = (
                self.records.order_by()
                .annotate(key=key)
                .exclude(key="")
                .values("key")
                .annotate(count=Count("id"))
                .filter(count__gt=1)
                .order_by("key")
            )
            groups += [{"reason": reason, "value": row["key"], "count": row["count"]} for row in rows]
        return groups

    def with_records(self, groups: list[dict]) -> list[dict]:
        """The groups with their first records (by id): one query per reason on the page."""
        keys = self.duplicate_keys()
        for reason in {group["reason"] for group in groups}:
            values = [group["value"] for group in groups if group["reason"] == reason]
            rows = (
                self.records.order_by()
                .annotate(key=keys[reason])
                .filter(key__in=values)
                .annotate(rank=Window(RowNumber(), partition_by=[F("key")], order_by=F("id").asc()))
                .filter(rank__lte=GROUP_RECORDS)
                .order_by("key", "id")
            )
            members: dict[str, list] = {}
            for record in rows:
                members.setdefault(record.key, []).append(
                    {"id": record.id, "code": record.code, "display_name": self.display_name(record)}
                )
            for group in groups:
                if group["reason"] == reason:
                    group["records"] = members.get(group["value"], [])
        return groups

    @staticmethod
    def display_name(record) -> str:
        return str(getattr(record, "display_name", None) or record.full_name)

    # --- merge ----------------------------------------------------------------------------------
    def check_merge_source(self, source) -> None:
        """Raise ValidationError when `source` may not be merged into another record."""

    def move_relations(self, sources: list, target) -> None:
        """Point every record that refers to a source at the target instead, each a logged change."""
        from django.apps import apps

        from crmApp.tenancy import Tenant

        system = Tenant.system(self.organization, user=self.actor, source=self.tenant.source)
        for label, field in self.moved_relations:
            model = apps.get_model("crmApp", label)
            service = service_for(model)(system)
            rows = model.with_trashed.filter(**{f"{field}__in": [source.pk for source in sources]})
            service.update_rows(rows, **{field: target})

    def merge(self, target, source_ids: Iterable[int], *, dry_run: bool = False):
        """Merge the sources into `target` (see the module); with `dry_run`, answer the result and store nothing."""
        try:
            with transaction.atomic():
                merged = self._merge(target, list(source_ids))
                if dry_run:
                    raise DryRun
        except DryRun:
            pass
        return merged

    def _merge(self, target, source_ids: list[int]):
        if target.pk in source_ids:
            raise ValidationError({"source_ids": "The record can't be merged into itself."})
        # Target and sources locked together in id order, as every bulk write locks: two merges of the
        # same records the other way round queue up instead of deadlocking.
        locked = self.locked_rows([target.pk, *source_ids])
        record = self.lock(target)  # already held: its If-Match and whether it is still there
        sources = [row for row in locked if row.pk != target.pk]
        missing = sorted(set(source_ids) - {source.pk for source in sources})
        if missing:
            raise ValidationError({"source_ids": f"Not found: {', '.join(map(str, missing))}."})
        for source in sources:
            self.check_merge_source(source)
        before = snapshot(record)
        fills = {}
        for name in self.fill_fields:
            attname = record._meta.get_field(name).attname
            if getattr(record, attname) in (None, ""):
                donor = next((source for source in sources if getattr(source, attname) not in (None, "")), None)
                if donor is not None:
                    fills[name] = getattr(donor, name)
        self.apply_update(record, fills)  # the resource's own rules (a lead is rescored)
        self.move_relations(sources, record)
        # A source that gives up a link does so in its one write, its trashing: one history entry, one event.
        befores = {source.pk: snapshot(source) for source in sources}
        self.fill_links(sources, record)
        for source in sources:
            self.trash_record(source, before=befores[source.pk], merged_into=record)
        write_changes(record, before)
        # Logged even when nothing of its own changed: the merge is still on its record.
        self.log_write(record, before, events=[("merged", {"sources": [source.pk for source in sources]})])
        return record

    def fill_links(self, sources: list, target) -> None:
        """Move one-to-one links the target lacks from the first source that has one, in memory: the source's
        trashing writes its side before the target is written, so no link is ever doubled."""
