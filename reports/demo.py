"""Demo data of the reports app: yesterday's backlog episode, as flow control would have
recorded it, and its generated post-incident review.

The orders demo (orders.demo) makes picking slow yesterday 14:00-18:00 (pick lists
printed late: 2-3 h in picking) but records no alarm, breaker or measure. Here they
are derived from that timeline, so the review's numbers agree with it:

- the picking SLA alarm, from the first episode visit passing the stage's target
  dwell to the last one leaving, and the "orders too old" alarm of those orders
  (placed more than BACKLOG_ALARM_HOURS before, not yet dispatched), each with its
  peak count sampled every 10 minutes;
- the picking breaker's trip when the picking backlog (minute by minute) reached its
  threshold, and its reset once it stayed below the reset mark long enough;
- the supervisor's "urgent dispatch" bypass during the episode, used for a dozen
  returning customers' small orders leaving quality check (photos owed afterwards,
  two still owed);
- peak support: a customer-service person lent to the warehouse team, who completed
  every third pick list while lent (their timeline and audit rows say so);
- every step's audit event (who, when, why); then `reviews_nightly` writes the review.

Marked `{"demo": true}` in the audit payloads, so `reports_demo_reset` removes
exactly this.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.utils import timezone

from approvals import events as approval_events
from approvals.models import BypassSwitch, BypassUse, BypassWindow, Obligation, SwitchKind
from backoffice.audit.models import AuditEvent
from backoffice.audit.services import audit_record
from orders import events as order_events
from orders import teams
from orders.demo.story import EPISODE_NOTE
from orders.models import AlarmEpisode, BreakerEvent, Order, StageSetting, StageVisit, SurgeGrant
from orders.services.queues import stage_settings
from orders.states import OrderStatus

S = OrderStatus
DEMO = {"demo": True}
SUPERVISOR = "supervisor"
LENT_PREFERRED = ("service1", "sales1")
URGENT_USES = 12
OBLIGATIONS_STILL_OWED = 2
SAMPLE = timedelta(minutes=10)


def _user(username: str):
    return get_user_model().objects.filter(username=username).first()


def _peak(intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> int:
    peak, t = 0, start
    while t <= end:
        peak = max(peak, sum(1 for a, b in intervals if a <= t < b))
        t += SAMPLE
    return peak


def _episode(kind, stage, intervals) -> AlarmEpisode | None:
    intervals = [(a, b) for a, b in intervals if a < b]
    if not intervals:
        return None
    start = min(a for a, _b in intervals)
    end = max(b for _a, b in intervals)
    peak = _peak(intervals, start, end)
    episode = AlarmEpisode.objects.create(
        kind=kind,
        stage=stage,
        started_at=start,
        ended_at=end,
        first_count=sum(1 for a, b in intervals if a <= start < b),
        peak_count=peak,
        last_count=0,
        last_seen_at=end,
    )
    label = f"{episode.get_kind_display()} {OrderStatus(stage).label if stage else ''}".strip()
    audit_record(
        verb=order_events.ALARM_STARTED,
        subject=episode,
        at=start,
        reason=label,
        payload={"kind": kind, "stage": stage, "peak": peak, **DEMO},
    )
    audit_record(
        verb=order_events.ALARM_ENDED,
        subject=episode,
        at=end,
        reason=label,
        payload={"kind": kind, "stage": stage, "peak": peak, **DEMO},
    )
    return episode


def _alarms(visits, setting: StageSetting) -> list[AlarmEpisode]:
    sla = timedelta(minutes=setting.sla_minutes)
    over_sla = [(v.entered_at + sla, v.left_at) for v in visits if v.left_at is not None]
    orders = Order.objects.filter(pk__in=[v.order_id for v in visits]).values_list(
        "placed_at", "dispatched_at", "cancelled_at"
    )
    age = timedelta(hours=settings.BACKLOG_ALARM_HOURS)
    too_old = [(placed + age, done or cancelled) for placed, done, cancelled in orders]
    too_old = [(a, b) for a, b in too_old if b is not None]
    found = [
        _episode(AlarmEpisode.Kind.STAGE_SLA, S.PICKING, over_sla),
        _episode(AlarmEpisode.Kind.ORDER_AGE, "", too_old),
    ]
    return [e for e in found if e is not None]


def _breaker(setting: StageSetting, day_start: datetime, day_end: datetime) -> None:
    """The picking breaker's trip and reset, from the backlog minute by minute."""
    visits = list(
        StageVisit.objects.filter(
            stage=S.PICKING, entered_at__gte=day_start - timedelta(days=1), entered_at__lt=day_end
        ).values_list("entered_at", "left_at")
    )
    visits = [(a, b) for a, b in visits if b is None or b > day_start]

    def waiting(t):
        return sum(1 for a, b in visits if a <= t and (b is None or b > t))

    t, tripped, below_since = day_start + timedelta(hours=12), None, None
    stay = timedelta(minutes=setting.breaker_reset_minutes)
    while t < day_end:
        count = waiting(t)
        if tripped is None and count >= setting.breaker_threshold:
            tripped = t
            _breaker_event(setting, BreakerEvent.Kind.TRIP, t, count, order_events.BREAKER_TRIPPED)
        elif tripped is not None:
            if count < setting.reset_below:
                below_since = below_since or t
                if t - below_since >= stay:
                    _breaker_event(
                        setting, BreakerEvent.Kind.RESET, t, count, order_events.BREAKER_RESET
                    )
                    return
            else:
                below_since = None
        t += timedelta(minutes=1)


def _breaker_event(setting, kind, at, backlog, verb) -> None:
    tripped = kind == BreakerEvent.Kind.TRIP
    event = BreakerEvent.objects.create(
        stage=setting.stage,
        kind=kind,
        at=at,
        backlog=backlog,
        threshold=setting.breaker_threshold,
        wip_limit=setting.reduced_wip_limit if tripped else setting.wip_limit,
        person_cap=setting.reduced_person_cap if tripped else setting.person_cap,
        pinned=min(setting.pin_count, backlog) if tripped else 0,
    )
    audit_record(
        verb=verb,
        subject=event,
        at=at,
        reason=f"{OrderStatus(setting.stage).label}: {backlog}",
        payload={"stage": setting.stage, "backlog": backlog, **DEMO},
    )


def _urgent_dispatch(start: datetime, end: datetime) -> None:
    supervisor = _user(SUPERVISOR)
    qc = _user("qc1")
    switch, _created = BypassSwitch.objects.get_or_create(kind=SwitchKind.URGENT_DISPATCH)
    opened = start + timedelta(minutes=20)
    closed = min(opened + timedelta(hours=4), end - timedelta(minutes=30))
    if closed <= opened:
        return
    window = BypassWindow.objects.create(
        switch=switch,
        kind=SwitchKind.URGENT_DISPATCH,
        reason="拣货积压，老客户小单紧急发货，事后补传质检照片",
        opened_at=opened,
        opened_by=supervisor,
        expires_at=opened + timedelta(hours=4),
        closed_at=closed,
        closed_by=supervisor,
        closed_how=BypassWindow.Closed.MANUAL,
        close_reason="拣货恢复正常",
    )
    audit_record(
        verb=approval_events.BYPASS_ON,
        actor=supervisor,
        subject=switch,
        reason=window.reason,
        at=opened,
        payload={"kind": window.kind, "window_id": window.pk, **DEMO},
    )
    eligible = (
        StageVisit.objects.filter(
            stage=S.QUALITY_CHECK,
            left_at__gte=opened,
            left_at__lte=closed,
            order__customer__orders_completed__gt=0,
        )
        .annotate(lines=Count("order__lines"))
        .filter(lines__lte=3)
        .order_by("left_at", "id")
        .values_list("order_id", "entered_at", "left_at")
    )
    # The quickest ones: urgent dispatch is what let them leave at once.
    picked = sorted(eligible, key=lambda v: (v[2] - v[1], v[2]))[:URGENT_USES]
    picked.sort(key=lambda v: v[2])
    numbers = dict(Order.objects.filter(pk__in=[v[0] for v in picked]).values_list("pk", "number"))
    for index, (order_id, _entered, left) in enumerate(picked):
        use = BypassUse.objects.create(
            window=window, kind=window.kind, order_id=order_id, at=left, by=qc
        )
        still_owed = index >= len(picked) - OBLIGATIONS_STILL_OWED
        Obligation.objects.create(
            order_id=order_id,
            use=use,
            created_at=left,
            due_at=left + timedelta(hours=4),
            fulfilled_at=None if still_owed else left + timedelta(minutes=50 + 7 * index),
            fulfilled_by=None if still_owed else qc,
        )
        audit_record(
            verb=approval_events.BYPASS_USED,
            actor=qc,
            subject=Order(pk=order_id, number=numbers[order_id]),
            at=left,
            payload={"kind": window.kind, "window_id": window.pk, **DEMO},
        )
    BypassWindow.objects.filter(pk=window.pk).update(uses=len(picked))
    audit_record(
        verb=approval_events.BYPASS_OFF,
        actor=supervisor,
        subject=switch,
        reason=window.close_reason,
        at=closed,
        payload={"kind": window.kind, "window_id": window.pk, "uses": len(picked), **DEMO},
    )


def _peak_support(start: datetime, end: datetime) -> None:
    supervisor = _user(SUPERVISOR)
    person = next((u for u in map(_user, LENT_PREFERRED) if u is not None), None)
    team = Group.objects.filter(name=teams.WAREHOUSE).first()
    if person is None or team is None:
        return
    granted = start + timedelta(minutes=45)
    until = min(granted + timedelta(hours=3), end)
    if until <= granted:
        return
    grant = SurgeGrant.objects.create(
        user=person,
        team=team,
        until=until,
        reason="拣货积压：客服支援手工拣货",
        granted_by=supervisor,
        granted_at=granted,
        ended_noted_at=until,
    )
    audit_record(
        verb=order_events.SURGE_GRANTED,
        actor=supervisor,
        subject=grant,
        reason=grant.reason,
        at=granted,
        payload={"user": person.get_username(), "team": team.name, "until": until, **DEMO},
    )
    audit_record(
        verb=order_events.SURGE_ENDED,
        subject=grant,
        at=until,
        payload={"user": person.get_username(), "team": team.name, "why": "expired", **DEMO},
    )
    # The pick lists the lent person completed: every third one while lent.
    helped = list(
        StageVisit.objects.filter(stage=S.PICKING, left_at__gte=granted, left_at__lt=until)
        .exclude(actor=None)
        .order_by("left_at", "id")
        .values_list("pk", "order_id", "left_at")
    )[::3]
    order_type = ContentType.objects.get_for_model(Order)
    for visit_id, order_id, left in helped:
        StageVisit.objects.filter(pk=visit_id).update(actor=person)
        AuditEvent.objects.filter(
            subject_type=order_type,
            subject_id=str(order_id),
            verb=order_events.ORDER_TRANSITION,
            at=left,
        ).update(actor=person)


def reports_demo_seed(*, now: datetime) -> None:
    """Yesterday's episode and its review (nothing when the history has no episode)."""
    from reports.review.services import reviews_nightly

    today = timezone.localtime(now).date()
    zone = timezone.get_current_timezone()
    day_start = datetime.combine(today - timedelta(days=1), time.min, tzinfo=zone)
    day_end = day_start + timedelta(days=1)
    visits = list(
        StageVisit.objects.filter(
            stage=S.PICKING,
            reason=EPISODE_NOTE,
            entered_at__gte=day_start + timedelta(hours=14),
            entered_at__lt=day_start + timedelta(hours=18),
        )
    )
    if not visits:
        return
    setting = stage_settings()[S.PICKING]
    episodes = _alarms(visits, setting)
    if not episodes:
        return
    start = min(e.started_at for e in episodes)
    end = max(e.ended_at for e in episodes)
    _breaker(setting, day_start, min(day_end, now))
    _urgent_dispatch(start, end)
    _peak_support(start, end)
    reviews_nightly(now=now)


def _demo_subjects(verb: str) -> list[str]:
    return list(
        AuditEvent.objects.filter(verb=verb, payload__demo=True).values_list(
            "subject_id", flat=True
        )
    )


def reports_demo_reset() -> None:
    """Remove the demo episode, its events, measures and reviews."""
    from reports.models import IncidentReview

    episode_ids = _demo_subjects(order_events.ALARM_STARTED)
    reviews = IncidentReview.objects.filter(episode_id__in=episode_ids)
    AuditEvent.objects.filter(
        subject_type=ContentType.objects.get_for_model(IncidentReview),
        subject_id__in=[str(pk) for pk in reviews.values_list("pk", flat=True)],
    ).delete()
    reviews.delete()
    BreakerEvent.objects.filter(
        pk__in=_demo_subjects(order_events.BREAKER_TRIPPED)
        + _demo_subjects(order_events.BREAKER_RESET)
    ).delete()
    AlarmEpisode.objects.filter(pk__in=episode_ids).delete()
    SurgeGrant.objects.filter(pk__in=_demo_subjects(order_events.SURGE_GRANTED)).delete()
    window_ids = [
        e.payload.get("window_id")
        for e in AuditEvent.objects.filter(verb=approval_events.BYPASS_ON, payload__demo=True)
    ]
    Obligation.objects.filter(use__window_id__in=window_ids).delete()
    BypassUse.objects.filter(window_id__in=window_ids).delete()
    BypassSwitch.objects.filter(current_window_id__in=window_ids).update(current_window=None)
    BypassWindow.objects.filter(pk__in=window_ids).delete()
    AuditEvent.objects.filter(payload__demo=True).delete()
