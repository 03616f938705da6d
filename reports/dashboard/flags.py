"""Stall detection: why a stage is stuck, in words, with the evidence numbers.

- stalled: orders wait, none has left for REPORTS_STALL_MINUTES while the stage's
  people are active (they log in, claim, complete other visits): a tool or a piece
  of equipment, not people (the pick-list printer, a scanner, a template);
- unattended: orders wait and none of the stage's people has shown any activity
  for REPORTS_UNATTENDED_MINUTES;
- demand surge: arrivals in the last hour far above the same hour of a normal day
  while exits keep their normal pace: the stage works, there is just more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import StageVisit
from orders.states import MAIN_LINE, OrderStatus
from reports.activity import stage_people
from reports.dashboard.heatmap import Heatmap
from reports.dashboard.stages import StageRow
from reports.models import StaffActivity
from reports.rollups import TimelineReader, stage_totals

STALLED, UNATTENDED, SURGE = "stalled", "unattended", "surge"


@dataclass
class Flag:
    stage: str
    kind: str
    title: str
    text: str
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Exits:
    last: datetime | None  # the latest exit within a day
    recent: int  # exits in the stall window


def _exits(now: datetime, minutes: int) -> dict[str, Exits]:
    """Per stage: the last exit (within a day) and the exits of the last `minutes`
    (one grouped range scan of the (stage, left_at) index)."""
    recent_since = now - timedelta(minutes=minutes)
    rows = (
        StageVisit.objects.filter(
            stage__in=MAIN_LINE, left_at__gte=now - timedelta(days=1), left_at__lte=now
        )
        .values("stage")
        .annotate(last=Max("left_at"), recent=Count("id", filter=Q(left_at__gte=recent_since)))
        .order_by()
    )
    return {row["stage"]: Exits(row["last"], row["recent"]) for row in rows}


def _active_people(now: datetime, minutes: int) -> set[int]:
    """Who showed a sign of life in the last `minutes`: a login, a claim, a completed visit."""
    since = now - timedelta(minutes=minutes)
    active = set(
        StaffActivity.objects.filter(at__gte=since, at__lte=now).values_list("user_id", flat=True)
    )
    active.update(
        StageVisit.objects.filter(
            stage__in=MAIN_LINE, left_at__gte=since, left_at__lte=now, actor__isnull=False
        ).values_list("actor_id", flat=True)
    )
    return active


def _last_hour_against_normal(
    now: datetime, heatmap: Heatmap, reader: TimelineReader
) -> tuple[dict, dict, int]:
    """Arrivals and exits per stage over the last hour, and the same clock hour of a
    normal day: the heatmap's baseline, the two hours it spans weighted by overlap."""
    current = stage_totals(reader.hours(start=now - timedelta(hours=1), end=now, stages=MAIN_LINE))
    local = timezone.localtime(now)
    share = (local.minute * 60 + local.second) / 3600  # of the current clock hour
    baseline = {}
    for stage in MAIN_LINE:
        this_hour = heatmap.normal(stage, local.hour)
        previous = heatmap.normal(stage, local.hour - 1)
        if this_hour is None or previous is None:
            continue
        baseline[stage] = (
            previous.arrivals * (1 - share) + this_hour.arrivals * share,
            previous.exits * (1 - share) + this_hour.exits * share,
        )
    return current, baseline, len(heatmap.baseline_days)


def stage_flags(
    rows: list[StageRow],
    *,
    heatmap: Heatmap,
    now: datetime | None = None,
    reader: TimelineReader | None = None,
) -> list[Flag]:
    """The flags of the stages in `rows` (from stage_panel, so counts are not re-read);
    the normal day comes from the heatmap's baseline."""
    now = now or timezone.now()
    stall_minutes = settings.REPORTS_STALL_MINUTES
    idle_minutes = settings.REPORTS_UNATTENDED_MINUTES
    reader = reader or TimelineReader()
    people = stage_people(reader.settings_by_stage, now=now)
    active = _active_people(now, max(stall_minutes, idle_minutes))
    recently_active = _active_people(now, idle_minutes) if idle_minutes != stall_minutes else active
    exits_by_stage = _exits(now, stall_minutes)
    current, baseline, days = _last_hour_against_normal(now, heatmap, reader)
    flags: list[Flag] = []
    for row in rows:
        if row.stage not in MAIN_LINE:
            continue
        label = str(OrderStatus(row.stage).label)
        staff = people.get(row.stage, set())
        waiting_minutes = (row.oldest_seconds or 0) / 60
        if row.total and waiting_minutes >= stall_minutes and staff & active:
            flag = _stalled(
                row,
                label=label,
                exits=exits_by_stage.get(row.stage, Exits(None, 0)),
                normal=baseline.get(row.stage),
                working=len(staff & active),
                people=len(staff),
                now=now,
            )
            if flag:
                flags.append(flag)
        if (
            row.total
            and waiting_minutes >= idle_minutes
            and staff
            and not (staff & recently_active)
        ):
            flags.append(
                Flag(
                    stage=row.stage,
                    kind=UNATTENDED,
                    title=_("%(stage)s: unattended") % {"stage": label},
                    text=_(
                        "%(waiting)d orders are waiting (the oldest for %(oldest)d min) and "
                        "none of its %(people)d people has logged in, claimed or completed "
                        "an order in the last %(window)d min."
                    )
                    % {
                        "waiting": row.total,
                        "oldest": waiting_minutes,
                        "people": len(staff),
                        "window": idle_minutes,
                    },
                    evidence={
                        "waiting": row.total,
                        "oldest_minutes": round(waiting_minutes),
                        "people": len(staff),
                    },
                )
            )
        now_stats = current.get(row.stage)
        normal = baseline.get(row.stage)
        if now_stats and normal and normal[0] > 0:
            arrivals, exits = now_stats.arrivals, now_stats.exits
            normal_arrivals, normal_exits = normal
            surge = (
                arrivals >= settings.REPORTS_SURGE_MIN_ARRIVALS
                and arrivals * 100 >= settings.REPORTS_SURGE_PERCENT * normal_arrivals
                and exits * 100 >= settings.REPORTS_SURGE_EXIT_PERCENT * normal_exits
            )
            if surge:
                flags.append(
                    Flag(
                        stage=row.stage,
                        kind=SURGE,
                        title=_("%(stage)s: demand surge") % {"stage": label},
                        text=_(
                            "%(arrivals)d orders entered in the last hour against %(normal)s "
                            "on a normal day (%(percent)d%%), while %(exits)d left "
                            "(normally %(normal_exits)s): the stage works at its pace, the "
                            "demand is higher. Consider peak support staff or a bypass."
                        )
                        % {
                            "arrivals": arrivals,
                            "normal": f"{normal_arrivals:.0f}",
                            "percent": round(100 * arrivals / normal_arrivals),
                            "exits": exits,
                            "normal_exits": f"{normal_exits:.0f}",
                        },
                        evidence={
                            "arrivals": arrivals,
                            "normal_arrivals": round(normal_arrivals, 1),
                            "exits": exits,
                            "normal_exits": round(normal_exits, 1),
                            "baseline_days": days,
                        },
                    )
                )
    return flags


def _stalled(
    row: StageRow, *, label: str, exits: Exits, normal, working: int, people: int, now
) -> Flag | None:
    """Staffed, orders waiting, and nothing (or a trickle) comes out: no exit for the
    stall window, or, with orders over the target dwell, at most
    REPORTS_STALL_EXIT_PERCENT of a normal day's exits in it (workarounds such as
    handwritten pick lists keep a trickle going)."""
    minutes = settings.REPORTS_STALL_MINUTES
    quiet = (now - exits.last).total_seconds() / 60 if exits.last else None
    normal_exits = normal[1] * minutes / 60 if normal else None
    if quiet is None or quiet >= minutes:
        what = (
            _("no order has left it for %(minutes)d min") % {"minutes": quiet}
            if quiet is not None
            else _("no order has left it for over a day")
        )
    elif (
        row.over_sla  # a backlog: a quiet hour has few exits because it has few arrivals
        and normal_exits is not None
        and normal_exits >= 4
        and exits.recent * 100 <= settings.REPORTS_STALL_EXIT_PERCENT * normal_exits
    ):
        what = _(
            "only %(exits)d left it in the last %(minutes)d min, against %(normal)s on a normal day"
        ) % {"exits": exits.recent, "minutes": minutes, "normal": f"{normal_exits:.0f}"}
    else:
        return None
    return Flag(
        stage=row.stage,
        kind=STALLED,
        title=_("%(stage)s: stalled (tool or equipment?)") % {"stage": label},
        text=_(
            "%(waiting)d orders are waiting and %(what)s, while %(active)d of its "
            "%(people)d people were active in the last %(window)d min. People are there "
            "but little comes out: check the tools (printer, scanner, templates)."
        )
        % {
            "waiting": row.total,
            "what": what,
            "active": working,
            "people": people,
            "window": max(minutes, settings.REPORTS_UNATTENDED_MINUTES),
        },
        evidence={
            "waiting": row.total,
            "minutes_since_last_exit": None if quiet is None else round(quiet),
            "exits_in_window": exits.recent,
            "normal_exits_in_window": None if normal_exits is None else round(normal_exits, 1),
            "active_people": working,
            "people": people,
        },
    )
