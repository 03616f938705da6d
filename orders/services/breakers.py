"""Stage circuit breakers: a backlog trips the stage's fuse.

closed -> open when the waiting orders reach the threshold: the owner is told at
once on all their channels, the oldest waiting orders are pinned to the top of the
queue and the stage's WIP limit and per-person cap drop to their reduced values
(`stage_limits` reads the breaker). open -> recovering when the backlog falls
below the reset mark (60 % of the threshold by default); recovering -> closed only
after it stayed there for `breaker_reset_minutes`, and back to open if it rises
again: a backlog oscillating around the threshold does not flap the breaker.

Evaluated every minute by a schedule (one grouped count for all stages), and right
after a transition into a stage (a count bounded by the threshold, at most every
few seconds per process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.audit.services import audit_record
from backoffice.notifications.models import Notification
from backoffice.notifications.services import notify
from orders import events, teams
from orders.models import BreakerEvent, BreakerState, Order, StageBreaker, StageSetting
from orders.services.queues import stage_limits, stage_settings
from orders.states import MAIN_LINE, OrderStatus

B = BreakerState


@dataclass(frozen=True)
class Waiting:
    count: int = 0
    oldest: datetime | None = None


def stages_waiting(stages=None) -> dict[str, Waiting]:
    """Unclaimed orders per stage and the oldest one's purchase time (one grouped query
    over the partial queue index)."""
    rows = (
        Order.objects.filter(status__in=stages or MAIN_LINE, claimed_by__isnull=True)
        .values("status")
        .annotate(n=Count("id"), oldest=Min("placed_at"))
        .order_by()
    )
    return {row["status"]: Waiting(row["n"], row["oldest"]) for row in rows}


def breaker_next_state(
    breaker: StageBreaker, setting: StageSetting, backlog: int, now: datetime
) -> tuple[str, datetime | None]:
    """The breaker's next (state, below_since) for this backlog: the hysteresis rules."""
    state, below_since = breaker.state, breaker.below_since
    if state == B.CLOSED:
        return (B.OPEN, None) if backlog >= setting.breaker_threshold else (B.CLOSED, None)
    if backlog >= setting.reset_below:
        return B.OPEN, None
    below_since = below_since if state == B.HALF_OPEN and below_since else now
    if now - below_since >= timedelta(minutes=setting.breaker_reset_minutes):
        return B.CLOSED, None
    return B.HALF_OPEN, below_since


def stage_owners(setting: StageSetting) -> list:
    """Who is told about the stage: its owner person and team; the supervisors if none."""
    users = get_user_model().objects.filter(is_active=True)
    wanted = Q(pk=setting.owner_user_id) if setting.owner_user_id else Q(pk__in=[])
    if setting.owner_group_id:
        wanted |= Q(groups=setting.owner_group_id)
    owners = list(users.filter(wanted).distinct()) if wanted else []
    return owners or list(users.filter(groups__name=teams.SUPERVISORS).distinct())


def _stage_link(stage: str) -> str:
    return f"{reverse('admin:orders_order_changelist')}?status={stage}"


def _notify_owners(
    setting: StageSetting, *, subject: str, text: str, level: str, event: str
) -> list[str]:
    """In-app for every owner; urgent messages go out on every channel of the stage
    (each with the others as fallbacks), others on the first channel that works."""
    owners = stage_owners(setting)
    channels = list(setting.channels.filter(enabled=True).order_by("pk"))
    link = _stage_link(setting.stage)
    common = {"subject": subject, "text": text, "link": link, "level": level, "event": event}
    if level == Notification.Level.URGENT and channels:
        for index, channel in enumerate(channels):
            chain = [channel, *channels[:index], *channels[index + 1 :]]
            notify(recipients=owners, channels=chain, in_app=index == 0, **common)
    else:
        notify(recipients=owners, channels=channels, quiet_hours=setting.quiet_hours, **common)
    return [f"@{u.get_username()}" for u in owners] + [c.name for c in channels]


def _limit_text(value) -> object:
    return value if value is not None else "-"


def _event_record(
    setting: StageSetting,
    *,
    kind: str,
    waiting: Waiting,
    now: datetime,
    pinned: list[int],
    subject: str,
    text: str,
    level: str,
    verb: str,
) -> BreakerEvent:
    """The event with its numbers, the owners told, the audit row."""
    limits = stage_limits(setting, breaker_open=kind == BreakerEvent.Kind.TRIP)
    oldest_age = int((now - waiting.oldest).total_seconds()) if waiting.oldest else 0
    event = BreakerEvent.objects.create(
        stage=setting.stage,
        kind=kind,
        at=now,
        backlog=waiting.count,
        threshold=setting.breaker_threshold,
        oldest_age_seconds=max(0, oldest_age),
        wip_limit=limits.wip_limit,
        person_cap=limits.person_cap,
        pinned=len(pinned),
    )
    event.notified = _notify_owners(
        setting, subject=subject, text=text, level=level, event=event.notification_event
    )
    event.save(update_fields=["notified"])
    audit_record(
        verb=verb,
        subject=event,
        at=now,
        reason=text,
        payload={"stage": setting.stage, "backlog": waiting.count, "pinned": pinned},
    )
    return event


def _trip(breaker: StageBreaker, setting: StageSetting, waiting: Waiting, now: datetime):
    stage = setting.stage
    oldest_ids = list(
        Order.objects.filter(status=stage, claimed_by__isnull=True, pinned=False)
        .order_by("placed_at")
        .values_list("pk", flat=True)[: setting.pin_count]
    )
    Order.objects.filter(pk__in=oldest_ids).update(pinned=True)
    breaker.pinned_ids = oldest_ids
    limits = stage_limits(setting, breaker_open=True)
    label = OrderStatus(stage).label
    oldest_minutes = int((now - waiting.oldest).total_seconds() // 60) if waiting.oldest else 0
    text = _(
        "%(stage)s: %(count)s orders waiting (threshold %(threshold)s), the oldest for "
        "%(minutes)s min. The %(pinned)s oldest are pinned to the top of the queue; concurrency "
        "limit lowered to %(wip)s, per-person cap to %(cap)s."
    ) % {
        "stage": label,
        "count": waiting.count,
        "threshold": setting.breaker_threshold,
        "minutes": max(0, oldest_minutes),
        "pinned": len(oldest_ids),
        "wip": _limit_text(limits.wip_limit),
        "cap": _limit_text(limits.person_cap),
    }
    _event_record(
        setting,
        kind=BreakerEvent.Kind.TRIP,
        waiting=waiting,
        now=now,
        pinned=oldest_ids,
        subject=_("Circuit breaker open: %(stage)s backlog") % {"stage": label},
        text=text,
        level=Notification.Level.URGENT,
        verb=events.BREAKER_TRIPPED,
    )


def _reset(breaker: StageBreaker, setting: StageSetting, waiting: Waiting, now: datetime):
    stage = setting.stage
    unpinned = Order.objects.filter(pk__in=breaker.pinned_ids, status=stage, pinned=True).update(
        pinned=False
    )
    breaker.pinned_ids = []
    limits = stage_limits(setting, breaker_open=False)
    label = OrderStatus(stage).label
    text = _(
        "%(stage)s has recovered: %(count)s orders waiting. Limits are back to normal "
        "(concurrency %(wip)s, per person %(cap)s); %(unpinned)s orders unpinned."
    ) % {
        "stage": label,
        "count": waiting.count,
        "wip": _limit_text(limits.wip_limit),
        "cap": _limit_text(limits.person_cap),
        "unpinned": unpinned,
    }
    _event_record(
        setting,
        kind=BreakerEvent.Kind.RESET,
        waiting=waiting,
        now=now,
        pinned=[],
        subject=_("Circuit breaker closed: %(stage)s recovered") % {"stage": label},
        text=text,
        level=Notification.Level.INFO,
        verb=events.BREAKER_RESET,
    )


def breakers_evaluate(*, now: datetime | None = None, stages=None) -> dict[str, str]:
    """Evaluate the breakers of `stages` (all main-line stages by default).

    Returns each stage's state. A state change happens under the breaker's row
    lock, so two evaluators at once trip (and notify) only once.
    """
    now = now or timezone.now()
    stages = list(stages or MAIN_LINE)
    all_settings = stage_settings()
    waiting = stages_waiting(stages)
    StageBreaker.objects.bulk_create([StageBreaker(stage=s) for s in stages], ignore_conflicts=True)
    breakers = {b.stage: b for b in StageBreaker.objects.filter(stage__in=stages)}
    states: dict[str, str] = {}
    quiet: list[StageBreaker] = []
    for stage in stages:
        setting, breaker = all_settings[stage], breakers[stage]
        seen = waiting.get(stage, Waiting())
        state, _below = breaker_next_state(breaker, setting, seen.count, now)
        if state == breaker.state and state != B.HALF_OPEN:
            breaker.backlog, breaker.evaluated_at = seen.count, now
            quiet.append(breaker)
            states[stage] = state
            continue
        states[stage] = _change(stage, setting, seen, now)
    if quiet:
        StageBreaker.objects.bulk_update(quiet, ["backlog", "evaluated_at"])
    return states


def _change(stage: str, setting: StageSetting, seen: Waiting, now: datetime) -> str:
    with transaction.atomic():
        breaker = StageBreaker.objects.select_for_update().get(stage=stage)
        state, below_since = breaker_next_state(breaker, setting, seen.count, now)
        previous = breaker.state
        if state == B.OPEN and previous == B.CLOSED:
            _trip(breaker, setting, seen, now)
        elif state == B.CLOSED and previous != B.CLOSED:
            _reset(breaker, setting, seen, now)
        if state != previous:
            breaker.changed_at = now
        breaker.state, breaker.below_since = state, below_since
        breaker.backlog, breaker.evaluated_at = seen.count, now
        breaker.save()
    return state


# Per process: when each stage was last checked after a transition into it.
_entry_checked: dict[str, float] = {}


def breaker_check_on_entry(stage: str) -> None:
    """After an order entered `stage`: trip at once if the backlog reached the threshold.

    Counts at most `threshold` rows (LIMIT), at most once every
    BREAKER_ENTRY_CHECK_SECONDS per stage and process; the minute schedule catches
    anything this skips.
    """
    if stage not in MAIN_LINE:
        return
    clock = time.monotonic()
    if clock - _entry_checked.get(stage, -1e9) < settings.BREAKER_ENTRY_CHECK_SECONDS:
        return
    _entry_checked[stage] = clock
    row = (
        StageSetting.objects.filter(stage=stage).values_list("breaker_threshold", flat=True).first()
    )
    threshold = row or StageSetting._meta.get_field("breaker_threshold").default
    waiting = Order.objects.filter(status=stage, claimed_by__isnull=True)[:threshold].count()
    if waiting >= threshold:
        breakers_evaluate(stages=[stage])
