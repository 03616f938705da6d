from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ExceptionsConfig(AppConfig):
    """Typed exception orders (address change, price difference...) and their pool.

    Registers its router and detectors in ready(); orders never imports this app.
    """

    name = "exceptions"
    verbose_name = _("Exception orders")

    def ready(self):
        from exceptions import events, signals  # noqa: F401  (verbs and receivers)
        from exceptions.router import ExceptionsRouter
        from orders.routing import register_router

        register_router(ExceptionsRouter())
        post_migrate.connect(_teams_after_migrate, sender=self, dispatch_uid="exceptions.teams")
        _register_order_extensions()

    def reference_data_ensure(self):
        """The rows the app's published API needs: the exception types partners raise
        (idempotent). For set-ups and tests that start from an empty database; orders
        calls it by name, without importing this app."""
        from exceptions.demo import exceptions_types_ensure

        exceptions_types_ensure()

    def demo_seed(self, *, now):
        from exceptions.demo import exceptions_demo_seed

        exceptions_demo_seed(now=now)

    def demo_reset(self):
        from exceptions.demo import exceptions_demo_reset

        exceptions_demo_reset()


def _register_order_extensions():
    """The open cases on the order page (a panel) and in the API's order detail."""
    from exceptions.api import OpenCaseOut, order_open_cases
    from exceptions.panels import exceptions_order_panel
    from orders.admin.panels import register_order_panel
    from orders.api.extensions import register_detail_section

    register_order_panel("exceptions", exceptions_order_panel)
    register_detail_section("exceptions", order_open_cases, OpenCaseOut(many=True))


def _teams_after_migrate(sender, **kwargs):
    from exceptions.teams import exceptions_teams_ensure

    exceptions_teams_ensure()
