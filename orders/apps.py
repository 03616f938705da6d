from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        # Registers the audit verbs of this app.
        from orders import events  # noqa: F401

        # auth creates each app's permissions in its own post_migrate receiver, which
        # runs before this one; apps listed before orders (audit) are done already.
        post_migrate.connect(_teams_after_migrate, sender=self, dispatch_uid="orders.teams")


def _teams_after_migrate(sender, using="default", **kwargs):
    from orders.teams import teams_ensure

    teams_ensure()
