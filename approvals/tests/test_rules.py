"""Routing rules in the router: auto-passing with the rule and its version on the timeline,
versioned edits that never rewrite history, and the dry run that predicts them."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.demo import FINANCE_RULE, SALES_RULE
from approvals.models import RoutingRule, RoutingRuleVersion, RuleTarget
from approvals.services.rules import rule_apply_to_waiting, rule_dry_run, rule_save
from backoffice.audit.models import AuditEvent
from orders.models import StageVisit
from orders.services import order_complete_stage
from orders.states import OrderStatus, Via
from orders.tests.factories import CustomerFactory, ProductFactory, make_order

S = OrderStatus
pytestmark = pytest.mark.django_db


def seed_rule(**fields):
    values = {
        "name": "Amount < 5,000 and good credit: skip finance",
        "target": RuleTarget.FINANCE_REVIEW,
        "condition": FINANCE_RULE,
        "enabled": True,
    }
    values.update(fields)
    return rule_save(RoutingRule(**values), reason="test")


def visit(order, stage):
    return StageVisit.objects.get(order=order, stage=stage)


def priced(amount):
    return ProductFactory(list_price=Decimal(amount))


def test_an_eligible_order_passes_finance_review_by_the_rule(sales_clerk):
    rule = seed_rule()
    order = make_order(products=[priced("1200.00")])
    assert order.status == S.SALES_REVIEW
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.STOCK_RESERVATION
    passed = visit(order, S.FINANCE_REVIEW)
    assert passed.entered_at == passed.left_at  # a zero-length visit
    assert passed.via == Via.RULE and passed.actor is None
    assert passed.detail["rule_id"] == rule.pk and passed.detail["rule_version"] == 1
    assert rule.name in passed.reason


@pytest.mark.parametrize(
    ("amount", "rating"), [("5000.00", "good"), ("6200.00", "good"), ("100.00", "fair")]
)
def test_an_ineligible_order_waits_in_finance_review_for_a_person(sales_clerk, amount, rating):
    seed_rule()
    order = make_order(products=[priced(amount)], customer=CustomerFactory(credit_rating=rating))
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW
    assert visit(order, S.FINANCE_REVIEW).left_at is None


def test_with_the_demo_sales_rule_a_simple_order_reaches_stock_reservation_in_one_request():
    seed_rule()
    seed_rule(name="simple orders", target=RuleTarget.SALES_REVIEW, condition=SALES_RULE)
    order = make_order(products=[priced("300.00")], quantity=2)
    assert order.status == S.STOCK_RESERVATION
    stages = list(StageVisit.objects.filter(order=order).order_by("id").values_list("stage", "via"))
    assert stages == [
        (S.RECEIVED, Via.SYSTEM),
        (S.SALES_REVIEW, Via.RULE),
        (S.FINANCE_REVIEW, Via.RULE),
        (S.STOCK_RESERVATION, ""),
    ]


def test_a_disabled_rule_or_one_outside_its_window_passes_nothing(sales_clerk):
    rule = seed_rule(enabled=False)
    now = timezone.now()
    seed_rule(effective_from=now + timedelta(hours=1))
    seed_rule(effective_from=now - timedelta(hours=2), effective_until=now - timedelta(hours=1))
    order = make_order(products=[priced("100.00")])
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW
    rule.enabled = True
    rule_save(rule, reason="on")
    order = make_order(products=[priced("100.00")])
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.STOCK_RESERVATION


def test_priority_decides_which_rule_is_recorded(sales_clerk):
    seed_rule(name="second", priority=20)
    first = seed_rule(name="first", priority=5)
    order = make_order(products=[priced("100.00")])
    order_complete_stage(order, by=sales_clerk)
    assert visit(order, S.FINANCE_REVIEW).detail["rule_id"] == first.pk


def test_editing_a_rule_does_not_change_history(sales_clerk, supervisor):
    rule = seed_rule()
    early = make_order(products=[priced("4000.00")])
    order_complete_stage(early, by=sales_clerk)
    rule.condition = {"all": [{"fact": "amount", "op": "<", "value": 1000}]}
    rule_save(rule, by=supervisor, reason="tighter after the audit")
    assert rule.version == 2
    assert visit(early, S.FINANCE_REVIEW).detail["rule_version"] == 1
    v1 = RoutingRuleVersion.objects.get(rule=rule, version=1)
    v2 = RoutingRuleVersion.objects.get(rule=rule, version=2)
    assert v1.condition == FINANCE_RULE and v2.changed_by == supervisor
    assert v2.change_reason == "tighter after the audit"
    late = make_order(products=[priced("4000.00")])
    order_complete_stage(late, by=sales_clerk)
    assert late.status == S.FINANCE_REVIEW  # no longer eligible under v2
    small = make_order(products=[priced("500.00")])
    order_complete_stage(small, by=sales_clerk)
    assert visit(small, S.FINANCE_REVIEW).detail["rule_version"] == 2
    change = AuditEvent.objects.get(verb="rule.changed", subject_id=str(rule.pk))
    assert change.actor == supervisor and change.reason == "tighter after the audit"
    assert "condition" in change.payload["changes"]


def test_saving_without_a_change_writes_no_version():
    rule = seed_rule()
    rule_save(rule, reason="nothing")
    assert rule.version == 1 and rule.versions.count() == 1


@pytest.mark.parametrize(
    "condition",
    [{}, {"fact": "amount", "op": "<"}, {"all": [{"fact": "shoe_size", "op": "=", "value": 1}]}],
)
def test_an_invalid_tree_is_refused_on_save(condition):
    with pytest.raises(ValidationError) as error:
        seed_rule(condition=condition)
    assert "condition" in error.value.message_dict
    assert not RoutingRule.objects.exists()


def test_a_window_that_ends_before_it_starts_is_refused():
    now = timezone.now()
    with pytest.raises(ValidationError):
        seed_rule(effective_from=now, effective_until=now - timedelta(minutes=1))


def test_rules_read_the_price_deviation_and_the_coupon_type(sales_clerk):
    seed_rule(
        target=RuleTarget.FINANCE_REVIEW,
        condition={"fact": "price_deviation_pct", "op": "<=", "value": 5},
    )
    at_list = make_order(products=[priced("200.00")], unit_price=Decimal("200.00"))
    discounted = make_order(products=[priced("200.00")], unit_price=Decimal("180.00"))
    for order in (at_list, discounted):
        order_complete_stage(order, by=sales_clerk)
    assert at_list.status == S.STOCK_RESERVATION
    assert discounted.status == S.FINANCE_REVIEW  # 10% below list price


def test_dry_run_counts_saved_dwell_from_the_timeline(sales_clerk, finance_clerk):
    start = timezone.now() - timedelta(days=2)
    small, big = [], []
    with time_machine.travel(start, tick=False) as clock:
        for amount, bucket in (("100.00", small), ("200.00", small), ("9000.00", big)):
            order = make_order(products=[priced(amount)])
            order_complete_stage(order, by=sales_clerk)
            bucket.append(order)
        clock.shift(timedelta(minutes=47))
        for order in small + big:
            order_complete_stage(order, by=finance_clerk)
    result = rule_dry_run(target=RuleTarget.FINANCE_REVIEW, condition=FINANCE_RULE, days=7)
    assert (result.visits, result.matched, result.manual_matched) == (3, 2, 2)
    assert result.share == pytest.approx(2 / 3)
    assert result.saved_seconds_total == 2 * 47 * 60
    assert result.saved_seconds_median == 47 * 60
    assert {e["number"] for e in result.examples} == {o.number for o in small}
    old = rule_dry_run(target=RuleTarget.FINANCE_REVIEW, condition=FINANCE_RULE, days=1)
    assert old.visits == 0


amounts = st.sampled_from(["100.00", "2500.00", "4999.00", "5000.00", "8800.00"])
ratings = st.sampled_from(["good", "fair", "poor"])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orders=st.lists(st.tuples(amounts, ratings, st.integers(1, 5)), min_size=1, max_size=6))
def test_dry_run_numbers_equal_what_applying_the_rule_does(sales_clerk, orders):
    with transaction.atomic():
        waiting = []
        for amount, rating, quantity in orders:
            order = make_order(
                products=[priced(amount)],
                quantity=quantity,
                customer=CustomerFactory(credit_rating=rating),
            )
            order_complete_stage(order, by=sales_clerk)
            waiting.append(order)
        predicted = rule_dry_run(target=RuleTarget.FINANCE_REVIEW, condition=FINANCE_RULE)
        rule = seed_rule()
        moved = rule_apply_to_waiting(rule)
        assert predicted.waiting_now == len(waiting)
        assert moved == predicted.waiting_matched
        passed = StageVisit.objects.filter(
            stage=S.FINANCE_REVIEW, via=Via.RULE, detail__rule_id=rule.pk
        ).count()
        assert passed == predicted.matched
        transaction.set_rollback(True)


def test_a_rule_on_the_health_score_passes_scored_orders_only(sales_clerk):
    from orders.models import OrderHealth

    seed_rule(condition={"fact": "health_score", "op": ">=", "value": 80})
    scored, unscored = make_order(), make_order()
    OrderHealth.objects.filter(order=scored).update(score=86)
    OrderHealth.objects.filter(order=unscored).delete()
    for order in (scored, unscored):
        order_complete_stage(order, by=sales_clerk)
    assert scored.status == S.STOCK_RESERVATION
    assert unscored.status == S.FINANCE_REVIEW  # a missing score never passes a rule
