"""Work that leaves the request: on Celery workers when a broker is configured, else in this process.

`enqueue(task, *args)` runs a Celery task after the current transaction commits (nothing runs for a
rolled-back change). With REDIS_URL set it goes to the workers; without it a small thread pool of the
app process runs it, so `make run` or a lone gunicorn needs no other service. Either way the request
never waits for it and never fails because of it.
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)
_local_pool: ThreadPoolExecutor | None = None


def _run(task, args) -> None:
    try:
        task(*args)
    except Exception:
        logger.exception("Background job %s failed", task.name)


def _run_in_thread(task, args) -> None:
    close_old_connections()
    try:
        _run(task, args)
    finally:
        close_old_connections()


def _dispatch(task, args) -> None:
    global _local_pool
    if settings.CELERY_BROKER_URL:
        try:
            task.delay(*args)
        except Exception:  # a broker outage must not fail the request that committed already
            logger.exception("Could not queue %s; running it in this process", task.name)
        else:
            return
    if _local_pool is None:
        _local_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="crm-jobs")
    _local_pool.submit(_run_in_thread, task, args)


def enqueue(task, *args) -> None:
    """Run the Celery `task` with `args` once the current transaction has committed."""
    if settings.TASKS_RUN_SYNCHRONOUSLY:  # the test suite: the job's effect is visible to the next line
        _run(task, args)
        return
    transaction.on_commit(lambda: _dispatch(task, args), robust=True)
