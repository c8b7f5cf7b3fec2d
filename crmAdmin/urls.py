"""Root URLs: the API under /api/ (JSON errors everywhere there), its schema and docs, and the admin."""

from django.contrib import admin
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponsePermanentRedirect
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from crmApp import exceptions

READ_ONLY = ["get", "head"]


def favicon(request):
    """Browsers ask every page's host for /favicon.ico; the icon is a static file like any other."""
    return HttpResponsePermanentRedirect(staticfiles_storage.url("crmApp/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Pages to read: OPTIONS would render the metadata through the page's HTML template, which can't.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", http_method_names=READ_ONLY), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", http_method_names=READ_ONLY), name="redoc"),
    path("api/", include("crmApp.urls")),
    # Unknown API URLs answer JSON for every method, even with DEBUG on (Django's debug 404 is HTML).
    re_path(r"^api/", exceptions.not_found),
]

# JSON under /api/, Django's own pages everywhere else.
handler400 = "crmApp.exceptions.bad_request"
handler403 = "crmApp.exceptions.permission_denied"
handler404 = "crmApp.exceptions.page_not_found"
handler500 = "crmApp.exceptions.server_error"
