"""Backlog alarms: orders too old, stages over their SLA.

One alarm per episode, not per minute: an episode opens (and the supervisors are
told) when the condition first holds, records its peak while it lasts, and ends
(with a recovery notice) when it no longer holds. The post-incident review reads
the episodes. Ages are counted in each stage's business hours.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.audit.services import audit_record
from backoffice.business_hours import business_cutoff, calendar_load
from backoffice.notifications.models import Notification
from backoffice.notifications.selectors import channels_for_supervisors
from backoffice.notifications.services import notify
from orders import events
from orders.models import AlarmEpisode, Order
from orders.services.queues import stage_settings
from orders.states import MAIN_LINE, OrderStatus, S

Kind = AlarmEpisode.Kind


def stage_cutoffs(*, now: datetime, seconds_for) -> dict[str, datetime | None]:
    """Per main-line stage: the instant before which `seconds_for(setting)` of business
    time has passed (None: nothing can be that late, e.g. a closed calendar)."""
    loaded: dict[int | None, object] = {}
    cutoffs = {}
    for stage, setting in stage_settings().items():
        if setting.calendar_id not in loaded:
            loaded[setting.calendar_id] = calendar_load(setting.calendar_id)
        cutoffs[stage] = business_cutoff(loaded[setting.calendar_id], now, seconds_for(setting))
    return cutoffs


def orders_too_old_filter(*, now: datetime) -> Q:
    """Open orders older than the alarm age, in their current stage's business hours."""
    seconds = settings.BACKLOG_ALARM_HOURS * 3600
    cutoffs = stage_cutoffs(now=now, seconds_for=lambda _s: seconds)
    condition = Q(pk__in=[])
    for stage, cutoff in cutoffs.items():
        if cutoff is not None:
            condition |= Q(status=stage, placed_at__lt=cutoff)
    # Held orders wait for an exception team, around the clock.
    condition |= Q(status=S.ON_HOLD, placed_at__lt=business_cutoff(None, now, seconds))
    return condition


def sla_cutoffs(*, now: datetime) -> dict[str, datetime | None]:
    return stage_cutoffs(now=now, seconds_for=lambda s: s.sla_minutes * 60)


def orders_over_sla_filter(
    *, now: datetime, stage: str | None = None, cutoffs: dict | None = None
) -> Q:
    """Orders waiting in their stage longer than its target dwell (business time).
    `cutoffs`: from `sla_cutoffs`, when the caller filters several stages."""
    cutoffs = cutoffs if cutoffs is not None else sla_cutoffs(now=now)
    condition = Q(pk__in=[])
    for name, cutoff in cutoffs.items():
        if cutoff is not None and (stage is None or stage == name):
            condition |= Q(status=name, stage_entered_at__lt=cutoff)
    return condition


def _supervisors():
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=settings.SUPERVISORS_GROUP)
        .distinct()
    )


def _link(kind: str, stage: str) -> str:
    base = reverse("admin:orders_order_changelist")
    if kind == Kind.ORDER_AGE:
        return f"{base}?age=gt{settings.BACKLOG_ALARM_HOURS}"
    return f"{base}?status={stage}&sla=over"


def _episode_track(kind: str, stage: str, count: int, now: datetime) -> AlarmEpisode | None:
    """Open, update or end the episode of (kind, stage) for the count seen now."""
    episode = AlarmEpisode.objects.filter(kind=kind, stage=stage, ended_at=None).first()
    if count and episode:
        episode.last_count, episode.last_seen_at = count, now
        episode.peak_count = max(episode.peak_count, count)
        episode.save(update_fields=["last_count", "last_seen_at", "peak_count"])
        return episode
    if count:
        try:
            with transaction.atomic():
                episode = AlarmEpisode.objects.create(
                    kind=kind,
                    stage=stage,
                    started_at=now,
                    first_count=count,
                    peak_count=count,
                    last_count=count,
                    last_seen_at=now,
                )
        except IntegrityError:  # another scanner opened it a moment ago
            return None
        _announce(episode, started=True, now=now)
        return episode
    if episode:
        episode.ended_at, episode.last_count = now, 0
        episode.save(update_fields=["ended_at", "last_count"])
        _announce(episode, started=False, now=now)
    return None


def _describe(episode: AlarmEpisode) -> str:
    if episode.kind == Kind.ORDER_AGE:
        return _("%(count)s open orders are older than %(hours)s h.") % {
            "count": episode.last_count or episode.peak_count,
            "hours": settings.BACKLOG_ALARM_HOURS,
        }
    return _("%(count)s orders in %(stage)s have waited longer than its target dwell.") % {
        "count": episode.last_count or episode.peak_count,
        "stage": OrderStatus(episode.stage).label,
    }


def _announce(episode: AlarmEpisode, *, started: bool, now: datetime) -> None:
    if started:
        subject = _("Backlog alarm: %(what)s") % {"what": episode.get_kind_display()}
        text = _describe(episode)
        level = Notification.Level.URGENT
    else:
        subject = _("Backlog alarm over: %(what)s") % {"what": episode.get_kind_display()}
        minutes = int((now - episode.started_at).total_seconds() // 60)
        text = _("The alarm lasted %(minutes)s min; at its peak %(peak)s orders.") % {
            "minutes": minutes,
            "peak": episode.peak_count,
        }
        level = Notification.Level.INFO
    if episode.stage:
        subject = f"{subject} · {OrderStatus(episode.stage).label}"
    notify(
        recipients=_supervisors(),
        subject=subject,
        text=text,
        link=_link(episode.kind, episode.stage),
        level=level,
        channels=list(channels_for_supervisors()),
        event=episode.notification_event,
    )
    audit_record(
        verb=events.ALARM_STARTED if started else events.ALARM_ENDED,
        subject=episode,
        at=now,
        reason=text,
        payload={"kind": episode.kind, "stage": episode.stage, "peak": episode.peak_count},
    )


def backlog_alarm_scan(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule: count what is late now and track the alarm episodes."""
    now = now or timezone.now()
    too_old = Order.objects.filter(orders_too_old_filter(now=now)).count()
    seen = {"order_age": too_old}
    _episode_track(Kind.ORDER_AGE, "", too_old, now)
    cutoffs = sla_cutoffs(now=now)  # the settings and calendars, read once
    for stage in MAIN_LINE:
        over = Order.objects.filter(
            orders_over_sla_filter(now=now, stage=stage, cutoffs=cutoffs)
        ).count()
        seen[stage] = over
        _episode_track(Kind.STAGE_SLA, stage, over, now)
    return seen
