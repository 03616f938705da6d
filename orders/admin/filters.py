from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.states import OPEN_STAGES, OrderStatus


class StageFilter(admin.SimpleListFilter):
    title = _("stage")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", _("All open orders")), *OrderStatus.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(status__in=OPEN_STAGES)
        if value in OrderStatus.values:
            return queryset.filter(status=value)
        return queryset


class AgeBucketFilter(admin.SimpleListFilter):
    """Open orders by age since purchase: the 2-hour promise and the 3-hour alarm."""

    title = _("age (open orders)")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        target, alarm = settings.ORDER_TARGET_HOURS, settings.BACKLOG_ALARM_HOURS
        return [
            ("lt1", _("under 1 h")),
            ("1to2", _("%(a)s–%(b)s h") % {"a": 1, "b": target}),
            (f"gt{target}", _("over %(h)s h") % {"h": target}),
            (f"gt{alarm}", _("over %(h)s h (backlog alarm)") % {"h": alarm}),
            ("gt24", _("over 1 day")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        now = timezone.now()
        queryset = queryset.filter(status__in=OPEN_STAGES)
        if value == "lt1":
            return queryset.filter(placed_at__gt=now - timedelta(hours=1))
        if value == "1to2":
            return queryset.filter(
                placed_at__lte=now - timedelta(hours=1),
                placed_at__gt=now - timedelta(hours=settings.ORDER_TARGET_HOURS),
            )
        if value.startswith("gt") and value[2:].isdigit():
            return queryset.filter(placed_at__lte=now - timedelta(hours=int(value[2:])))
        return queryset


class SlaFilter(admin.SimpleListFilter):
    """Orders waiting in their stage longer than its target dwell (in business hours)."""

    title = _("target dwell")
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("over", _("over the stage's target"))]

    def queryset(self, request, queryset):
        if self.value() != "over":
            return queryset
        from orders.services.alarms import orders_over_sla_filter

        return queryset.filter(orders_over_sla_filter(now=timezone.now()))


class QueueFilter(admin.SimpleListFilter):
    title = _("work queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("pinned", _("pinned")),
            ("claimed", _("claimed")),
            ("mine", _("claimed by me")),
            ("unclaimed", _("waiting, unclaimed")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "pinned":
            return queryset.filter(pinned=True)
        if value == "claimed":
            return queryset.filter(claimed_by__isnull=False)
        if value == "mine":
            return queryset.filter(claimed_by=request.user)
        if value == "unclaimed":
            return queryset.filter(status__in=OPEN_STAGES, claimed_by__isnull=True)
        return queryset
