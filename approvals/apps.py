from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    """Routing rules, price-change approvals, authorization codes and bypass switches.

    Registers its router into `orders.routing` in ready(); orders never imports it.
    """

    name = "approvals"
    verbose_name = _("Approvals")

    def ready(self):
        from approvals import events, signals  # noqa: F401  (verbs and receivers)
        from approvals.admin.panels import approvals_order_panel
        from approvals.router import ApprovalsRouter
        from orders.admin.panels import register_order_panel
        from orders.routing import register_router

        register_router(ApprovalsRouter())
        post_migrate.connect(_teams_after_migrate, sender=self, dispatch_uid="approvals.teams")
        register_order_panel("approvals", approvals_order_panel)

    def schedules(self):
        from backoffice.schedules import ScheduleSpec

        return [
            ScheduleSpec(
                name="approvals.bypasses_expire",
                func="approvals.tasks.bypasses_expire",
                minutes=1,
            ),
        ]

    def demo_seed(self, *, now):
        """Demo data: the source's rules and the bypass switches (all off)."""
        from approvals.demo import approvals_demo_seed

        approvals_demo_seed(now=now)

    def demo_reset(self):
        from approvals.demo import approvals_demo_reset

        approvals_demo_reset()


def _teams_after_migrate(sender, **kwargs):
    from approvals.teams import approvals_teams_grant

    approvals_teams_grant()
