"""Who runs the deliveries: Celery workers with a broker, otherwise a thread of each app process.

With REDIS_URL set, a commit that queued events sends one `deliver_webhooks` task, and the workers'
beat runs it every few seconds as well (retries that came due, and anything a dead process left).
Without it, every app process (runserver, each gunicorn worker) starts one deliverer thread from
`crmAdmin/wsgi.py`: woken by its own commits, it also wakes every few seconds for due retries and runs
the hourly housekeeping. Several of them at once are safe: attempts are claimed before they are sent.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

logger = logging.getLogger(__name__)
POLL_SECONDS = 5.0
# Set while a wake is queued and no worker has started on it (crmApp.tasks.deliver_webhooks clears it).
WAKE_KEY = "crm:webhooks:wake"
HOUSEKEEPING_SECONDS = 3600.0


class LocalDeliverer(threading.Thread):
    """The app process's own deliverer, for running without a broker."""

    def __init__(self):
        super().__init__(name="crm-deliverer", daemon=True)
        self.woken = threading.Event()

    def run(self):
        from crmApp import tasks

        housekept_at = None  # housekeeping on start, then hourly
        while True:
            close_old_connections()
            try:
                tasks.deliver_webhooks()
                if housekept_at is None or time.monotonic() - housekept_at >= HOUSEKEEPING_SECONDS:
                    housekept_at = time.monotonic()
                    tasks.housekeeping()
            except Exception:  # a database hiccup must not end the thread
                logger.exception("Webhook deliveries failed; trying again shortly")
            finally:
                close_old_connections()
            self.woken.wait(POLL_SECONDS)
            self.woken.clear()


_local: LocalDeliverer | None = None
_local_lock = threading.Lock()


def start_local_deliverer() -> LocalDeliverer | None:
    """Start this process's deliverer thread when there is no broker (once per process)."""
    global _local
    if settings.CELERY_BROKER_URL:
        return None
    with _local_lock:
        if _local is None or not _local.is_alive():
            _local = LocalDeliverer()
            _local.start()
    return _local


def wake_after_commit() -> None:
    """Have queued events sent now (called once the transaction that queued them committed)."""
    from crmApp import tasks

    if settings.TASKS_RUN_SYNCHRONOUSLY:  # the test suite: delivered before the next line runs
        tasks.deliver_webhooks()
    elif settings.CELERY_BROKER_URL:
        try:
            # One waiting wake is enough: the run it starts sends everything due by then, in full batches.
            if cache.add(WAKE_KEY, 1, timeout=POLL_SECONDS):
                tasks.deliver_webhooks.delay()
        except Exception:  # the broker is down; the workers' beat sends them once it is back
            logger.exception("Could not wake the webhook workers")
    else:
        start_local_deliverer().woken.set()
