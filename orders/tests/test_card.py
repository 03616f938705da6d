"""Fetching the evaluation card: three sources at once, within the time budget.

Most tests let the worker threads read what the test wrote, so they commit
(`transaction=True`); one checks the fetch inside a transaction as well.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from werkzeug import Response

from orders.connectors.local import (
    LocalCustomerSource,
    LocalFulfilmentSource,
    LocalInventorySource,
)
from orders.models import ConnectorState, EvaluationCard, Order, PartStatus
from orders.services.card import card_fetch, card_last_good, card_refresh_unavailable
from orders.states import OrderStatus
from orders.tests.factories import (
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
    make_order,
)

committed = pytest.mark.django_db(transaction=True)

CRM_ANSWER = {
    "credit_rating": "good",
    "tier": "vip",
    "credit_limit": "20000",
    "outstanding": "0",
    "orders_completed": 30,
}
ERP_ANSWER = {"lines": [{"sku": "TEA", "warehouses": {"hz": 8}}]}
WMS_ANSWER = {"orders": 30, "paid_on_time_rate": 0.97, "received_on_time_rate": 0.9}


@pytest.fixture(autouse=True)
def fetch_threads_finish():
    """A source still running after the budget must not outlive its test."""
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("card-fetch"):
            thread.join(timeout=5)


def use_http(settings, server, *kinds):
    for kind in kinds:
        setattr(settings, f"CONNECTOR_{kind.upper()}", "http")
        setattr(settings, f"CONNECTOR_{kind.upper()}_URL", server.url_for(f"/{kind}"))


def answering(payload: dict, *, after: float = 0):
    def handler(request):
        time.sleep(after)
        return Response(json.dumps(payload), content_type="application/json")

    return handler


@pytest.fixture
def order():
    tea = ProductFactory(sku="TEA")
    StockLevelFactory(product=tea, warehouse=WarehouseFactory(code="hz"), on_hand=8)
    order = make_order(customer=CustomerFactory(ref="C-1", orders_completed=5), products=[tea])
    # Intake read a card already (local sources): these tests fetch from a clean slate.
    EvaluationCard.objects.filter(order=order).delete()
    ConnectorState.objects.all().delete()
    return order


@pytest.fixture
def fetch_threads(monkeypatch):
    """The name of the thread each local source ran in."""
    seen = {}
    for source in (LocalCustomerSource, LocalInventorySource, LocalFulfilmentSource):
        original = source.fetch

        def fetch(self, order, *, deadline=None, original=original):
            seen[self.kind] = threading.current_thread().name
            return original(self, order, deadline=deadline)

        monkeypatch.setattr(source, "fetch", fetch)
    return seen


def order_row(order) -> dict:
    return model_to_dict(Order.objects.get(pk=order.pk))


@committed
def test_card_from_the_three_local_sources_is_complete(order, fetch_threads):
    with CaptureQueriesContext(connection) as queries:
        card = card_fetch(order)

    card.refresh_from_db()
    assert card.is_complete
    for kind in ("customer", "inventory", "fulfilment"):
        _data, status, fetched_at, error = card.part(kind)
        assert (status, error) == (PartStatus.OK, "")
        assert fetched_at is not None
    assert card.customer["orders_completed"] == 5
    assert card.inventory["lines"][0]["warehouses"] == {"hz": 8}
    assert card.fulfilment == {
        "orders": 5,
        "paid_on_time_rate": None,
        "received_on_time_rate": None,
    }
    card_writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE")) and "evaluationcard" in q["sql"]
    ]
    assert len(card_writes) == 1
    # Off the calling thread (the pool may reuse one worker when a local source is
    # quick; that the three run at once is shown by the timing test below).
    assert all(name.startswith("card-fetch") for name in fetch_threads.values())


@pytest.mark.django_db
def test_card_fetch_inside_a_transaction_reads_local_sources_in_this_thread(order, fetch_threads):
    card = card_fetch(order)

    assert set(fetch_threads.values()) == {threading.current_thread().name}
    assert [card.part(kind)[1] for kind in ("customer", "inventory", "fulfilment")] == [
        PartStatus.OK
    ] * 3
    assert card.inventory["shortage"] is False


@committed
def test_failing_source_is_named_on_the_card_and_the_order_is_untouched(settings, server, order):
    use_http(settings, server, "inventory")
    server.expect_request("/inventory/stock", method="POST").respond_with_data(
        "ERP down", status=502
    )
    before = order_row(order)

    card = card_fetch(order)

    assert card.is_complete
    assert (card.inventory_status, card.inventory_error) == (PartStatus.UNAVAILABLE, "HTTP 502")
    assert card.inventory == {}
    assert (card.customer_status, card.fulfilment_status) == (PartStatus.OK, PartStatus.OK)
    assert order_row(order) == before
    assert ConnectorState.objects.get(kind="inventory").failures == 1


@committed
def test_unavailable_part_keeps_its_last_good_data(settings, server, order):
    first = card_fetch(order)
    use_http(settings, server, "inventory")
    server.expect_request("/inventory/stock", method="POST").respond_with_data("", status=500)

    card = card_fetch(order)

    assert card.pk == first.pk
    card.refresh_from_db()
    assert card.inventory_status == PartStatus.UNAVAILABLE
    assert card.inventory == first.inventory
    assert card.inventory_fetched_at == first.inventory_fetched_at
    assert card.customer_fetched_at > first.customer_fetched_at


@committed
def test_the_three_sources_are_fetched_concurrently(settings, server, order):
    use_http(settings, server, "customer", "inventory", "fulfilment")
    server.expect_request("/customer/customers/C-1").respond_with_handler(
        answering(CRM_ANSWER, after=0.3)
    )
    server.expect_request("/inventory/stock").respond_with_handler(answering(ERP_ANSWER, after=0.3))
    server.expect_request("/fulfilment/fulfilment/C-1").respond_with_handler(
        answering(WMS_ANSWER, after=0.3)
    )

    started = time.monotonic()
    card = card_fetch(order)
    elapsed = time.monotonic() - started

    assert elapsed < 0.65, f"took {elapsed:.3f} s: the sources ran one after another"
    assert [card.part(kind)[1] for kind in ("customer", "inventory", "fulfilment")] == [
        PartStatus.OK
    ] * 3
    assert card.customer["tier"] == "vip"
    assert card.fulfilment["paid_on_time_rate"] == 0.97


@committed
def test_source_slower_than_the_budget_leaves_its_part_unavailable(settings, server, order):
    use_http(settings, server, "fulfilment")
    server.expect_request("/fulfilment/fulfilment/C-1").respond_with_handler(
        answering(WMS_ANSWER, after=2)
    )

    started = time.monotonic()
    card = card_fetch(order, budget_ms=400)
    elapsed = time.monotonic() - started

    assert 0.35 < elapsed < 0.75
    assert card.is_complete
    assert card.fulfilment_status == PartStatus.UNAVAILABLE
    assert card.fulfilment_error.startswith("timed out after")
    assert (card.customer_status, card.inventory_status) == (PartStatus.OK, PartStatus.OK)


@committed
def test_open_circuit_is_not_called_and_says_so(settings, server, order):
    use_http(settings, server, "customer")
    ConnectorState.objects.create(
        kind="customer", failures=5, open_until=timezone.now() + timedelta(minutes=1)
    )

    card = card_fetch(order)

    assert (card.customer_status, card.customer_error) == (PartStatus.UNAVAILABLE, "circuit open")
    assert server.log == []
    assert ConnectorState.objects.get(kind="customer").failures == 5


@committed
def test_refresh_fetches_the_unavailable_parts_once_the_source_is_back(settings, server, order):
    use_http(settings, server, "customer")
    server.expect_request("/customer/customers/C-1").respond_with_data("", status=500)
    first = card_fetch(order)
    assert first.customer_status == PartStatus.UNAVAILABLE
    assert card_last_good("customer") is None

    server.clear()
    server.expect_request("/customer/customers/C-1").respond_with_json(CRM_ANSWER)
    assert card_refresh_unavailable() == 1

    card = EvaluationCard.objects.get(pk=first.pk)
    assert (card.customer_status, card.customer_error) == (PartStatus.OK, "")
    assert card.customer["tier"] == "vip"
    # Parts that were fine are not fetched again.
    assert card.inventory_fetched_at == first.inventory_fetched_at
    assert card.completed_at == first.completed_at
    assert card_last_good("customer") is not None
    assert card_refresh_unavailable() == 0


@committed
def test_refresh_leaves_closed_orders_and_open_circuits_alone(settings, server, order):
    use_http(settings, server, "customer")
    server.expect_request("/customer/customers/C-1").respond_with_data("", status=500)
    card_fetch(order)
    closed = make_order(customer=order.customer)
    card_fetch(closed)
    Order.objects.filter(pk=closed.pk).update(status=OrderStatus.CANCELLED)
    ConnectorState.objects.filter(kind="customer").update(
        open_until=timezone.now() + timedelta(minutes=1)
    )
    server.clear()

    assert card_refresh_unavailable() == 0
    assert server.log == []
