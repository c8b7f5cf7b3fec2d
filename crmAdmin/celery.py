"""The Celery application: background jobs (mail, webhook deliveries, imports, purges) on Redis.

Started with `celery -A crmAdmin worker --beat`. Without REDIS_URL no worker is needed: the app
process runs the same jobs itself (crmApp.jobs).
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")

app = Celery("crmAdmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.celeryd_init.connect
@signals.beat_init.connect
def refuse_to_run_without_a_broker(**kwargs):
    """Without REDIS_URL Celery would quietly use its own default broker (AMQP on localhost), which the
    app never queues on: the worker would look ready while mail and imports wait in Redis for good.

    SystemExit, because Celery logs and swallows any Exception a signal handler raises.
    """
    if not app.conf.broker_url:
        raise SystemExit(
            "REDIS_URL is not set. Give the worker and the beat the app's REDIS_URL; without Redis the app"
            " process runs the background jobs itself and no worker is needed."
        )
