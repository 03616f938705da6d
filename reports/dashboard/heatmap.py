"""Stages x hours of today against a normal day.

The baseline of a cell is the same hour on the same weekday over the previous 4
weeks (their mean); when the timeline is younger than that, the mean of the same
hour over the previous 7 days. All of it comes from the hourly rollups (the days
before today are rolled up) plus today's live tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from orders.states import MAIN_LINE, OrderStatus
from reports.baseline import BaselineKind, baseline_windows
from reports.rollups import HourStats, TimelineReader, local_midnight, timeline_start

MODES = {
    "arrivals": gettext_lazy("orders that entered"),
    "dwell": gettext_lazy("average dwell (min)"),
}
# Differences smaller than these are never coloured, whatever the ratio: 2 orders
# against 1 at 4 a.m. is not a surge.
MIN_DIFFERENCE = {"arrivals": 3, "dwell": 5.0}


@dataclass
class Cell:
    hour: int
    value: float | None
    baseline: float | None
    level: str  # critical / hot / warm / normal / cool / none
    difference_percent: int | None = None

    @property
    def shown(self) -> str:
        return "·" if self.value is None else f"{self.value:.0f}"

    @property
    def baseline_shown(self) -> str:
        return "·" if self.baseline is None else f"{self.baseline:.0f}"

    @property
    def title(self) -> str:
        """The tooltip: today's value, the normal day's, the difference."""
        text = _("%(hour)02d:00 today %(value)s, normal %(baseline)s") % {
            "hour": self.hour,
            "value": self.shown,
            "baseline": self.baseline_shown,
        }
        if self.difference_percent is not None:
            text += f" ({self.difference_percent:+d}%)"
        return text


@dataclass
class HeatmapRow:
    stage: str
    label: str
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Heatmap:
    mode: str
    day: datetime  # local midnight of today
    hours: list[int]
    rows: list[HeatmapRow]
    baseline_kind: str  # "weekday" or "recent"
    baseline_days: list[datetime]
    # The baseline days' numbers summed per (stage, local hour): the flags reuse them.
    baseline_sums: dict[tuple[str, int], HourStats] = field(default_factory=dict)

    def normal(self, stage: str, hour: int) -> HourStats | None:
        """The mean day's numbers of a stage in a local hour (None: no baseline)."""
        if not self.baseline_days:
            return None
        summed = self.baseline_sums.get((stage, hour % 24), HourStats())
        days = len(self.baseline_days)
        return HourStats(arrivals=summed.arrivals / days, exits=summed.exits / days)

    @property
    def baseline_label(self) -> str:
        if self.baseline_kind == "weekday":
            return _("the same weekday over the previous 4 weeks")
        return _("the previous 7 days (less than 4 weeks of history)")


def baseline_days(day: datetime) -> tuple[str, list[datetime]]:
    """The local midnights the baseline of `day` averages (reports.baseline). A day the
    history began in counts as covered: its hours are compared hour by hour."""
    first = timeline_start()
    kind, windows = baseline_windows(
        day, day + timedelta(days=1), history_from=local_midnight(first) if first else None
    )
    return ("weekday" if kind == BaselineKind.WEEKDAYS else "recent"), [w[0] for w in windows]


def _by_local_hour(stats) -> dict[tuple[str, int], HourStats]:
    cells: dict[tuple[str, int], HourStats] = {}
    for (stage, hour), value in stats.items():
        key = (stage, timezone.localtime(hour).hour)
        cells.setdefault(key, HourStats()).merge(value)
    return cells


def _value(stats: HourStats | None, mode: str) -> float | None:
    if stats is None:
        return 0.0 if mode == "arrivals" else None
    if mode == "arrivals":
        return float(stats.arrivals)
    average = stats.average_dwell
    return None if average is None else average / 60


def level_for(value: float | None, baseline: float | None, mode: str) -> tuple[str, int | None]:
    if value is None:
        return "none", None
    if baseline is None:
        return "normal", None
    if not baseline:
        hot = value >= MIN_DIFFERENCE[mode] if mode == "arrivals" else False
        return ("hot" if hot else "normal"), None
    difference = value - baseline
    percent = round(100 * difference / baseline)
    if abs(difference) < MIN_DIFFERENCE[mode]:
        return "normal", percent
    warm, hot, critical = settings.REPORTS_HEATMAP_THRESHOLDS
    if percent >= critical:
        return "critical", percent
    if percent >= hot:
        return "hot", percent
    if percent >= warm:
        return "warm", percent
    if percent <= -warm:
        return "cool", percent
    return "normal", percent


def heatmap_build(
    *, now: datetime | None = None, mode: str = "arrivals", reader: TimelineReader | None = None
) -> Heatmap:
    """Today's stage x hour cells with their baseline and colour level. The current
    hour is compared with the elapsed share of its baseline."""
    mode = mode if mode in MODES else "arrivals"
    now = now or timezone.now()
    reader = reader or TimelineReader()
    day = local_midnight(now)
    today = _by_local_hour(reader.hours(start=day, end=now, stages=MAIN_LINE, buckets=False))
    kind, days = baseline_days(day)
    # The baseline days' rolled-up hours in one query (only counts and sums needed).
    windows = [(start, local_midnight(start + timedelta(hours=36))) for start in days]
    past = _by_local_hour(reader.windows(windows, stages=MAIN_LINE, buckets=False))
    current = timezone.localtime(now)
    hours = list(range(current.hour + 1))
    elapsed = (current.minute * 60 + current.second) / 3600
    rows = []
    for stage in MAIN_LINE:
        row = HeatmapRow(stage=stage, label=str(OrderStatus(stage).label))
        for hour in hours:
            value = _value(today.get((stage, hour)), mode)
            seen = past.get((stage, hour))
            if not days:
                baseline = None
            elif mode == "arrivals":
                baseline = (seen.arrivals if seen else 0) / len(days)
                if hour == current.hour:
                    baseline *= max(elapsed, 1 / 60)
            else:
                baseline = _value(seen, mode)
            level, percent = level_for(value, baseline, mode)
            row.cells.append(Cell(hour, value, baseline, level, percent))
        rows.append(row)
    return Heatmap(
        mode=mode,
        day=day,
        hours=hours,
        rows=rows,
        baseline_kind=kind,
        baseline_days=days,
        baseline_sums=past,
    )
