"""WSGI entry point (gunicorn crmAdmin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmAdmin.settings")
application = get_wsgi_application()
