"""Orders with hand-made timelines, and a constructed backlog episode whose every number
is known in advance (see test_review.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group

from approvals.models import BypassSwitch, BypassUse, BypassWindow, Obligation, SwitchKind
from backoffice.audit.services import audit_record
from exceptions.models import ExceptionCase, ExceptionType
from orders import events as order_events
from orders import teams
from orders.models import AlarmEpisode, BreakerEvent, Order, StageVisit, SurgeGrant
from orders.states import Lane, OrderStatus, Via
from orders.tests.factories import CustomerFactory, PartnerFactory, UserFactory, stage_configure

S = OrderStatus
_numbers = itertools.count(1)


def order_with_timeline(
    *,
    placed_at: datetime,
    stages: list[tuple],
    partner=None,
    customer=None,
    lane: int = Lane.NORMAL,
    total: Decimal = Decimal("100.00"),
    actor=None,
) -> Order:
    """An order received at `placed_at` (zero-length `received` visit), then one visit
    per (stage, minutes[, actor]) in a row; minutes None leaves the visit open, 0 makes
    it an automatic pass (via=rule)."""
    customer = customer or CustomerFactory(partner=partner)
    status = S.DISPATCHED
    if stages and stages[-1][1] is None:
        status = stages[-1][0]
    order = Order.objects.create(
        number=f"RV{next(_numbers):08d}",
        customer=customer,
        partner=partner,
        status=status,
        placed_at=placed_at,
        created_at=placed_at,
        stage_entered_at=placed_at,
        total_amount=total,
        goods_amount=total,
        lane=lane,
        ship_name="A",
        ship_phone="1",
        ship_province="Z",
        ship_city="H",
        ship_line1="1",
    )
    visits = [
        StageVisit(
            order=order,
            stage=S.RECEIVED,
            entered_at=placed_at,
            left_at=placed_at,
            via=Via.SYSTEM,
        )
    ]
    at = placed_at
    for stage, minutes, *who in stages:
        if minutes is None:
            visits.append(StageVisit(order=order, stage=stage, entered_at=at))
            break
        left = at + timedelta(minutes=minutes)
        visits.append(
            StageVisit(
                order=order,
                stage=stage,
                entered_at=at,
                left_at=left,
                via=Via.RULE if minutes == 0 else Via.MANUAL,
                actor=(who[0] if who else actor) if minutes else None,
            )
        )
        at = left
    StageVisit.objects.bulk_create(visits)
    Order.objects.filter(pk=order.pk).update(stage_entered_at=at)
    return order


# Tuesday 24 Nov 2026, 14:00-18:00 in Shanghai.
START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
END = START + timedelta(hours=4)
NOW = END + timedelta(hours=18)  # the next morning, 10:00 local


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def review_supervisor(db):
    return UserFactory(
        username="supervisor", password="supervisor-demo", groups=[teams.SUPERVISORS]
    )


@pytest.fixture
def travel():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def episode_world(db, review_supervisor, travel):
    supervisor = review_supervisor
    """Three orders in the window, two a week over the four weeks before, one older;
    a bypass, peak support, two breaker openings, audit events and the alarm."""
    warehouse = Group.objects.get(name=teams.WAREHOUSE)
    stage_configure(S.PICKING, owner_group=warehouse, wip_limit=30)
    shop = PartnerFactory(code="shop-a", name="Shop A")
    helper = UserFactory(username="helper")
    clerk = UserFactory(username="clerk", groups=[teams.WAREHOUSE])
    # History: one order 29 days back (so four whole weeks are covered)...
    order_with_timeline(
        placed_at=START - timedelta(days=29),
        stages=[(S.SALES_REVIEW, 10), (S.PICKING, 20)],
        actor=clerk,
    )
    # ... and two per baseline window (same hours, previous four Tuesdays).
    for week in range(1, 5):
        base = START - timedelta(weeks=week)
        for offset in (10, 80):
            order_with_timeline(
                placed_at=base + minutes(offset),
                stages=[(S.SALES_REVIEW, 10), (S.PICKING, 20)],
                actor=clerk,
            )
    # The episode's three orders.
    first = order_with_timeline(
        placed_at=START + minutes(10),
        stages=[
            (S.SALES_REVIEW, 10),
            (S.PICKING, 60, helper),
            (S.QUALITY_CHECK, 10),
        ],
        partner=shop,
        lane=Lane.FAST,
        actor=clerk,
    )
    second = order_with_timeline(
        placed_at=START + minutes(20),
        stages=[(S.SALES_REVIEW, 20), (S.PICKING, 100)],
        partner=shop,
        actor=clerk,
    )
    order_with_timeline(
        placed_at=START + minutes(70),
        stages=[(S.SALES_REVIEW, 30), (S.PICKING, None)],
        lane=Lane.WATCH,
        actor=clerk,
    )
    address = ExceptionType.objects.create(
        code="address_test",
        name_zh="改址",
        name_en="Address change",
        tag_zh="【改址】",
        tag_en="[Address]",
        team=warehouse,
        sla_minutes=60,
    )
    ExceptionCase.objects.create(
        order=second,
        type=address,
        team=warehouse,
        source="staff",
        opened_at=START + minutes(30),
        sla_due_at=START + minutes(90),
        closed_at=START + minutes(60),
    )
    # Urgent dispatch, on 15:00-16:00: used by the first order leaving QC at 15:30.
    switch, _ = BypassSwitch.objects.get_or_create(kind=SwitchKind.URGENT_DISPATCH)
    window = BypassWindow.objects.create(
        switch=switch,
        kind=SwitchKind.URGENT_DISPATCH,
        reason="printer down",
        opened_at=START + minutes(60),
        opened_by=supervisor,
        expires_at=START + minutes(300),
        closed_at=START + minutes(120),
        closed_by=supervisor,
        closed_how=BypassWindow.Closed.MANUAL,
    )
    use = BypassUse.objects.create(
        window=window, kind=window.kind, order=first, at=START + minutes(90)
    )
    Obligation.objects.create(
        order=first, use=use, created_at=use.at, due_at=use.at + timedelta(hours=4)
    )
    # The helper lent to the warehouse team 14:30-17:00.
    SurgeGrant.objects.create(
        user=helper,
        team=warehouse,
        until=START + minutes(180),
        reason="picking backlog",
        granted_by=supervisor,
        granted_at=START + minutes(30),
    )
    # Picking breaker: open 14:30-17:00 and again 17:10-17:40.
    for kind, at in (
        (BreakerEvent.Kind.TRIP, 30),
        (BreakerEvent.Kind.RESET, 180),
        (BreakerEvent.Kind.TRIP, 190),
        (BreakerEvent.Kind.RESET, 220),
    ):
        BreakerEvent.objects.create(
            stage=S.PICKING,
            kind=kind,
            at=START + minutes(at),
            backlog=50,
            threshold=50,
            pinned=10 if kind == BreakerEvent.Kind.TRIP else 0,
        )
    episode = AlarmEpisode.objects.create(
        kind=AlarmEpisode.Kind.ORDER_AGE,
        started_at=START,
        ended_at=END,
        first_count=3,
        peak_count=12,
    )
    audit_record(verb=order_events.ALARM_STARTED, subject=episode, at=START)
    audit_record(verb=order_events.ALARM_ENDED, subject=episode, at=END)
    audit_record(
        verb="bypass.on",
        actor=supervisor,
        subject=switch,
        reason="printer down",
        at=START + minutes(60),
    )
    # Outside the timeline's margin: not shown.
    audit_record(verb=order_events.BREAKER_TRIPPED, subject=episode, at=START - minutes(180))
    return {"episode": episode, "first": first, "second": second, "helper": helper}
