"""Timestamps read from PostgreSQL by the C-first loader: what Django's own loader reads, value and error."""

import pytest
from django.db import DataError, connection, transaction
from psycopg.postgres import types
from psycopg.pq import Format

from crmApp.timestamps import iso_loader

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's timestamp loaders"),
]
OID = types["timestamptz"].oid


def read(text: str, *, django_loader: bool = False, zone: str = "'UTC'"):
    """`text` as a timestamptz, read in the session time `zone` (SQL) by the connection's loader or by Django's."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL TIME ZONE {zone}")
        if django_loader:
            from django.db.backends.postgresql.psycopg_any import get_adapters_template

            loader = get_adapters_template(True, connection.timezone).get_loader(OID, Format.TEXT)
            cursor.cursor.adapters.register_loader(OID, loader)
        cursor.execute("SELECT %s::timestamptz", [text])
        return cursor.fetchone()[0]


def test_each_connection_reads_timestamps_with_the_iso_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(OID, Format.TEXT)
    assert loader.__name__ == "IsoTimestampLoader"
    assert loader.timezone == connection.timezone  # else Django registers its own again on every cursor
    assert iso_loader(loader.__mro__[1]) is loader


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2024-03-01 10:00:00+00", "'UTC'"),
        ("2024-03-01 10:00:00.5+00", "'UTC'"),
        ("2024-03-01 10:00:00.123456+00", "'UTC'"),
        ("2024-03-01 10:00:00.1234567+00", "'UTC'"),  # PostgreSQL rounds to microseconds
        ("2024-03-01 10:00:00+05:30", "'UTC'"),
        ("0001-01-01 00:00:00+00", "'UTC'"),
        ("9999-12-31 23:59:59.999999+00", "'UTC'"),
        ("2024-03-01 10:00:00+00", "'Etc/UTC'"),
        # Sessions in another zone, which Django's loader converts in Python:
        ("2024-03-01 10:00:00+00", "'Asia/Kolkata'"),  # +05:30
        ("1890-01-01 12:00:00+00", "'Europe/Amsterdam'"),  # a historical offset with seconds: +00:19:32
        ("2024-10-27 01:30:00+00", "'Europe/Paris'"),  # the hour that repeats: fold 1
        ("2024-11-03 06:30:00+00", "'America/New_York'"),  # the same, in the other hemisphere's rules
        ("2024-01-15 10:00:00+00", "'Europe/London'"),  # +00 in winter, yet not UTC
        ("2024-10-27 01:30:00+00", "'Europe/London'"),  # the repeated hour, at +00
        ("2024-03-01 10:00:00+00", "'UTC+3'"),  # a POSIX zone Python doesn't know (psycopg reads it as UTC)
        ("2024-03-01 10:00:00+00", "INTERVAL '+05:30' HOUR TO MINUTE"),
    ],
)
def test_a_timestamp_reads_as_djangos_own_loader_reads_it(text, zone):
    ours, djangos = read(text, zone=zone), read(text, zone=zone, django_loader=True)
    assert ours == djangos
    # `==` ignores a repeated hour's fold, which decides the instant once the zone is replaced or made aware.
    assert (ours.tzinfo, ours.fold, ours.isoformat()) == (djangos.tzinfo, djangos.fold, djangos.isoformat())


@pytest.mark.parametrize("text", ["infinity", "-infinity", "0001-01-01 00:00:00+00 BC", "10000-01-01 00:00:00+00"])
def test_what_python_cannot_hold_fails_as_with_djangos_loader(text):
    for django_loader in (False, True):
        with pytest.raises(DataError):
            read(text, django_loader=django_loader)
