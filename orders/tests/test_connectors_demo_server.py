"""The demo HTTP source (`manage.py connectors_demo_server`) against the real card service.

The command runs in a thread on a free port; its request threads read the database
through their own connections, so the tests commit their data (transaction=True).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.management.commands.connectors_demo_server import Command
from orders.models import Order, PartStatus
from orders.services.card import card_fetch
from orders.states import OrderStatus, PaymentMethod
from orders.tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
    make_order,
)

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ("customer", "inventory", "fulfilment")


@pytest.fixture
def demo_server():
    """`start(*arguments)`: the command running in a thread; stopped after the test."""
    running: list[tuple[Command, threading.Thread]] = []

    def start(*arguments: str) -> Command:
        command = Command()
        out = StringIO()
        thread = threading.Thread(
            target=call_command,
            args=(command, "--port", "0", *arguments),
            kwargs={"stdout": out},
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 5
        while command.server is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert command.server is not None, "the demo server did not start"
        command.out = out
        running.append((command, thread))
        return command

    yield start
    for command, thread in running:
        command.stop()
        thread.join(timeout=5)


def _point_connectors_at(settings, url: str, token: str = "") -> None:
    for kind in KINDS:
        name = f"CONNECTOR_{kind.upper()}"
        setattr(settings, name, "http")
        setattr(settings, f"{name}_URL", url)
        setattr(settings, f"{name}_TOKEN", token)


@pytest.fixture
def order():
    """A credit order of a partner's customer with history, over two warehouses."""
    customer = CustomerFactory(
        partner=PartnerFactory(code="shop-demo"),
        ref="C-1/2",
        tier="gold",
        credit_rating="fair",
        credit_limit=Decimal("5000.00"),
        orders_completed=7,
        on_time_payment_rate=Decimal("0.90"),
        on_time_receipt_rate=None,
    )
    first, second = ProductFactory(), ProductFactory()
    hz, sh = WarehouseFactory(code="hz"), WarehouseFactory(code="sh")
    closed = WarehouseFactory(code="closed", is_active=False)
    StockLevelFactory(product=first, warehouse=hz, on_hand=5, reserved=2)
    StockLevelFactory(product=first, warehouse=sh, on_hand=1, reserved=1)
    StockLevelFactory(product=second, warehouse=sh, on_hand=4, reserved=0)
    StockLevelFactory(product=second, warehouse=closed, on_hand=50, reserved=0)
    # Another credit order of the customer, accepted by finance and not paid yet.
    accepted = make_order(customer=customer, payment_method=PaymentMethod.CREDIT, paid=False)
    Order.objects.filter(pk=accepted.pk).update(status=OrderStatus.PICKING)
    # Created with the local sources (the default): intake reads its card inline.
    return make_order(
        customer=customer,
        products=[first, second],
        quantity=2,
        payment_method=PaymentMethod.CREDIT,
        paid=False,
    )


def _parts(card) -> dict:
    return {kind: getattr(card, kind) for kind in KINDS}


def _statuses(card) -> dict:
    return {kind: getattr(card, f"{kind}_status") for kind in KINDS}


def test_card_through_the_demo_server_equals_the_local_one(settings, demo_server, order):
    local = _parts(card_fetch(order))
    assert Decimal(local["customer"]["exposure"]) > order.amount_due  # the accepted order
    command = demo_server()
    _point_connectors_at(settings, command.server.url)

    card = card_fetch(order)

    assert _statuses(card) == dict.fromkeys(KINDS, PartStatus.OK)
    assert _parts(card) == local
    assert card.inventory["lines"][0]["warehouses"] == {"hz": 3, "sh": 0}
    assert card.fulfilment["received_on_time_rate"] is None
    expected = "GET /fulfilment/C-1%2F2?partner=shop-demo -> 200"
    for _attempt in range(50):  # a request's log line is written after its answer
        if expected in command.out.getvalue():
            break
        time.sleep(0.02)
    log = command.out.getvalue()
    assert "GET /customers/C-1%2F2?partner=shop-demo -> 200" in log
    assert "POST /stock -> 200" in log
    assert "GET /fulfilment/C-1%2F2?partner=shop-demo -> 200" in log


def test_failing_part_is_unavailable_the_others_ok(settings, demo_server, order):
    command = demo_server("--fail", "customer")
    _point_connectors_at(settings, command.server.url)

    card = card_fetch(order)

    assert _statuses(card) == {
        "customer": PartStatus.UNAVAILABLE,
        "inventory": PartStatus.OK,
        "fulfilment": PartStatus.OK,
    }
    assert card.customer_error == "HTTP 503"
    assert "GET /customers/C-1%2F2?partner=shop-demo -> 503" in command.out.getvalue()


def test_stopped_server_degrades_the_card_not_the_order(settings, demo_server, order):
    command = demo_server()
    _point_connectors_at(settings, command.server.url)
    assert _statuses(card_fetch(order)) == dict.fromkeys(KINDS, PartStatus.OK)
    command.stop()
    before = Order.objects.filter(pk=order.pk).values().get()

    card = card_fetch(order)

    assert _statuses(card) == dict.fromkeys(KINDS, PartStatus.UNAVAILABLE)
    assert all("connection failed" in getattr(card, f"{kind}_error") for kind in KINDS)
    # The parts keep their last good data; the order is untouched.
    assert card.customer["credit_rating"] == "fair"
    assert Order.objects.filter(pk=order.pk).values().get() == before


def test_slow_server_is_cut_off_by_the_budget(settings, demo_server, order):
    command = demo_server("--delay-ms", "400")
    _point_connectors_at(settings, command.server.url)
    settings.CARD_BUDGET_MS = 100

    started = time.monotonic()
    card = card_fetch(order)

    assert time.monotonic() - started < 0.35
    assert _statuses(card) == dict.fromkeys(KINDS, PartStatus.UNAVAILABLE)


def test_token_is_required_when_set(settings, demo_server, order):
    command = demo_server("--token", "s3cret")
    _point_connectors_at(settings, command.server.url)
    assert card_fetch(order).customer_error == "HTTP 401"

    _point_connectors_at(settings, command.server.url, token="s3cret")
    assert _statuses(card_fetch(order)) == dict.fromkeys(KINDS, PartStatus.OK)


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_contract_answers(demo_server, order):
    url = demo_server().server.url
    sku = order.lines.first().sku

    assert _call(f"{url}/customers/C-1%2F2")[0] == 404  # not without its partner
    assert _call(f"{url}/customers/nobody?partner=shop-demo")[0] == 404
    assert _call(f"{url}/fulfilment/nobody")[0] == 404
    assert _call(f"{url}/elsewhere")[0] == 404
    status, answer = _call(f"{url}/customers/C-1%2F2?partner=shop-demo")
    assert status == 200
    assert answer == {
        "credit_rating": "fair",
        "tier": "gold",
        "credit_limit": "5000.00",
        "outstanding": answer["outstanding"],
        "orders_completed": 7,
    }
    status, answer = _call(
        f"{url}/stock", {"lines": [{"sku": sku, "quantity": 2}, {"sku": "NOPE", "quantity": 1}]}
    )
    assert status == 200
    assert answer == {
        "lines": [{"sku": sku, "warehouses": {"hz": 3, "sh": 0}}, {"sku": "NOPE", "warehouses": {}}]
    }
    assert _call(f"{url}/stock", {"lines": "no"})[0] == 400


def test_unknown_failing_part_is_refused():
    with pytest.raises(CommandError, match="unknown part"):
        call_command("connectors_demo_server", "--fail", "crm", stdout=StringIO())
