"""Root URLs: the API under /api/, the admin, and JSON errors everywhere under /api/."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crmApp import exceptions

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("crmApp.urls")),
    # Unknown API URLs answer JSON even with DEBUG on (Django's debug 404 page is HTML).
    re_path(r"^api/", exceptions.not_found),
]

handler400 = "crmApp.exceptions.bad_request"
handler403 = "crmApp.exceptions.permission_denied"
handler404 = "crmApp.exceptions.not_found"
handler500 = "crmApp.exceptions.server_error"
