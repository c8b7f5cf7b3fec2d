"""The app's URLs and, after all of them (so no app route pays for it), the floor at /bench/floor/."""

from django.urls import path

from bench import floor
from crmAdmin import urls as app_urls

urlpatterns = [*app_urls.urlpatterns, path("bench/floor/", floor.leads_page)]

handler400 = app_urls.handler400
handler403 = app_urls.handler403
handler404 = app_urls.handler404
handler500 = app_urls.handler500
