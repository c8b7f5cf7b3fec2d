"""The Celery application: background jobs (mail, webhook deliveries, imports, purges) on Redis.

Started with `celery -A crmAdmin worker --beat`. Without REDIS_URL no worker is needed: the app
process runs the same jobs itself (crmApp.jobs).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")

app = Celery("crmAdmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
