"""The health score's admin: weights versions, the watch queue, a score's breakdown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from orders.models import Order, OrderHealth, ScoreWeights
from orders.services.health import (
    HEALTH_WEIGHTS_CHANGED,
    TimeSlotPressure,
    health_score_order,
    weights_current,
)
from orders.states import Lane, OrderStatus, PaymentMethod
from orders.tests.factories import make_order
from orders.tests.test_health import CREDIT_OK, GOOD_HISTORY, ONE_WAREHOUSE, card_for

pytestmark = pytest.mark.django_db

QUIET = TimeSlotPressure(open_orders=1, normal=100)
ADD_URL = "admin:orders_scoreweights_add"
WEIGHTS = {
    "customer_history": 30,
    "complexity": 25,
    "payment_method": 20,
    "inventory_match": 15,
    "time_slot_pressure": 10,
    "fast_lane_min": 80,
    "watch_below": 50,
}
SHORT = {"transfer_needed": True, "shortage": True}


def history(paid: float, received: float) -> dict:
    return {"orders": 5, "paid_on_time_rate": paid, "received_on_time_rate": received}


def test_weights_summing_to_other_than_100_are_a_form_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(ADD_URL), {**WEIGHTS, "customer_history": 35, "reason": "try"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("add up to 100 (they add up to 105)" in e for e in errors)
    assert not ScoreWeights.objects.filter(reason="try").exists()


def test_bands_out_of_order_are_a_form_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(ADD_URL), {**WEIGHTS, "watch_below": 90, "reason": "try"})
    assert response.status_code == 200
    assert "watch_below" in response.context["adminform"].form.errors


def test_a_new_version_is_saved_audited_and_listed_as_history(
    client, admin_user, django_capture_on_commit_callbacks
):
    order = make_order(payment_method=PaymentMethod.COD, paid=False)
    card_for(order, customer=CREDIT_OK, inventory=ONE_WAREHOUSE, fulfilment=GOOD_HISTORY)
    health_score_order(order, pressure=QUIET)
    assert Order.objects.get(pk=order.pk).lane == Lane.FAST  # 82
    client.force_login(admin_user)
    form = client.get(reverse(ADD_URL))
    assert form.context["adminform"].form.initial["customer_history"] == 30

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(ADD_URL),
            {**WEIGHTS, "payment_method": 40, "customer_history": 10, "reason": "COD season"},
        )

    assert response.status_code == 302
    current = weights_current()
    assert (current.payment_method, current.reason, current.created_by) == (
        40,
        "COD season",
        admin_user,
    )
    assert AuditEvent.objects.filter(verb=HEALTH_WEIGHTS_CHANGED, actor=admin_user).exists()
    # rescored: 80x10 + 100x25 + 40x40 + 100x15 + 100x10 = 7400 -> 74
    assert OrderHealth.objects.get(order=order).score == 74
    assert Order.objects.get(pk=order.pk).lane == Lane.NORMAL

    history = client.get(reverse("admin:orders_scoreweights_changelist"))
    html = history.content.decode()
    assert history.status_code == 200
    assert "COD season" in html and "Defaults" in html
    assert html.count('alt="True"') == 1  # only the newest is in force
    change = client.get(reverse("admin:orders_scoreweights_change", args=[current.pk]))
    assert change.status_code == 200
    assert 'name="customer_history"' not in change.content.decode()  # read-only


def test_the_watch_queue_lists_low_scores_with_worst_factors_and_missing_inputs(client, admin_user):
    risky = make_order(payment_method=PaymentMethod.COD, paid=False, notes="call first")
    card_for(risky, inventory=SHORT, fulfilment=history(0.1, 0.3))
    fine = make_order()
    card_for(fine, customer=CREDIT_OK, inventory=ONE_WAREHOUSE, fulfilment=GOOD_HISTORY)
    dispatched = make_order(payment_method=PaymentMethod.COD, paid=False)
    for order in (risky, fine, dispatched):
        health_score_order(order, pressure=QUIET)
    Order.objects.filter(pk=dispatched.pk).update(status=OrderStatus.DISPATCHED, lane=Lane.WATCH)
    # risky: history 20, complexity 90 (notes), cod 40, shortage 0, pressure 100
    # (20x30 + 90x25 + 40x20 + 0x15 + 100x10) / 100 = 46.5 -> 47: watch
    assert (OrderHealth.objects.get(order=risky).score, risky.lane) == (47, Lane.WATCH)
    assert fine.lane == Lane.FAST

    client.force_login(admin_user)
    response = client.get(reverse("admin:orders_orderhealth_watch_queue"), follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert risky.number in html
    assert fine.number not in html
    assert dispatched.number not in html


def test_the_watch_queue_shows_why(client, admin_user):
    order = make_order(payment_method=PaymentMethod.COD, paid=False, notes="call first")
    card_for(order, inventory=SHORT, fulfilment=history(0.1, 0.1))
    health = health_score_order(order, pressure=QUIET)
    # (10x30 + 90x25 + 40x20 + 0x15 + 100x10) / 100 = 4350 / 100 -> 44; customer part
    # unavailable does not matter for cash on delivery
    assert health.score == 44
    assert order.lane == Lane.WATCH

    client.force_login(admin_user)
    response = client.get(reverse("admin:orders_orderhealth_changelist") + "?queue=watch")
    html = response.content.decode()
    assert order.number in html
    assert "inventory match 0" in html and "customer history 10" in html
    assert reverse("admin:orders_order_change", args=[order.pk]) in html


def test_missing_inputs_are_shown_in_the_queue(client, admin_user):
    order = make_order(payment_method=PaymentMethod.CREDIT, paid=False, notes="n")
    card_for(order, inventory=SHORT)
    health = health_score_order(order, pressure=QUIET)
    assert health.missing == ["customer_history", "payment_method"]
    client.force_login(admin_user)
    html = client.get(reverse("admin:orders_orderhealth_changelist")).content.decode()
    assert "customer history (fulfilment)" in html
    assert "payment method (customer.headroom)" in html


def test_the_breakdown_is_readable_on_the_score_page(client, admin_user):
    order = make_order(payment_method=PaymentMethod.CREDIT, paid=False)
    card_for(order, inventory={"transfer_needed": True, "shortage": False}, fulfilment=GOOD_HISTORY)
    health = health_score_order(order, pressure=QUIET)
    client.force_login(admin_user)
    response = client.get(reverse("admin:orders_orderhealth_change", args=[health.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="health-breakdown"' in html
    # history 80 x 30 / 80 present weight = 30.0 points; payment missing
    assert "<td>customer history</td><td>80</td><td>30</td><td>30.0</td>" in html
    assert "<td>payment method</td><td>missing</td><td>20</td><td>–</td>" in html
    assert "paid_on_time_rate=0.9" in html
    assert "customer.headroom" in html
