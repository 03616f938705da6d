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

    def demo_seed(self, *, now):
        from exceptions.demo import exceptions_demo_seed

        exceptions_demo_seed(now=now)

    def demo_reset(self):
        from exceptions.demo import exceptions_demo_reset

        exceptions_demo_reset()


def _teams_after_migrate(sender, **kwargs):
    from exceptions.teams import exceptions_teams_ensure

    exceptions_teams_ensure()
