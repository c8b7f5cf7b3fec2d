"""An import job's file in the database: written once when the job is queued, read once when it runs.

On PostgreSQL both statements run on the ORM's connection and in its transaction, with a cursor of their
own: the read asks for a binary result (through the ORM a 50 MB file comes back as 100 MB of hex text),
and neither passes the file through the ORM's query logging. The write was also what kept a 50 MB file
from going out as a 100 MB hex literal (≈ 370 MB more memory and 2 s in the web process) while the ORM
interpolated parameters into its statements; now that the connection binds them on the server
(settings: `server_side_binding`), the ORM would send the file in binary too.
"""

from django.db import connection

from crmApp.models import ImportJob


def _names() -> tuple[str, str, str]:
    """The quoted table, file column and key column of import jobs."""
    meta, quote = ImportJob._meta, connection.ops.quote_name
    return quote(meta.db_table), quote(meta.get_field("file").column), quote(meta.pk.column)


def _binary_cursor():
    """A cursor of the ORM's PostgreSQL connection that sends parameters apart from the statement."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def save_file(job_id: int, content: bytes | memoryview) -> None:
    """Store `content` as the file of job `job_id`."""
    if connection.vendor != "postgresql":
        ImportJob.objects.filter(pk=job_id).update(file=content)
        return
    table, column, key = _names()
    with _binary_cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %b WHERE {key} = %s", [content, job_id])


def load_file(job_id: int) -> bytes:
    """The file of job `job_id`."""
    if connection.vendor != "postgresql":
        return bytes(ImportJob.objects.filter(pk=job_id).values_list("file", flat=True).get())
    table, column, key = _names()
    with _binary_cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {key} = %s", [job_id], binary=True)
        return cursor.fetchone()[0]
