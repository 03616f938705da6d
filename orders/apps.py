from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        # Registers the audit verbs of this app.
        from orders import events  # noqa: F401
        from orders.api import schema  # noqa: F401  (the OpenAPI auth extension)

        # auth creates each app's permissions in its own post_migrate receiver, which
        # runs before this one; apps listed before orders (audit) are done already.
        post_migrate.connect(_teams_after_migrate, sender=self, dispatch_uid="orders.teams")
        from orders.signals import order_details_changed, payment_recorded

        # A payment changes the payment factor, an edit the complexity (notes): rescore.
        payment_recorded.connect(_rescore, dispatch_uid="orders.health.payment")
        order_details_changed.connect(_rescore, dispatch_uid="orders.health.details")

    def schedules(self):
        from backoffice.schedules import ScheduleSpec

        return [
            ScheduleSpec(
                name="orders.breakers_evaluate", func="orders.tasks.breakers_evaluate", minutes=1
            ),
            ScheduleSpec(
                name="orders.backlog_alarm_scan", func="orders.tasks.backlog_alarm_scan", minutes=1
            ),
            ScheduleSpec(name="orders.claims_expire", func="orders.tasks.claims_expire", minutes=1),
            ScheduleSpec(
                name="orders.surge_grants_expire",
                func="orders.tasks.surge_grants_expire",
                minutes=1,
            ),
            ScheduleSpec(
                name="orders.webhooks_sweep", func="orders.tasks.webhooks_sweep", minutes=1
            ),
            # Idempotency answers and webhook logs older than API_RETENTION_HOURS, hourly
            # (small batches). Not a cron string: croniter is not installed, and a CRON
            # schedule without it makes django-q2's scheduler fail for every schedule.
            ScheduleSpec(
                name="orders.records_purge", func="orders.tasks.records_purge", minutes=60
            ),
            # Evaluation cards: parts a source could not give, orders held by a late card.
            ScheduleSpec(
                name="orders.cards_maintain", func="orders.tasks.cards_maintain", minutes=1
            ),
            # Every open order's health score (the time-slot pressure moves with load).
            ScheduleSpec(
                name="orders.health_rescore_open",
                func="orders.tasks.health_rescore_open",
                minutes=5,
            ),
        ]

    def admin_index_panels(self, request):
        return stage_panel(request)


def _rescore(sender, order, **kwargs):
    from orders.services.health import health_score_order

    if order.is_open:
        health_score_order(order)


def _teams_after_migrate(sender, using="default", **kwargs):
    from orders.teams import teams_ensure

    teams_ensure()


def stage_panel(request):
    """The home page's "orders waiting, by stage" panel (two indexed queries)."""
    from datetime import timedelta

    from django.conf import settings
    from django.urls import reverse
    from django.utils import timezone

    from orders.models import Order
    from orders.selectors import orders_waiting_by_stage
    from orders.states import OPEN_STAGES, OrderStatus

    if not request.user.has_perm("orders.view_order"):
        return []
    waiting = orders_waiting_by_stage()
    now = timezone.now()
    late = timedelta(hours=settings.ORDER_TARGET_HOURS)
    from backoffice.models import WorkLoad
    from orders.models import StageBreaker
    from orders.services.queues import queue_key, stage_limits, stage_settings
    from orders.states import MAIN_LINE

    breakers = {b.stage: b for b in StageBreaker.objects.all()}
    settings_by_stage = stage_settings()
    loads = dict(
        WorkLoad.objects.filter(key__in=[queue_key(s) for s in MAIN_LINE]).values_list(
            "key", "in_progress"
        )
    )

    def flow(stage):
        if stage not in MAIN_LINE:
            return {"limit_shown": False}
        breaker = breakers.get(stage)
        is_open = bool(breaker and breaker.is_open)
        limits = stage_limits(settings_by_stage[stage], breaker_open=is_open)
        return {
            "limit_shown": True,
            "breaker_open": is_open,
            "breaker_label": breaker.get_state_display() if breaker else "",
            "wip_limit": limits.wip_limit,
            "in_progress": loads.get(queue_key(stage), 0),
        }

    rows = [
        {
            **flow(stage),
            "stage": stage,
            "label": OrderStatus(stage).label,
            "count": waiting.get(stage, {}).get("count", 0),
            "oldest": waiting.get(stage, {}).get("oldest"),
            "late": bool(waiting.get(stage, {}).get("oldest"))
            and now - waiting[stage]["oldest"] > late,
        }
        for stage in OPEN_STAGES
    ]
    alarm = settings.BACKLOG_ALARM_HOURS
    overdue = Order.objects.filter(
        status__in=OPEN_STAGES, placed_at__lte=now - timedelta(hours=alarm)
    ).count()
    context = {
        "stage_rows": rows,
        "overdue": overdue,
        "alarm_hours": alarm,
        "changelist_url": reverse("admin:orders_order_changelist"),
    }
    return [("admin/orders/index_panel.html", context)]
