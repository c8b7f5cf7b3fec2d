"""Imports running at the same time as other writes, on PostgreSQL: a file uploaded twice is stored once; a
webhook changed meanwhile is followed."""

import contextlib
import threading

import pytest

from crmApp import jobs
from crmApp.imports import runner
from crmApp.imports.runner import ImportRun, run_import
from crmApp.models import ImportJob, Lead, WebhookDelivery
from crmApp.services.integration_service import WebhookService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import close_thread_connections
from crmApp.tests.test_imports import csv_bytes, started
from crmApp.tests.test_webhooks import make_webhook

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


@pytest.mark.parametrize(("change", "queued"), [("delete", 0), ("disable", 2), ("create", 2)])
def test_a_webhook_changed_while_an_import_runs_is_followed_from_its_next_batch(
    owner_client, organization, monkeypatch, change, queued
):
    monkeypatch.setattr(jobs, "enqueue", lambda task, *args: None)  # run below
    monkeypatch.setattr(runner, "BATCH_ROWS", 2)
    webhook = make_webhook(organization, url="http://127.0.0.1:9/crm", is_active=change != "create")
    flush = ImportRun.flush

    def change_after_the_first_batch(run, batch):
        flush(run, batch)
        if run.job.processed_rows == 2:
            service = WebhookService(Tenant.system(organization))
            if change == "delete":
                service.delete(webhook)
            else:
                service.update(webhook, is_active=change == "create")

    monkeypatch.setattr(ImportRun, "flush", change_after_the_first_batch)
    job_id = started(owner_client, csv_bytes([["first_name"], ["Ada"], ["Bo"], ["Cy"], ["Di"]]))["id"]
    run_import(job_id)

    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.failure, job.created) == ("succeeded", "", 4)
    events = WebhookDelivery.objects.filter(webhook_id=webhook.id).values_list("event_id", flat=True)
    assert len(set(events)) == queued
