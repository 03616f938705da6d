"""Suggestions fire on constructed evidence, and not on a quiet day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from backoffice.audit.services import audit_record
from exceptions.models import ExceptionCase, ExceptionType
from orders import teams
from orders.models import BreakerEvent, Customer
from orders.states import OrderStatus
from orders.tests.factories import CustomerFactory, UserFactory, stage_configure
from reports.review.suggestions import suggestions_derive
from reports.tests.factories import END, NOW, START, minutes, order_with_timeline

S = OrderStatus
pytestmark = pytest.mark.django_db


def derive():
    return suggestions_derive(start=START, end=END, now=NOW)


def codes():
    return [s["code"] for s in derive()]


@pytest.fixture
def picker(db):
    return UserFactory(username="picker", groups=[teams.WAREHOUSE])


def finance_orders(*, small_good: list[int], large: list[int]):
    good = CustomerFactory(credit_rating=Customer.CreditRating.GOOD)
    for index, dwell in enumerate(small_good):
        order_with_timeline(
            placed_at=START + minutes(5 + index),
            stages=[(S.FINANCE_REVIEW, dwell)],
            customer=good,
            total=Decimal("1000.00"),
        )
    for index, dwell in enumerate(large):
        order_with_timeline(
            placed_at=START + minutes(30 + index),
            stages=[(S.FINANCE_REVIEW, dwell)],
            customer=good,
            total=Decimal("8000.00"),
        )


def test_a_rule_is_suggested_when_manual_finance_reviews_met_the_seed_condition():
    finance_orders(small_good=[30, 40, 50, 60], large=[20, 25])
    (found,) = derive()
    assert found["code"] == "rule"
    params = found["params"]
    assert params["stage"] == S.FINANCE_REVIEW
    assert (params["visits"], params["matched"], params["share"]) == (6, 4, 66.7)
    assert (params["median_saved_min"], params["total_saved_h"]) == (45.0, 3.0)
    assert params["rule_enabled_now"] is False
    assert found["minutes"] == 45.0


def test_no_rule_when_few_orders_met_it_or_they_already_passed_automatically():
    finance_orders(small_good=[30], large=[20, 25, 30, 35, 40])  # 1 of 6: below 25 %
    assert codes() == []
    finance_orders(small_good=[0, 0, 0, 0, 0, 0], large=[])  # passed by the rule
    assert codes() == []


def stalled_picking(picker, *, active: bool):
    stage_configure(S.PICKING, owner_group=Group.objects.get(name=teams.WAREHOUSE))
    order_with_timeline(placed_at=START, stages=[(S.PICKING, 10)], actor=picker)
    for index in range(3):
        order_with_timeline(
            placed_at=START + minutes(1 + index),
            stages=[(S.PICKING, 69 - index)],
            actor=picker,
        )
    if active:
        audit_record(verb="order.claimed", actor=picker, at=START + minutes(30))


def test_a_stage_without_exits_while_staffed_is_a_printer_or_template_problem(picker):
    stalled_picking(picker, active=True)
    (found,) = derive()
    assert found["code"] == "no_exits"
    assert found["params"]["stage"] == S.PICKING
    assert (found["params"]["gap_min"], found["params"]["waiting"]) == (60.0, 3)
    assert found["params"]["from"] == (START + minutes(10)).isoformat()
    assert found["params"]["until"] == (START + minutes(70)).isoformat()
    assert found["params"]["active_people"] == 1


def test_a_stage_without_exits_and_nobody_active_is_not_blamed_on_the_system(picker):
    stalled_picking(picker, active=False)
    assert codes() == []


def exception_cases(taken: list[int]):
    team = Group.objects.get(name=teams.SALES)
    kind = ExceptionType.objects.create(
        code="address_test",
        name_zh="改址",
        name_en="Address change",
        tag_zh="【改址】",
        tag_en="[Address]",
        team=team,
        sla_minutes=60,
    )
    for index, took in enumerate(taken):
        order = order_with_timeline(placed_at=START, stages=[(S.SALES_REVIEW, 5)])
        opened = START + minutes(10 + index)
        ExceptionCase.objects.create(
            order=order,
            type=kind,
            team=team,
            source="staff",
            opened_at=opened,
            sla_due_at=opened + minutes(60),
            closed_at=opened + minutes(took),
        )


def test_exception_cases_far_over_their_sla_ask_for_staff_for_that_team():
    exception_cases([180, 200, 150])
    (found,) = derive()
    assert found["code"] == "exception_sla"
    params = found["params"]
    assert (params["type"], params["team"], params["cases"], params["over_sla"]) == (
        "address_test",
        teams.SALES,
        3,
        3,
    )
    assert (params["median_taken_min"], params["sla_min"], params["ratio"]) == (180.0, 60, 3.0)
    assert found["minutes"] == 120.0


def test_exception_cases_within_their_sla_suggest_nothing():
    exception_cases([30, 50, 70])
    assert codes() == []


def trips(*at_minutes):
    for at in at_minutes:
        for kind, offset in ((BreakerEvent.Kind.TRIP, 0), (BreakerEvent.Kind.RESET, 20)):
            BreakerEvent.objects.create(
                stage=S.PICKING,
                kind=kind,
                at=START + minutes(at + offset),
                backlog=50,
                threshold=50,
            )


def test_a_breaker_tripping_often_asks_for_capacity():
    trips(10, 100)
    (found,) = derive()
    assert found["code"] == "breaker"
    assert (found["params"]["trips"], found["params"]["open_min"]) == (2, 40.0)


def test_one_trip_in_a_quiet_week_is_not_a_pattern():
    trips(10)
    assert codes() == []


def test_a_quiet_day_suggests_nothing(picker):
    """Rules pass the reviews, picking flows every ten minutes, cases within their SLA,
    no breaker trips."""
    stage_configure(S.PICKING, owner_group=Group.objects.get(name=teams.WAREHOUSE))
    for index in range(24):
        order_with_timeline(
            placed_at=START + minutes(10 * index),
            stages=[
                (S.SALES_REVIEW, 0),
                (S.FINANCE_REVIEW, 0),
                (S.STOCK_RESERVATION, 8),
                (S.PICKING, 15),
                (S.QUALITY_CHECK, 6),
            ],
            actor=picker,
        )
    audit_record(verb="order.claimed", actor=picker, at=START + timedelta(hours=2))
    exception_cases([30, 40, 50])
    assert derive() == []
