from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    """Routing rules, price-change approvals, authorization codes and bypass switches.

    Registers its router into `orders.routing` in ready(); orders never imports it.
    """

    name = "approvals"
    verbose_name = _("Approvals")
