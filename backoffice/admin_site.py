from django.apps import apps
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from backoffice.notifications.selectors import notifications_recent_for


class BackofficeAdminSite(admin.AdminSite):
    """The operating UI of the back-office (a customised Django admin).

    The home page shows what needs attention now: each installed app may add
    panels through `AppConfig.admin_index_panels(request)`, returning
    (template name, context) pairs, so this site knows nothing of orders. An app
    may also add pages (`AppConfig.admin_site_urls(site)`, URL patterns under
    /admin/) and send people elsewhere from the home page
    (`AppConfig.admin_landing(request)`: a URL, or None; ?home=1 stays here).
    """

    site_header = _("Order operations back-office")
    site_title = _("Order back-office")
    index_title = _("Operations")
    index_template = "admin/backoffice_index.html"

    def get_urls(self):
        extra = []
        for config in apps.get_app_configs():
            contribute = getattr(config, "admin_site_urls", None)
            if callable(contribute):
                extra.extend(contribute(self))
        return extra + super().get_urls()

    def index(self, request, extra_context=None):
        if "home" not in request.GET:
            for config in apps.get_app_configs():
                landing = getattr(config, "admin_landing", None)
                url = landing(request) if callable(landing) else None
                if url:
                    return HttpResponseRedirect(url)
        panels = []
        for config in apps.get_app_configs():
            contribute = getattr(config, "admin_index_panels", None)
            if callable(contribute):
                for template, context in contribute(request):
                    panels.append(render_to_string(template, context, request=request))
        extra_context = {
            **(extra_context or {}),
            "panels": panels,
            "recent_notifications": list(notifications_recent_for(request.user, limit=8)),
        }
        return super().index(request, extra_context)
