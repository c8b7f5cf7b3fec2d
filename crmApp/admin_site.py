"""The admin site: Django's, with its sign-in form throttled per client address like API login."""

from django.contrib import admin
from django.http import HttpResponse

from crmApp.throttles import AuthRateThrottle


class AdminLoginThrottle(AuthRateThrottle):
    """THROTTLE_AUTH attempts per client address at the admin sign-in form."""

    def get_key(self, request, view):
        return f"admin-login:{self.get_ident(request)}"


class CRMAdminSite(admin.AdminSite):
    site_header = "CRM administration"
    site_title = "CRM admin"

    def login(self, request, extra_context=None):
        if request.method == "POST":
            throttle = AdminLoginThrottle()
            if not throttle.allow_request(request, None):
                wait = max(1, round(throttle.wait()))
                return HttpResponse(
                    f"Too many sign-in attempts from your address; try again in {wait} seconds.",
                    status=429,
                    content_type="text/plain",
                    headers={"Retry-After": str(wait)},
                )
        return super().login(request, extra_context)
