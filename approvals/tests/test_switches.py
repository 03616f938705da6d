"""Emergency bypass switches: switching on and off (validated, permitted, audited),
automatic expiry, and the system coupon check bypass in sales review."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals import events
from approvals.models import BypassSwitch, BypassUse, BypassWindow, RoutingRule, RuleTarget
from approvals.services.rules import rule_save
from approvals.services.switches import (
    bypass_active_window,
    bypass_switch_off,
    bypass_switch_on,
    bypass_waiver,
    bypasses_expire,
)
from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import events as order_events
from orders.services import (
    ActionForbidden,
    InvalidOrderInput,
    TransitionRefused,
    order_complete_stage,
)
from orders.states import OrderStatus, Via
from orders.tests.factories import CouponFactory, CustomerFactory, make_order

S = OrderStatus
pytestmark = pytest.mark.django_db

COUPON = "coupon_check"
URGENT = "urgent_dispatch"


def switch_on(kind, by, **kwargs):
    kwargs.setdefault("reason", "coupon desk short-staffed on Double 11")
    return bypass_switch_on(kind, by=by, **kwargs)


def audit(verb):
    return AuditEvent.objects.filter(verb=verb).order_by("id")


# --- Switching on and off ---------------------------------------------------------


def test_switching_on_opens_a_window_audited_with_who_and_why(supervisor):
    window = switch_on(COUPON, supervisor, hours=2)
    switch = BypassSwitch.objects.get(kind=COUPON)
    assert switch.current_window == window
    assert window.opened_by == supervisor and window.closed_at is None
    assert window.expires_at - window.opened_at == timedelta(hours=2)
    (event,) = audit(events.BYPASS_ON)
    assert (event.actor, event.reason) == (supervisor, "coupon desk short-staffed on Double 11")
    assert event.subject_id == str(switch.pk)
    assert event.payload["window_id"] == window.pk and event.payload["expires_at"]
    assert event.payload["scope"] == {}
    assert Notification.objects.filter(recipient=supervisor, text__contains="Double 11").exists()
    assert bypass_active_window(COUPON) == window


def test_the_default_is_four_hours(supervisor):
    window = switch_on(URGENT, supervisor)
    assert window.expires_at - window.opened_at == timedelta(hours=4)


@pytest.mark.parametrize("hours", [25, 24.5, 0, -1, "many"])
def test_switching_on_refuses_more_than_24_hours_or_none(supervisor, hours):
    with pytest.raises(InvalidOrderInput) as exc:
        switch_on(COUPON, supervisor, hours=hours)
    assert "24 hours" in str(exc.value)
    assert not BypassWindow.objects.exists() and not audit(events.BYPASS_ON).exists()


def test_switching_on_needs_a_reason(supervisor):
    with pytest.raises(InvalidOrderInput):
        switch_on(COUPON, supervisor, reason="   ")
    assert not BypassWindow.objects.exists()


def test_only_people_allowed_to_operate_bypasses_switch_them(sales_clerk, supervisor):
    with pytest.raises(ActionForbidden):
        switch_on(COUPON, sales_clerk)
    switch_on(COUPON, supervisor)
    with pytest.raises(ActionForbidden):
        bypass_switch_off(COUPON, by=sales_clerk, reason="done")
    assert bypass_active_window(COUPON) is not None


def test_a_scope_must_be_a_valid_condition(supervisor):
    with pytest.raises(InvalidOrderInput) as exc:
        switch_on(COUPON, supervisor, scope={"fact": "colour", "op": "=", "value": "red"})
    assert "unknown fact" in str(exc.value)
    assert not BypassWindow.objects.exists()


def test_switching_on_again_replaces_the_window(supervisor):
    first = switch_on(COUPON, supervisor, hours=1)
    second = switch_on(COUPON, supervisor, hours=8, reason="longer")
    first.refresh_from_db()
    assert (first.closed_how, first.close_reason, first.closed_by) == (
        BypassWindow.Closed.MANUAL,
        "replaced",
        supervisor,
    )
    assert bypass_active_window(COUPON) == second
    assert audit(events.BYPASS_ON).last().payload["replaced_window_id"] == first.pk


def test_switching_off_closes_the_window_audited(supervisor):
    window = switch_on(COUPON, supervisor)
    bypass_switch_off(COUPON, by=supervisor, reason="desk staffed again")
    window.refresh_from_db()
    assert window.closed_how == BypassWindow.Closed.MANUAL and window.closed_by == supervisor
    assert window.close_reason == "desk staffed again"
    assert BypassSwitch.objects.get(kind=COUPON).current_window is None
    assert bypass_active_window(COUPON) is None
    (event,) = audit(events.BYPASS_OFF)
    assert (event.actor, event.reason, event.payload["window_id"]) == (
        supervisor,
        "desk staffed again",
        window.pk,
    )
    with pytest.raises(InvalidOrderInput):
        bypass_switch_off(COUPON, by=supervisor, reason="again")
    with pytest.raises(InvalidOrderInput):
        bypass_switch_off(COUPON, by=supervisor, reason="")


# --- Expiry --------------------------------------------------------------------------


def test_an_expired_switch_never_applies_and_the_schedule_closes_it_once(supervisor):
    start = timezone.now()
    coupon = CouponFactory()
    with time_machine.travel(start, tick=False):
        window = switch_on(COUPON, supervisor, hours=1)
        order = make_order(coupon=coupon)
        assert bypass_waiver(order, "coupon") is not None
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert bypass_active_window(COUPON) is None  # before the schedule ran
        assert bypass_waiver(order, "coupon") is None
        assert bypasses_expire() == 1
        assert bypasses_expire() == 0  # idempotent
    window.refresh_from_db()
    assert window.closed_how == BypassWindow.Closed.EXPIRED and window.closed_by is None
    assert window.closed_at == window.expires_at
    assert BypassSwitch.objects.get(kind=COUPON).current_window is None
    (event,) = audit(events.BYPASS_EXPIRED)
    assert event.actor is None and event.payload["window_id"] == window.pk


def test_switching_off_an_expired_window_records_the_expiry(supervisor):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        window = switch_on(COUPON, supervisor, hours=1)
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        closed = bypass_switch_off(COUPON, by=supervisor, reason="forgot it")
    assert closed.closed_how == BypassWindow.Closed.EXPIRED
    assert closed.closed_at == window.expires_at
    assert audit(events.BYPASS_EXPIRED).count() == 1 and not audit(events.BYPASS_OFF).exists()


# --- Cost while off ---------------------------------------------------------------


def test_the_waiver_costs_one_query_while_the_switch_is_off(django_assert_num_queries):
    order = make_order(coupon=CouponFactory())
    with django_assert_num_queries(1):
        assert bypass_waiver(order, "coupon") is None
    with django_assert_num_queries(1):
        assert bypass_waiver(order, "qc_photo") is None
    plain = make_order()
    with django_assert_num_queries(0):
        assert bypass_waiver(plain, "coupon") is None


# --- The system coupon check ---------------------------------------------------------


def test_an_eligible_regular_coupon_passes_sales_review_without_a_person_verifying(
    supervisor, sales_clerk
):
    window = switch_on(COUPON, supervisor)
    order = make_order(coupon=CouponFactory())
    assert not order.coupon_check_done()
    order_complete_stage(order, by=sales_clerk)
    order.refresh_from_db()
    assert order.status == S.FINANCE_REVIEW
    assert order.coupon_verified_via == Via.BYPASS and order.coupon_verified_at is not None
    use = BypassUse.objects.get(order=order)
    assert (use.kind, use.window, use.by) == (COUPON, window, None)
    window.refresh_from_db()
    assert window.uses == 1
    check = AuditEvent.objects.get(verb=order_events.ORDER_COUPON_VERIFIED, subject_id=order.pk)
    assert check.payload["via"] == Via.BYPASS
    assert check.payload["detail"]["window_id"] == window.pk
    used = AuditEvent.objects.get(verb=events.BYPASS_USED, subject_id=order.pk)
    assert used.payload["kind"] == COUPON and used.payload["window_id"] == window.pk


def test_with_a_sales_rule_the_coupon_bypass_lets_the_order_pass_automatically(supervisor):
    rule_save(
        RoutingRule(
            name="small orders",
            target=RuleTarget.SALES_REVIEW,
            condition={"all": [{"fact": "item_count", "op": "<=", "value": 3}]},
            enabled=True,
        ),
        reason="test",
    )
    switch_on(COUPON, supervisor)
    order = make_order(coupon=CouponFactory())
    assert order.status == S.FINANCE_REVIEW
    order.refresh_from_db()
    assert order.coupon_verified_via == Via.BYPASS
    assert BypassUse.objects.filter(order=order).count() == 1


def _refused(order, sales_clerk):
    with pytest.raises(TransitionRefused) as exc:
        order_complete_stage(order, by=sales_clerk)
    assert "coupon" in str(exc.value).lower()
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW and order.coupon_verified_at is None
    assert not BypassUse.objects.exists()


def test_a_limited_quantity_coupon_is_still_checked_by_staff(supervisor, sales_clerk):
    switch_on(COUPON, supervisor)
    order = make_order(coupon=CouponFactory(is_limited_quantity=True, quantity_total=100))
    _refused(order, sales_clerk)


def test_a_coupon_outside_its_campaign_is_not_waived(supervisor, sales_clerk):
    switch_on(COUPON, supervisor)
    now = timezone.now()
    coupon = CouponFactory(
        campaign_starts_at=now - timedelta(days=10), campaign_ends_at=now - timedelta(days=5)
    )
    _refused(make_order(coupon=coupon), sales_clerk)


def test_a_coupon_the_customer_may_not_use_is_not_waived(supervisor, sales_clerk):
    switch_on(COUPON, supervisor)
    coupon = CouponFactory(new_customers_only=True)
    _refused(make_order(coupon=coupon, customer=CustomerFactory(orders_completed=5)), sales_clerk)


def test_an_order_outside_the_scope_is_not_waived(supervisor, sales_clerk):
    switch_on(COUPON, supervisor, scope={"fact": "amount", "op": "<", "value": 10})
    _refused(make_order(coupon=CouponFactory()), sales_clerk)


def test_an_order_inside_the_scope_is_waived(supervisor, sales_clerk):
    switch_on(COUPON, supervisor, scope={"fact": "amount", "op": "<", "value": 100000})
    order = make_order(coupon=CouponFactory())
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW


def test_the_coupon_bypass_does_not_touch_the_urgent_dispatch_switch(supervisor):
    switch_on(COUPON, supervisor)
    assert bypass_active_window(URGENT) is None
    assert bypass_waiver(make_order(), "qc_photo") is None
