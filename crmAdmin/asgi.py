"""ASGI entry point.

As under WSGI, without a broker (REDIS_URL unset) each app process delivers webhooks itself: its
deliverer thread starts here (crmApp.events.deliverer).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
application = get_asgi_application()

from crmApp.events.deliverer import start_local_deliverer  # noqa: E402  (needs the apps loaded above)

start_local_deliverer()
