"""Backlog alarms: order age and stage SLA in business hours, one episode per alarm."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from backoffice.models import BusinessCalendar, Weekday, WorkingPeriod
from backoffice.notifications.models import Notification
from orders import events, teams
from orders.models import AlarmEpisode, Order
from orders.services import order_cancel
from orders.services.alarms import backlog_alarm_scan, orders_too_old_filter
from orders.states import MAIN_LINE, OrderStatus
from orders.tests.factories import (
    UserFactory,
    bulk_waiting_orders,
    make_order,
    stage_configure,
)

S = OrderStatus
ORDER_AGE, STAGE_SLA = AlarmEpisode.Kind.ORDER_AGE, AlarmEpisode.Kind.STAGE_SLA
URGENT, INFO = Notification.Level.URGENT, Notification.Level.INFO

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRI, MON, TUE = date(2025, 9, 26), date(2025, 9, 29), date(2025, 9, 30)


def at(day: date, clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=SHANGHAI)


def bulk_orders(count: int, *, stage=S.PICKING, since: datetime, **fields) -> list[int]:
    """`count` orders placed (and in `stage`) since `since`."""
    return bulk_waiting_orders(count, stage=stage, start=since, step=timedelta(0), **fields)


def configure(stage, **fields) -> None:
    stage_configure(stage, **fields)


def scan(moment: datetime) -> dict[str, int]:
    with time_machine.travel(moment, tick=False):
        return backlog_alarm_scan()


def late_by_age(moment: datetime) -> int:
    return Order.objects.filter(orders_too_old_filter(now=moment)).count()


def levels_of(user) -> list[str]:
    return list(Notification.objects.filter(recipient=user).values_list("level", flat=True))


@pytest.fixture(autouse=True)
def alarm_hours(settings):
    settings.BACKLOG_ALARM_HOURS = 3


@pytest.fixture
def office(db):
    """Mon-Fri 09:00-12:00 and 13:00-18:00 (Asia/Shanghai)."""
    calendar = BusinessCalendar.objects.create(name="Warehouse hours")
    for weekday in range(Weekday.MONDAY, Weekday.FRIDAY + 1):
        WorkingPeriod.objects.create(
            calendar=calendar, weekday=weekday, start=time(9), end=time(12)
        )
        WorkingPeriod.objects.create(
            calendar=calendar, weekday=weekday, start=time(13), end=time(18)
        )
    return calendar


@pytest.fixture
def supervisor2(db):
    return UserFactory(username="supervisor2", groups=[teams.SUPERVISORS])


@pytest.fixture
def no_sla_alarms(db):
    """Order-age tests: keep the stage SLA alarm out of the way."""
    for stage in MAIN_LINE:
        configure(stage, sla_minutes=100_000)


def test_an_order_placed_at_two_is_not_three_hours_late_at_half_past_nine(office, no_sla_alarms):
    configure(S.PICKING, calendar=office)
    bulk_orders(1, since=at(MON, "02:00"))

    seen = scan(at(MON, "09:30"))

    assert seen["order_age"] == 0
    assert not AlarmEpisode.objects.exists()
    # Three working hours: 09:00-12:00. Late from noon on, lunch break included.
    assert late_by_age(at(MON, "11:59")) == 0
    assert late_by_age(at(MON, "12:00")) == 1
    assert late_by_age(at(MON, "12:30")) == 1
    assert late_by_age(at(MON, "14:00")) == 1
    # The same order in a stage without a calendar counts around the clock.
    Order.objects.update(status=S.SALES_REVIEW)
    assert late_by_age(at(MON, "05:01")) == 1


def test_the_order_age_alarm_is_one_episode_told_once_with_its_peak_and_its_end(
    office, no_sla_alarms, supervisor, supervisor2, warehouse_clerk
):
    for stage in (S.SALES_REVIEW, S.PICKING):
        configure(stage, calendar=office)
    with time_machine.travel(at(MON, "02:00"), tick=False):
        reviewed = make_order()
    assert reviewed.status == S.SALES_REVIEW
    early = bulk_orders(2, since=at(MON, "02:00"))

    assert scan(at(MON, "11:00"))["order_age"] == 0
    assert scan(at(MON, "12:00"))["order_age"] == 3
    episode = AlarmEpisode.objects.get()
    assert (episode.kind, episode.stage, episode.started_at) == (ORDER_AGE, "", at(MON, "12:00"))
    assert (episode.first_count, episode.peak_count) == (3, 3)
    assert levels_of(supervisor) == levels_of(supervisor2) == [URGENT]
    assert levels_of(warehouse_clerk) == []

    # More late orders: the same episode, a higher peak, nobody told again.
    earlier = bulk_orders(2, since=at(MON, "01:00"))
    assert scan(at(MON, "12:10"))["order_age"] == 5
    assert scan(at(MON, "12:15"))["order_age"] == 5
    episode.refresh_from_db()
    assert (episode.peak_count, episode.last_count, episode.ended_at) == (5, 5, None)

    # Cancelled, dispatched, gone: fewer late orders, the episode goes on.
    with time_machine.travel(at(MON, "12:16"), tick=False):
        order_cancel(reviewed, by=supervisor, reason="customer withdrew")
    Order.objects.filter(pk__in=early).update(status=S.DISPATCHED)
    Order.objects.filter(pk=earlier[0]).delete()
    assert scan(at(MON, "12:20"))["order_age"] == 1
    episode.refresh_from_db()
    assert (episode.peak_count, episode.last_count, episode.ended_at) == (5, 1, None)

    Order.objects.filter(pk=earlier[1]).update(status=S.CANCELLED)
    assert scan(at(MON, "12:30"))["order_age"] == 0
    episode.refresh_from_db()
    assert (episode.ended_at, episode.last_count, episode.peak_count) == (at(MON, "12:30"), 0, 5)
    for person in (supervisor, supervisor2):
        assert sorted(levels_of(person)) == [INFO, URGENT]
    notice = Notification.objects.get(recipient=supervisor, level=INFO).text
    assert "30 min" in notice and "5" in notice

    scan(at(MON, "12:40"))
    assert AlarmEpisode.objects.count() == 1
    assert AuditEvent.objects.filter(verb=events.ALARM_STARTED).count() == 1
    assert AuditEvent.objects.filter(verb=events.ALARM_ENDED).count() == 1

    # A later backlog is a new episode, told again.
    bulk_orders(1, since=at(MON, "02:00"))
    scan(at(TUE, "09:00"))
    assert AlarmEpisode.objects.filter(ended_at=None).count() == 1
    assert sorted(levels_of(supervisor)) == [INFO, URGENT, URGENT]


def test_a_stage_over_its_sla_opens_an_episode_for_that_stage_only(
    office, supervisor, admin_client
):
    for stage in MAIN_LINE:
        configure(stage, sla_minutes=60)
    configure(S.PICKING, calendar=office)
    # Entered picking at 11:30: 30 working minutes before lunch, the rest after 13:00.
    waiting = bulk_orders(1, since=at(MON, "11:30"))
    # Sales review counts around the clock; this one is within its hour.
    bulk_orders(1, stage=S.SALES_REVIEW, since=at(MON, "12:45"))

    seen = scan(at(MON, "13:29"))
    assert seen[S.PICKING] == 0  # 59 working minutes (two hours on the wall clock)
    assert not AlarmEpisode.objects.exists()

    seen = scan(at(MON, "13:31"))

    assert {stage: count for stage, count in seen.items() if count} == {S.PICKING: 1}
    episode = AlarmEpisode.objects.get()
    assert (episode.kind, episode.stage, episode.first_count) == (STAGE_SLA, S.PICKING, 1)
    assert levels_of(supervisor) == [URGENT]
    assert "sla=over" in Notification.objects.get(recipient=supervisor).link

    # The admin's "over the stage's target" filter lists the same orders.
    changelist = reverse("admin:orders_order_changelist")
    with time_machine.travel(at(MON, "13:31"), tick=False):
        over = admin_client.get(changelist, {"sla": "over"})
        everything = admin_client.get(changelist)
    assert [o.pk for o in over.context["cl"].result_list] == waiting
    assert len(everything.context["cl"].result_list) == 2


def test_the_sla_clock_stops_over_nights_and_weekends(office, supervisor):
    for stage in MAIN_LINE:
        configure(stage, calendar=office)
    configure(S.PICKING, sla_minutes=60)
    bulk_orders(1, since=at(FRI, "17:30"))

    assert scan(at(MON, "09:29"))[S.PICKING] == 0  # 30 min on Friday + 29 on Monday
    assert not AlarmEpisode.objects.filter(kind=STAGE_SLA).exists()
    assert scan(at(MON, "09:31"))[S.PICKING] == 1
    assert AlarmEpisode.objects.get(kind=STAGE_SLA).stage == S.PICKING

    # Back within the target (moved on): the episode ends with a notice.
    Order.objects.update(status=S.QUALITY_CHECK, stage_entered_at=at(MON, "09:40"))
    scan(at(MON, "09:45"))
    assert AlarmEpisode.objects.get(kind=STAGE_SLA).ended_at == at(MON, "09:45")
    assert sorted(levels_of(supervisor)) == [INFO, URGENT]
