"""Imports running at the same time, on PostgreSQL: a file uploaded twice is stored once."""

import contextlib
import threading

import pytest

from crmApp import jobs
from crmApp.imports.runner import ImportRun, run_import
from crmApp.models import Lead
from crmApp.tests.conftest import close_thread_connections
from crmApp.tests.test_imports import csv_bytes, started

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("mode", ["create", "upsert"])
def test_one_file_imported_twice_at_once_stores_each_row_once(owner_client, organization, monkeypatch, mode):
    monkeypatch.setattr(jobs, "enqueue", lambda task, *args: None)  # run below, side by side
    rows = [["first_name", "email"], *([f"Lead {n}", f"lead{n}@example.com"] for n in range(20))]
    first, second = (started(owner_client, csv_bytes(rows), mode=mode)["id"] for _ in range(2))
    both_read = threading.Barrier(2, timeout=2)
    existing = ImportRun.existing

    def read_then_wait(run, keys):
        found = existing(run, keys)
        # Without a lock both jobs get here before either writes; with it, the other job waits for this
        # one's batch and the barrier gives up.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return found

    monkeypatch.setattr(ImportRun, "existing", read_then_wait)

    def run(job_id):
        try:
            run_import(job_id)
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Lead.objects.filter(organization=organization).count() == 20
