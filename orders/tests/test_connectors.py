"""The evaluation card's sources: local tables, real HTTP systems, the breaker.

The HTTP sources talk to a real local server (pytest-httpserver, threaded so that a
slow answer does not hold up the next request).
"""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from werkzeug import Response

from orders.connectors import SourceError, connector_for, source_fetch
from orders.connectors.base import inventory_summary
from orders.connectors.breaker import breaker_allow
from orders.connectors.http import HttpCustomerSource, HttpInventorySource
from orders.connectors.local import (
    LocalCustomerSource,
    LocalFulfilmentSource,
    LocalInventorySource,
)
from orders.models import ConnectorState, Order
from orders.states import OrderStatus, PaymentMethod
from orders.tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
    make_order,
)

pytestmark = pytest.mark.django_db

CRM_ANSWER = {
    "credit_rating": "good",
    "tier": "gold",
    "credit_limit": "5000.00",
    "outstanding": "1000.50",
    "orders_completed": 12,
}


@pytest.fixture
def http_sources(settings, server):
    """All three parts from the HTTP server, each with its own token."""
    for kind, prefix in (("CUSTOMER", "/crm"), ("INVENTORY", "/erp"), ("FULFILMENT", "/wms")):
        setattr(settings, f"CONNECTOR_{kind}", "http")
        setattr(settings, f"CONNECTOR_{kind}_URL", server.url_for(prefix))
        setattr(settings, f"CONNECTOR_{kind}_TOKEN", f"{kind.lower()}-token")
    settings.CONNECTOR_TIMEOUT_MS = 300
    settings.CONNECTOR_RETRIES = 1
    return server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slow(seconds: float, payload: dict):
    def handler(request):
        time.sleep(seconds)
        return Response(json.dumps(payload), content_type="application/json")

    return handler


# --- Local sources -------------------------------------------------------------


@pytest.fixture
def hz_sh():
    return (
        WarehouseFactory(code="hz", name="Hangzhou", priority=1),
        WarehouseFactory(code="sh", name="Shanghai", priority=2),
    )


def stock(product, warehouse, on_hand, reserved=0):
    StockLevelFactory(product=product, warehouse=warehouse, on_hand=on_hand, reserved=reserved)


def test_local_customer_counts_accepted_credit_orders_in_exposure():
    customer = CustomerFactory(credit_limit=Decimal("1000.00"), tier="gold", orders_completed=4)
    product = ProductFactory(list_price=Decimal("199.00"))
    earlier = make_order(
        customer=customer,
        products=[product],
        quantity=2,
        payment_method=PaymentMethod.CREDIT,
        paid=False,
    )
    Order.objects.filter(pk=earlier.pk).update(status=OrderStatus.PICKING)
    order = make_order(
        customer=customer, products=[product], payment_method=PaymentMethod.CREDIT, paid=False
    )

    part = LocalCustomerSource().fetch(order)

    assert part == {
        "credit_rating": "good",
        "tier": "gold",
        "credit_limit": "1000.00",
        "exposure": "597.00",  # 398 accepted and unpaid + 199 for this order
        "headroom": "403.00",
        "returning": True,
        "orders_completed": 4,
    }


def test_local_customer_headroom_goes_negative_over_the_limit():
    customer = CustomerFactory(credit_limit=Decimal("100.00"), orders_completed=0)
    order = make_order(
        customer=customer,
        products=[ProductFactory(list_price=Decimal("199.00"))],
        payment_method=PaymentMethod.CREDIT,
        paid=False,
    )

    part = LocalCustomerSource().fetch(order)

    assert (part["exposure"], part["headroom"], part["returning"]) == ("199.00", "-99.00", False)


def test_local_stock_served_by_one_warehouse(hz_sh, django_assert_max_num_queries):
    hz, sh = hz_sh
    tea, cup = ProductFactory(sku="TEA"), ProductFactory(sku="CUP")
    stock(tea, hz, 5, reserved=2)
    stock(tea, sh, 0)
    stock(cup, hz, 4)
    order = make_order(products=[tea, cup], quantity=2)
    order = Order.objects.prefetch_related("lines").get(pk=order.pk)

    with django_assert_max_num_queries(1):
        part = LocalInventorySource().fetch(order)

    assert part == {
        "lines": [
            {
                "sku": "TEA",
                "quantity": 2,
                "warehouses": {"hz": 3, "sh": 0},
                "single_warehouse": True,
                "short": 0,
            },
            {
                "sku": "CUP",
                "quantity": 2,
                "warehouses": {"hz": 4},
                "single_warehouse": True,
                "short": 0,
            },
        ],
        "transfer_needed": False,
        "shortage": False,
    }


def test_local_stock_needs_a_transfer_when_no_warehouse_has_every_line(hz_sh):
    hz, sh = hz_sh
    tea, cup = ProductFactory(sku="TEA"), ProductFactory(sku="CUP")
    stock(tea, hz, 5)
    stock(cup, sh, 5)

    part = LocalInventorySource().fetch(make_order(products=[tea, cup]))

    assert [line["single_warehouse"] for line in part["lines"]] == [True, True]
    assert (part["transfer_needed"], part["shortage"]) == (True, False)


def test_local_stock_line_split_across_warehouses_needs_a_transfer(hz_sh):
    hz, sh = hz_sh
    tea = ProductFactory(sku="TEA")
    stock(tea, hz, 2)
    stock(tea, sh, 2)

    part = LocalInventorySource().fetch(make_order(products=[tea], quantity=3))

    assert part["lines"][0]["single_warehouse"] is False
    assert part["lines"][0]["short"] == 0
    assert (part["transfer_needed"], part["shortage"]) == (True, False)


def test_local_stock_shortage_when_all_warehouses_together_lack_units(hz_sh):
    hz, sh = hz_sh
    tea = ProductFactory(sku="TEA")
    stock(tea, hz, 1)
    stock(tea, sh, 1)
    inactive = WarehouseFactory(code="old", is_active=False)
    stock(tea, inactive, 50)

    part = LocalInventorySource().fetch(make_order(products=[tea], quantity=3))

    assert part["lines"][0]["warehouses"] == {"hz": 1, "sh": 1}
    assert part["lines"][0]["short"] == 1
    assert (part["transfer_needed"], part["shortage"]) == (False, True)


def test_same_sku_on_two_lines_is_added_up_for_the_order():
    part = inventory_summary([("TEA", 2), ("TEA", 2)], {"TEA": {"hz": 3, "sh": 3}})

    assert [line["single_warehouse"] for line in part["lines"]] == [True, True]
    assert (part["transfer_needed"], part["shortage"]) == (True, False)


def test_local_fulfilment_keeps_missing_rates_missing():
    unknown = CustomerFactory(orders_completed=0)
    known = CustomerFactory(
        orders_completed=9,
        on_time_payment_rate=Decimal("0.950"),
        on_time_receipt_rate=Decimal("0.875"),
    )

    assert LocalFulfilmentSource().fetch(make_order(customer=unknown)) == {
        "orders": 0,
        "paid_on_time_rate": None,
        "received_on_time_rate": None,
    }
    assert LocalFulfilmentSource().fetch(make_order(customer=known)) == {
        "orders": 9,
        "paid_on_time_rate": 0.95,
        "received_on_time_rate": 0.875,
    }


def test_connectors_follow_the_settings(settings, server):
    assert isinstance(connector_for("customer"), LocalCustomerSource)
    settings.CONNECTOR_CUSTOMER = "http"
    settings.CONNECTOR_CUSTOMER_URL = server.url_for("/crm")
    settings.CONNECTOR_INVENTORY = "http"
    settings.CONNECTOR_INVENTORY_URL = server.url_for("/erp")

    assert isinstance(connector_for("customer"), HttpCustomerSource)
    assert isinstance(connector_for("inventory"), HttpInventorySource)
    assert connector_for("customer") is connector_for("customer")
    assert isinstance(connector_for("fulfilment"), LocalFulfilmentSource)


# --- HTTP sources ----------------------------------------------------------------


def test_http_customer_answer_sends_the_token_and_becomes_the_part(http_sources):
    customer = CustomerFactory(ref="C-42")
    order = make_order(
        customer=customer,
        products=[ProductFactory(list_price=Decimal("199.00"))],
        payment_method=PaymentMethod.CREDIT,
        paid=False,
    )
    http_sources.expect_request(
        "/crm/customers/C-42",
        method="GET",
        headers={"Authorization": "Bearer customer-token", "Accept": "application/json"},
    ).respond_with_json(CRM_ANSWER)

    part = connector_for("customer").fetch(order)

    assert part == {
        "credit_rating": "good",
        "tier": "gold",
        "credit_limit": "5000.00",
        "exposure": "1199.50",  # 1000.50 outstanding + 199 due on this order
        "headroom": "3800.50",
        "returning": True,
        "orders_completed": 12,
    }
    http_sources.check_assertions()


def test_http_customer_of_a_partner_is_looked_up_with_the_partner(http_sources):
    customer = CustomerFactory(ref="A 1", partner=PartnerFactory(code="acme"))
    http_sources.expect_request(
        "/crm/customers/A 1", query_string={"partner": "acme"}
    ).respond_with_json({**CRM_ANSWER, "credit_limit": 800, "outstanding": 0})

    part = connector_for("customer").fetch(make_order(customer=customer))

    assert (part["credit_limit"], part["exposure"]) == ("800.00", "0.00")  # prepaid, paid


def test_http_inventory_posts_the_skus_and_derives_the_same_fields(http_sources):
    tea, cup = ProductFactory(sku="TEA"), ProductFactory(sku="CUP")
    http_sources.expect_request(
        "/erp/stock",
        method="POST",
        json={"lines": [{"sku": "TEA", "quantity": 2}, {"sku": "CUP", "quantity": 2}]},
        headers={"Authorization": "Bearer inventory-token"},
    ).respond_with_json(
        {
            "lines": [
                {"sku": "CUP", "warehouses": {"sh": 5}},
                {"sku": "TEA", "warehouses": {"hz": 3, "sh": 0}},
                {"sku": "UNASKED", "warehouses": {"hz": 1}},
            ]
        }
    )

    part = connector_for("inventory").fetch(make_order(products=[tea, cup], quantity=2))

    assert part["lines"][0] == {
        "sku": "TEA",
        "quantity": 2,
        "warehouses": {"hz": 3, "sh": 0},
        "single_warehouse": True,
        "short": 0,
    }
    assert (part["transfer_needed"], part["shortage"]) == (True, False)


def test_http_fulfilment_keeps_null_rates_as_missing(http_sources):
    customer = CustomerFactory(ref="C-7")
    http_sources.expect_request(
        "/wms/fulfilment/C-7", headers={"Authorization": "Bearer fulfilment-token"}
    ).respond_with_json({"orders": 3, "paid_on_time_rate": 1, "received_on_time_rate": None})

    part = connector_for("fulfilment").fetch(make_order(customer=customer))

    assert part == {"orders": 3, "paid_on_time_rate": 1.0, "received_on_time_rate": None}


def test_http_source_slower_than_the_timeout_fails_quickly_without_retry(http_sources):
    order = make_order()
    http_sources.expect_request("/wms/fulfilment/" + order.customer.ref).respond_with_handler(
        slow(1.5, {"orders": 1, "paid_on_time_rate": None, "received_on_time_rate": None})
    )

    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out after 300 ms"):
        connector_for("fulfilment").fetch(order)

    assert time.monotonic() - started < 0.8
    assert len(http_sources.log) <= 1  # the request may still be sleeping on the server


def test_http_source_gives_up_at_the_deadline(http_sources):
    order = make_order()
    http_sources.expect_request("/wms/fulfilment/" + order.customer.ref).respond_with_handler(
        slow(1.5, {"orders": 1, "paid_on_time_rate": None, "received_on_time_rate": None})
    )

    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out"):
        connector_for("fulfilment").fetch(order, deadline=started + 0.1)

    assert time.monotonic() - started < 0.3


def test_http_500_is_retried_then_fails(http_sources):
    order = make_order()
    http_sources.expect_request("/crm/customers/" + order.customer.ref).respond_with_data(
        "database down", status=500
    )

    with pytest.raises(SourceError, match="HTTP 500"):
        connector_for("customer").fetch(order)

    assert len(http_sources.log) == 2  # the call and CONNECTOR_RETRIES = 1 more


def test_http_500_then_success_on_the_retry(http_sources):
    order = make_order()
    path = "/crm/customers/" + order.customer.ref
    http_sources.expect_ordered_request(path).respond_with_data("busy", status=503)
    http_sources.expect_ordered_request(path).respond_with_json(CRM_ANSWER)

    assert connector_for("customer").fetch(order)["tier"] == "gold"


def test_http_404_is_not_retried(http_sources):
    order = make_order()
    http_sources.expect_request("/crm/customers/" + order.customer.ref).respond_with_data(
        "no such customer", status=404
    )

    with pytest.raises(SourceError, match="HTTP 404"):
        connector_for("customer").fetch(order)

    assert len(http_sources.log) == 1


def test_http_answer_that_is_not_json_fails(http_sources):
    order = make_order()
    http_sources.expect_request("/crm/customers/" + order.customer.ref).respond_with_data(
        "<html>Gateway</html>", content_type="text/html"
    )

    with pytest.raises(SourceError, match="not a JSON answer"):
        connector_for("customer").fetch(order)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credit_limit": "lots"}, "credit_limit"),
        ({"credit_limit": -1}, "credit_limit"),
        ({"credit_limit": True}, "credit_limit"),
        ({"outstanding": None}, "outstanding"),
        ({"orders_completed": "12"}, "orders_completed"),
        ({"orders_completed": 1.5}, "orders_completed"),
        ({"tier": "platinum"}, "tier"),
        ({"credit_rating": None}, "credit_rating"),
    ],
)
def test_http_customer_answer_of_the_wrong_shape_fails(http_sources, change, field):
    order = make_order()
    http_sources.expect_request("/crm/customers/" + order.customer.ref).respond_with_json(
        {**CRM_ANSWER, **change}
    )

    with pytest.raises(SourceError, match=f"unexpected answer: {field}"):
        connector_for("customer").fetch(order)


@pytest.mark.parametrize(
    "answer",
    [
        {"orders": 3, "paid_on_time_rate": 1.5, "received_on_time_rate": None},
        {"orders": 3, "paid_on_time_rate": "0.9", "received_on_time_rate": None},
        {"orders": 3, "paid_on_time_rate": 0.9},
        {"orders": -3, "paid_on_time_rate": 0.9, "received_on_time_rate": 0.9},
        [1, 2, 3],
    ],
)
def test_http_fulfilment_answer_of_the_wrong_shape_fails(http_sources, answer):
    order = make_order()
    http_sources.expect_request("/wms/fulfilment/" + order.customer.ref).respond_with_json(answer)

    with pytest.raises(SourceError, match="unexpected answer"):
        connector_for("fulfilment").fetch(order)


@pytest.mark.parametrize(
    "answer",
    [
        {"lines": [{"sku": "TEA", "warehouses": {"hz": "3"}}]},
        {"lines": [{"sku": "TEA", "warehouses": {"hz": -1}}]},
        {"lines": [{"sku": "TEA", "warehouses": [3]}]},
        {"lines": [{"sku": "OTHER", "warehouses": {"hz": 3}}]},
        {"lines": {"TEA": 3}},
        {},
    ],
)
def test_http_inventory_answer_of_the_wrong_shape_fails(http_sources, answer):
    order = make_order(products=[ProductFactory(sku="TEA")])
    http_sources.expect_request("/erp/stock", method="POST").respond_with_json(answer)

    with pytest.raises(SourceError, match="unexpected answer"):
        connector_for("inventory").fetch(order)


def test_http_connection_refused_fails_quickly(settings):
    settings.CONNECTOR_CUSTOMER = "http"
    settings.CONNECTOR_CUSTOMER_URL = f"http://127.0.0.1:{closed_port()}"
    order = make_order()

    started = time.monotonic()
    with pytest.raises(SourceError, match="connection failed"):
        connector_for("customer").fetch(order)

    assert time.monotonic() - started < 0.5


# --- The breaker ------------------------------------------------------------------


def calls_for(server, order) -> int:
    """Requests the server got for this order's customer: a late call of an earlier
    test's card fetch (its threads may outlive the test) must not count."""
    path = "/crm/customers/" + order.customer.ref
    return sum(1 for request, _response in server.log if request.path == path)


@pytest.fixture
def breaker_of_three(settings, http_sources):
    settings.CONNECTOR_RETRIES = 0
    settings.CONNECTOR_BREAKER_FAILURES = 3
    settings.CONNECTOR_BREAKER_COOLDOWN_SECONDS = 60
    return http_sources


def test_breaker_opens_after_failures_in_a_row_and_stops_calling(breaker_of_three):
    server = breaker_of_three
    order = make_order()
    server.expect_request("/crm/customers/" + order.customer.ref).respond_with_data(
        "down", status=500
    )

    for _attempt in range(3):
        with pytest.raises(SourceError, match="HTTP 500"):
            source_fetch("customer", order)
    for _attempt in range(2):
        with pytest.raises(SourceError, match="circuit open"):
            source_fetch("customer", order)

    assert calls_for(server, order) == 3
    state = ConnectorState.objects.get(kind="customer")
    assert state.failures == 3
    assert state.last_error == "HTTP 500"
    assert state.last_success_at is None
    assert state.open_until == pytest.approx(
        timezone.now() + timedelta(seconds=60), abs=timedelta(seconds=5)
    )


def test_breaker_lets_one_call_through_after_the_cooldown_and_closes_on_success(
    breaker_of_three,
):
    server = breaker_of_three
    order = make_order()
    path = "/crm/customers/" + order.customer.ref
    server.expect_request(path).respond_with_data("down", status=500)
    for _attempt in range(3):
        with pytest.raises(SourceError):
            source_fetch("customer", order)

    server.clear()
    server.expect_request(path).respond_with_json(CRM_ANSWER)
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        assert source_fetch("customer", order)["tier"] == "gold"
        assert source_fetch("customer", order)["tier"] == "gold"

        state = ConnectorState.objects.get(kind="customer")
        assert (state.failures, state.open_until) == (0, None)
        assert state.last_success_at is not None
    assert calls_for(server, order) == 2


def test_breaker_reopens_when_the_trial_call_fails(breaker_of_three):
    server = breaker_of_three
    order = make_order()
    server.expect_request("/crm/customers/" + order.customer.ref).respond_with_data(
        "down", status=500
    )
    for _attempt in range(3):
        with pytest.raises(SourceError):
            source_fetch("customer", order)

    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        with pytest.raises(SourceError, match="HTTP 500"):
            source_fetch("customer", order)
        with pytest.raises(SourceError, match="circuit open"):
            source_fetch("customer", order)

    assert calls_for(server, order) == 4
    assert ConnectorState.objects.get(kind="customer").failures == 4


def test_half_open_breaker_lets_exactly_one_caller_try(settings):
    settings.CONNECTOR_BREAKER_COOLDOWN_SECONDS = 60
    now = timezone.now()
    ConnectorState.objects.create(kind="inventory", failures=5, open_until=now)

    breaker_allow("inventory", now=now + timedelta(seconds=1))
    with pytest.raises(SourceError, match="circuit open"):
        breaker_allow("inventory", now=now + timedelta(seconds=1))
