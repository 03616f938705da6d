from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class BackofficeAdminSite(admin.AdminSite):
    """The operating UI of the back-office (a customised Django admin)."""

    site_header = _("Order operations back-office")
    site_title = _("Order back-office")
    index_title = _("Operations")
