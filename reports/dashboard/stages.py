"""The stage panel and the overdue piles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Order, StageBreaker
from orders.services.alarms import orders_over_sla_filter
from orders.states import MAIN_LINE, OPEN_STAGES, OrderStatus
from reports.buckets import buckets_percentile
from reports.rollups import HourStats, TimelineReader, stage_totals

# Window choices of the dwell columns: key -> label.
WINDOWS = {
    "1h": _("last hour"),
    "today": _("today"),
    "7d": _("last 7 days"),
}


def window_bounds(window: str, *, now: datetime) -> tuple[datetime, datetime]:
    if window == "1h":
        return now - timedelta(hours=1), now
    if window == "7d":
        return now - timedelta(days=7), now
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0), now


@dataclass
class StageRow:
    stage: str
    label: str
    waiting: int = 0
    in_progress: int = 0
    oldest_entered: datetime | None = None
    over_sla: int = 0
    over_target: int = 0  # placed more than ORDER_TARGET_HOURS ago
    over_alarm: int = 0  # placed more than BACKLOG_ALARM_HOURS ago
    sla_minutes: int | None = None
    breaker_state: str = ""
    breaker_label: str = ""
    window: HourStats | None = None
    oldest_seconds: float | None = None

    @property
    def total(self) -> int:
        return self.waiting + self.in_progress

    @property
    def average_seconds(self) -> float | None:
        return self.window.average_dwell if self.window else None

    @property
    def median_seconds(self) -> float | None:
        return buckets_percentile(self.window.buckets, 0.5) if self.window else None

    @property
    def p90_seconds(self) -> float | None:
        return buckets_percentile(self.window.buckets, 0.9) if self.window else None

    @property
    def exits(self) -> int:
        return self.window.exits if self.window else 0

    @property
    def auto_share(self) -> float | None:
        if not self.window or not self.window.exits:
            return None
        return self.window.auto_passed / self.window.exits

    @property
    def window_breaches(self) -> int:
        return self.window.sla_breaches if self.window else 0

    @property
    def cue(self) -> str:
        """ok / warm / hot against the stage's target dwell: hot when its breaker is
        open or its oldest order has waited twice the target; warm when orders are
        over the target or the window's p90 is."""
        if self.sla_minutes is None:
            return "hot" if self.over_alarm else ("warm" if self.waiting else "ok")
        target = self.sla_minutes * 60
        if self.breaker_state and self.breaker_state != "closed":
            return "hot"
        if self.oldest_seconds is not None and self.oldest_seconds >= 2 * target:
            return "hot"
        p90 = self.p90_seconds
        if self.over_sla or (p90 is not None and p90 > target):
            return "warm"
        return "ok"


def stage_panel(
    *, now: datetime | None = None, window: str = "today", reader: TimelineReader | None = None
) -> list[StageRow]:
    """One row per open stage: counts now (one grouped query over the open orders),
    dwell over the window (rollups + live tail), breaker state."""
    now = now or timezone.now()
    reader = reader or TimelineReader()
    target = now - timedelta(hours=settings.ORDER_TARGET_HOURS)
    alarm = now - timedelta(hours=settings.BACKLOG_ALARM_HOURS)
    counts = {
        row["status"]: row
        for row in Order.objects.filter(status__in=OPEN_STAGES)
        .values("status")
        .annotate(
            waiting=Count("id", filter=Q(claimed_by__isnull=True)),
            in_progress=Count("id", filter=Q(claimed_by__isnull=False)),
            oldest=Min("stage_entered_at"),
            over_sla=Count("id", filter=orders_over_sla_filter(now=now)),
            over_target=Count("id", filter=Q(placed_at__lte=target)),
            over_alarm=Count("id", filter=Q(placed_at__lte=alarm)),
        )
        .order_by()
    }
    start, end = window_bounds(window, now=now)
    totals = stage_totals(reader.hours(start=start, end=end, stages=MAIN_LINE))
    settings_by_stage = reader.settings_by_stage
    breakers = {b.stage: b for b in StageBreaker.objects.all()}
    rows = []
    for stage in OPEN_STAGES:
        found = counts.get(stage, {})
        setting = settings_by_stage.get(stage)
        breaker = breakers.get(stage)
        oldest = found.get("oldest")
        rows.append(
            StageRow(
                stage=stage,
                label=str(OrderStatus(stage).label),
                waiting=found.get("waiting", 0),
                in_progress=found.get("in_progress", 0),
                oldest_entered=oldest,
                oldest_seconds=(now - oldest).total_seconds() if oldest else None,
                over_sla=found.get("over_sla", 0),
                over_target=found.get("over_target", 0),
                over_alarm=found.get("over_alarm", 0),
                sla_minutes=setting.sla_minutes if setting else None,
                breaker_state=breaker.state if breaker else "",
                breaker_label=str(breaker.get_state_display()) if breaker else "",
                window=totals.get(stage, HourStats()) if stage in MAIN_LINE else None,
            )
        )
    return rows


OLDEST_COLUMNS = (
    "id",
    "number",
    "status",
    "placed_at",
    "stage_entered_at",
    "claimed_by__username",
    "pinned",
)


def overdue_piles(*, now: datetime | None = None, limit: int = 20) -> list[dict]:
    """The oldest open orders (by purchase time), oldest first: the ones to act on.
    The per-stage pile counts come with the stage panel (over_target, over_alarm)."""
    now = now or timezone.now()
    rows = list(
        Order.objects.filter(status__in=OPEN_STAGES)
        .order_by("placed_at", "id")
        .values(*OLDEST_COLUMNS)[:limit]
    )
    for row in rows:
        row["age_seconds"] = (now - row["placed_at"]).total_seconds()
        row["stage_seconds"] = (now - row["stage_entered_at"]).total_seconds()
        row["status_label"] = str(OrderStatus(row["status"]).label)
    return rows
