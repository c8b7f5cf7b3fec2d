"""The records a write points at stay live until it commits.

A reference (a deal's customer, a lead's assignee) is checked when the request is read, and may go to
the trash before the write commits. So every write locks the live records its foreign keys name, with
`FOR KEY SHARE` (the lock PostgreSQL's own foreign-key checks take): writes that share a reference
don't wait for each other, while trashing, which locks the row `FOR UPDATE`, waits for them and then
sees what they wrote. A reference trashed before the lock is reported on its field.
"""

from collections.abc import Iterable
from functools import cache

from django.core.exceptions import ValidationError
from django.db import connection, models


@cache
def trashable_references(model: type[models.Model]) -> dict[str, models.ForeignKey]:
    """The model's foreign keys to records that go to the trash, by attribute name (`customer_id`).

    A merged record's `merged_into` names a record that is locked by the merge itself.
    """
    return {
        field.attname: field
        for field in model._meta.concrete_fields
        if field.many_to_one and hasattr(field.related_model, "with_trashed") and field.name != "merged_into"
    }


def gone_message(field: models.ForeignKey) -> str:
    return f"That {field.related_model._meta.verbose_name} no longer exists (it was deleted meanwhile)."


def _live_ids(wanted: dict[type[models.Model], set[int]]) -> dict[type[models.Model], set[int]]:
    """Which of the ids are live records of their model, the live ones locked until the transaction ends.

    One statement on PostgreSQL, whatever the number of tables; SQLite lets one writer in at a time, so
    reading them is enough there.
    """
    models_in_order = sorted(wanted, key=lambda model: model._meta.db_table)
    if connection.vendor != "postgresql":
        return {
            model: set(model.objects.filter(pk__in=wanted[model]).values_list("pk", flat=True))
            for model in models_in_order
        }
    quote = connection.ops.quote_name
    locks = ", ".join(
        f"r{index} AS (SELECT {quote(model._meta.pk.column)} AS id FROM {quote(model._meta.db_table)} "
        f"WHERE {quote(model._meta.pk.column)} = ANY(%s) AND deleted_at IS NULL FOR KEY SHARE)"
        for index, model in enumerate(models_in_order)
    )
    rows = " UNION ALL ".join(f"SELECT {index}, id FROM r{index}" for index in range(len(models_in_order)))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {locks} {rows}", [sorted(wanted[model]) for model in models_in_order])
        found = cursor.fetchall()
    live = {model: set() for model in models_in_order}
    for index, pk in found:
        live[models_in_order[index]].add(pk)
    return live


def gone_references(model: type[models.Model], values: dict[str, Iterable]) -> dict[str, set[int]]:
    """Of the ids a write's columns point at (`{attname: ids}`), those that are no longer live, by attname.

    The live ones stay locked until the transaction ends. Columns that are no trashable reference, and
    nulls, are ignored.
    """
    references = trashable_references(model)
    named = {attname: {pk for pk in ids if pk is not None} for attname, ids in values.items() if attname in references}
    wanted: dict[type[models.Model], set[int]] = {}
    for attname, ids in named.items():
        if ids:
            wanted.setdefault(references[attname].related_model, set()).update(ids)
    if not wanted:
        return {}
    live = _live_ids(wanted)
    gone = {attname: ids - live[references[attname].related_model] for attname, ids in named.items() if ids}
    return {attname: ids for attname, ids in gone.items() if ids}


def lock_references(model: type[models.Model], values: dict[str, object]) -> None:
    """Lock the live records one record's `values` ({attname: id}) point at; one gone is a 400 on its field."""
    gone = gone_references(model, {attname: [value] for attname, value in values.items()})
    if gone:
        fields = [trashable_references(model)[attname] for attname in gone]
        raise ValidationError({field.name: gone_message(field) for field in fields})
