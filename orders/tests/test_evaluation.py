"""The card and the score in the order's life: at intake, in routing, on the order page
and in the API; with HTTP sources, the order waits in `received` for its card (at most
the budget) and is never lost when a source fails."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from werkzeug import Response

from orders.models import EvaluationCard, OrderHealth, PartStatus
from orders.services.evaluation import cards_maintain
from orders.states import Lane, OrderStatus
from orders.tasks import card_fetch_and_route as evaluation_task
from orders.tests.factories import CustomerFactory, ProductFactory, StockLevelFactory, make_order

S = OrderStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(warehouses):
    tea = ProductFactory(sku="TEA")
    StockLevelFactory(product=tea, warehouse=warehouses[0], on_hand=8)
    return tea


@pytest.fixture
def crm(server):
    return server


def test_intake_with_local_sources_cards_scores_and_routes_in_one_request(stocked):
    order = make_order(products=[stocked], customer=CustomerFactory(orders_completed=4))
    assert order.status == S.SALES_REVIEW
    card = EvaluationCard.objects.get(order=order)
    assert card.completed_at is not None
    assert {card.customer_status, card.inventory_status, card.fulfilment_status} == {PartStatus.OK}
    health = OrderHealth.objects.get(order=order)
    order.refresh_from_db()
    assert 0 <= health.score <= 100
    assert order.lane in (Lane.FAST, Lane.NORMAL, Lane.WATCH)


def test_the_order_page_and_the_api_show_the_card_and_the_score(client, supervisor, stocked):
    from orders.tests.api_helpers import partner_with_key

    partner, key = partner_with_key("shop")
    order = make_order(products=[stocked], customer=CustomerFactory(partner=partner))
    client.force_login(supervisor)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'id="evaluation-card"' in page and "Order health score" in page
    assert "TEA × 1" in page
    order.partner = partner
    order.save(update_fields=["partner"])
    answer = client.get(f"/api/v1/orders/{order.number}/", HTTP_X_API_KEY=key).json()
    assert answer["evaluation_card"]["inventory"]["status"] == "ok"
    assert answer["health"]["score"] == OrderHealth.objects.get(order=order).score
    assert set(answer["health"]["breakdown"]) >= {"customer_history", "payment_method"}


def _http_crm(settings, server, handler):
    server.clear()
    server.expect_request("/customer/customers/C-9").respond_with_handler(handler)
    settings.CONNECTOR_CUSTOMER = "http"
    settings.CONNECTOR_CUSTOMER_URL = server.url_for("/customer")


@pytest.fixture
def queued(monkeypatch):
    """The after-commit card tasks, held back: the test runs them (or not)."""
    from orders.services import evaluation

    held = []
    monkeypatch.setattr(evaluation, "_queue_fetch", held.append)
    return held


@pytest.mark.django_db(transaction=True)
def test_with_an_http_source_the_order_waits_for_its_card_then_moves_on(
    settings, crm, stocked, queued
):
    answer = {
        "credit_rating": "good",
        "tier": "gold",
        "credit_limit": "5000",
        "outstanding": "0",
        "orders_completed": 3,
    }
    _http_crm(
        settings,
        crm,
        lambda request: Response(json.dumps(answer), content_type="application/json"),
    )
    customer = CustomerFactory(ref="C-9")
    order = make_order(products=[stocked], customer=customer)
    order.refresh_from_db()
    assert order.status == S.RECEIVED  # accepted at once, held for its card
    assert queued == [order.pk]
    evaluation_task(order.pk)  # what django-q2 runs right after the commit
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW
    card = EvaluationCard.objects.get(order=order)
    assert card.customer_status == PartStatus.OK and card.customer["tier"] == "gold"
    assert OrderHealth.objects.filter(order=order).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_source_degrades_the_card_but_loses_no_order(
    settings, crm, stocked, django_capture_on_commit_callbacks
):
    _http_crm(settings, crm, lambda request: Response("boom", status=500))
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(products=[stocked], customer=CustomerFactory(ref="C-9"))
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW
    card = EvaluationCard.objects.get(order=order)
    assert card.customer_status == PartStatus.UNAVAILABLE and "500" in card.customer_error
    assert card.inventory_status == PartStatus.OK
    health = OrderHealth.objects.get(order=order)
    assert "payment_method" in health.missing or health.breakdown  # scored without it


@pytest.mark.django_db(transaction=True)
def test_an_order_whose_card_task_never_ran_is_routed_once_the_budget_passed(
    settings, crm, stocked, queued
):
    _http_crm(settings, crm, lambda request: Response("{}", status=503))
    order = make_order(products=[stocked], customer=CustomerFactory(ref="C-9"))
    order.refresh_from_db()
    assert order.status == S.RECEIVED and queued == [order.pk]
    assert cards_maintain()["routed"] == 0  # still within its budget
    with time_machine.travel(timedelta(seconds=5)):
        result = cards_maintain()
    order.refresh_from_db()
    assert result["routed"] == 1 and order.status == S.SALES_REVIEW


def test_a_payment_rescores_the_order(stocked, supervisor, django_capture_on_commit_callbacks):
    from decimal import Decimal

    from orders.services import order_record_payment
    from orders.states import PaymentMethod

    order = make_order(products=[stocked], payment_method=PaymentMethod.TRANSFER, paid=False)
    before = OrderHealth.objects.get(order=order).breakdown["payment_method"]["value"]
    with django_capture_on_commit_callbacks(execute=True):
        order_record_payment(order, amount=order.total_amount, by=supervisor)
    after = OrderHealth.objects.get(order=order).breakdown["payment_method"]["value"]
    assert before < after == 100
    assert Decimal(order.amount_paid) == order.total_amount


def test_the_intake_score_equals_what_the_rescoring_job_computes(stocked, warehouses):
    from orders.services.health import health_rescore_open
    from orders.states import PaymentMethod

    orders = [
        make_order(products=[stocked], payment_method=method, paid=paid, quantity=quantity)
        for method, paid, quantity in (
            (PaymentMethod.PREPAID, True, 1),
            (PaymentMethod.COD, False, 2),
            (PaymentMethod.TRANSFER, False, 3),
            (PaymentMethod.CREDIT, False, 1),
        )
    ]
    at_intake = {h.order_id: h.breakdown for h in OrderHealth.objects.filter(order__in=orders)}
    health_rescore_open()
    for health in OrderHealth.objects.filter(order__in=orders):
        for factor, item in health.breakdown.items():
            if factor == "time_slot_pressure":
                continue  # moves with the load between the two moments
            assert at_intake[health.order_id][factor]["value"] == item["value"], factor
