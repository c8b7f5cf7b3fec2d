"""The CRM's Django project; the Celery app is loaded with it so tasks can be sent from anywhere."""

from crmAdmin.celery import app as celery_app

__all__ = ("celery_app",)
