"""Partner API reads and actions on one order: the list and its filters and cursor,
the detail (lines, current stage with dwell, timeline), cancel and payment."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from orders.models import Order, Payment
from orders.states import OrderStatus
from orders.tests import api_helpers
from orders.tests.api_helpers import (
    ORDERS,
    SKUS,
    assert_error_shape,
    place,
)

S = OrderStatus
catalog = api_helpers.catalog
acme = api_helpers.acme
globex = api_helpers.globex


# --- Reads, cancel, payment -----------------------------------------------------


def test_list_shows_own_orders_with_filters(catalog, acme, globex):
    first = place(acme)
    second = place(acme)
    theirs = place(globex)
    Order.objects.filter(number=first["number"]).update(status=S.PICKING)

    def numbers(query=""):
        response = acme.client.get(ORDERS + query)
        assert response.status_code == 200, response.content
        return {row["number"] for row in response.json()["results"]}

    assert numbers() == {first["number"], second["number"]}
    assert theirs["number"] not in acme.client.get(ORDERS).content.decode()
    assert numbers("?status=picking") == {first["number"]}
    assert numbers("?status=dispatched") == set()
    assert numbers(f"?number={second['number']}") == {second["number"]}
    assert numbers(f"?number={theirs['number']}") == set()
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert numbers(f"?created_since={past}") == {first["number"], second["number"]}
    assert numbers("?created_since=" + future.replace("+", "%2B")) == set()
    assert numbers(f"?updated_since={past}&status=sales_review") == {second["number"]}
    assert numbers("?created_since=2020-01-01") == {first["number"], second["number"]}
    assert numbers("?number=%00") == set()


@pytest.mark.parametrize(
    "query",
    [
        "status=shipped",
        "status=%00",
        "created_since=yesterday",
        "created_since=2026-13-45T00:00:00",
        "updated_since=2026-02-30T00:00:00Z",
        "updated_since=0001-01-01T00:00:00%2B14:00",
        "created_since=%00",
        "cursor=not-a-cursor",
        "cursor=" + quote(base64.b64encode(b"p=abc").decode()),  # a forged position
        "cursor=" + quote(base64.b64encode(b"p=" + b"9" * 30).decode()),  # beyond bigint
        "cursor=" + quote(base64.b64encode(b"r=x").decode()),
    ],
)
def test_invalid_list_parameters_are_a_400(acme, query):
    response = acme.client.get(f"{ORDERS}?{query}")
    assert response.status_code == 400, response.content
    assert_error_shape(response, "invalid_parameter")


def test_cursor_pagination_follows_next_links(catalog, acme):
    placed = {place(acme)["number"] for _ in range(5)}
    seen: list[str] = []
    url = ORDERS + "?page_size=2"
    pages = 0
    while url:
        response = acme.client.get(url)
        assert response.status_code == 200
        data = response.json()
        seen += [row["number"] for row in data["results"]]
        url = data["next"] and urlsplit(data["next"])._replace(scheme="", netloc="").geturl()
        pages += 1
    assert pages == 3
    assert len(seen) == 5 and set(seen) == placed


def test_list_query_count_does_not_grow_with_orders(catalog, acme):
    def queries_of_a_list(expected_rows: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = acme.client.get(ORDERS)
        assert len(response.json()["results"]) == expected_rows
        return len(captured)

    place(acme)
    one = queries_of_a_list(1)
    for _ in range(9):
        place(acme)
    assert queries_of_a_list(10) == one


def test_detail_has_lines_current_stage_with_dwell_and_timeline(catalog, acme):
    number = place(acme)["number"]
    Order.objects.filter(number=number).update(
        stage_entered_at=timezone.now() - timedelta(minutes=5)
    )

    response = acme.client.get(f"{ORDERS}{number}/")

    assert response.status_code == 200
    data = response.json()
    assert data["number"] == number
    assert [line["sku"] for line in data["lines"]] == [SKUS[0]]
    assert data["current_stage"]["stage"] == S.SALES_REVIEW
    assert 299 <= data["current_stage"]["dwell_seconds"] <= 400
    assert [visit["stage"] for visit in data["timeline"]] == [S.RECEIVED, S.SALES_REVIEW]
    assert data["timeline"][-1]["left_at"] is None


def test_an_unknown_number_is_a_json_404(acme):
    for path in ("SO000000-NOPE0000/", "bad%00number/", "x" * 40 + "/"):
        response = acme.client.get(ORDERS + path)
        assert response.status_code == 404
        assert_error_shape(response, "not_found")


def test_cancel_needs_a_reason_and_happens_once(catalog, acme):
    number = place(acme)["number"]
    url = f"{ORDERS}{number}/cancel/"

    missing = acme.client.post(url, {}, format="json")
    assert missing.status_code == 400
    assert "reason" in assert_error_shape(missing, "validation_error")["details"]
    blank = acme.client.post(url, {"reason": "   "}, format="json")
    assert blank.status_code == 400

    done = acme.client.post(url, {"reason": "customer changed their mind"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == S.CANCELLED
    assert done.json()["cancel_reason"] == "customer changed their mind"
    assert done.json()["current_stage"] is None
    order = Order.objects.get(number=number)
    assert order.status == S.CANCELLED
    assert order.visits.filter(stage=S.SALES_REVIEW).get().via == "api"
    assert AuditEvent.objects.filter(
        verb="order.transition", subject_id=str(order.pk), actor_label="partner:acme"
    ).exists()

    twice = acme.client.post(url, {"reason": "again"}, format="json")
    assert twice.status_code == 409
    assert assert_error_shape(twice, "not_cancellable")["details"]["status"] == S.CANCELLED


def test_payment_is_recorded_and_updates_the_payment_status(catalog, acme):
    order = place(acme, paid=False, amount_paid=None, payment_method="transfer")
    assert order["payment_status"] == "unpaid"
    url = f"{ORDERS}{order['number']}/payment/"

    partial = acme.client.post(url, {"amount": "98.00", "reference": "BANK-1"}, format="json")
    assert partial.status_code == 201
    assert partial.json()["amount"] == "98.00"
    assert partial.json()["reference"] == "BANK-1"
    assert Order.objects.get(number=order["number"]).payment_status == "partial"

    rest = acme.client.post(url, {"amount": "300.00"}, format="json")
    assert rest.status_code == 201
    saved = Order.objects.get(number=order["number"])
    assert (saved.payment_status, saved.amount_paid) == ("paid", Decimal("398.00"))
    assert (
        AuditEvent.objects.filter(verb="order.payment_recorded", subject_id=str(saved.pk)).count()
        == 2
    )
    detail = acme.client.get(f"{ORDERS}{order['number']}/").json()
    assert [p["amount"] for p in detail["payments"]] == ["98.00", "300.00"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": "0.00"},
        {"amount": "-1"},
        {"amount": "abc"},
        {"amount": "1e400"},
        {"amount": "10.00", "method": "cash"},
        {"amount": "10.00", "paid_at": "soon"},
        {"amount": "10.00", "paid_at": "0132-05-04T09:01:50Z"},
        {"amount": "10.00", "reference": "a\x00b"},
    ],
)
def test_bad_payments_are_a_400(catalog, acme, body):
    number = place(acme, paid=False, amount_paid=None)["number"]
    response = acme.client.post(f"{ORDERS}{number}/payment/", body, format="json")
    assert response.status_code == 400
    assert_error_shape(response, "validation_error")
    assert Payment.objects.count() == 0


def test_payments_cannot_push_the_amount_paid_beyond_its_column(catalog, acme):
    number = place(acme)["number"]
    Order.objects.filter(number=number).update(amount_paid=Decimal("9999999999.00"))

    response = acme.client.post(
        f"{ORDERS}{number}/payment/", {"amount": "99999999.99"}, format="json"
    )

    assert response.status_code == 422
    assert_error_shape(response, "invalid_amount")
    assert Payment.objects.filter(order__number=number).count() == 1  # the one of intake


def test_a_payment_dated_in_the_future_or_on_a_cancelled_order_is_a_422(catalog, acme):
    number = place(acme, paid=False, amount_paid=None)["number"]
    url = f"{ORDERS}{number}/payment/"
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = acme.client.post(url, {"amount": "1.00", "paid_at": future}, format="json")
    assert response.status_code == 422
    assert_error_shape(response, "invalid_paid_at")
    acme.client.post(f"{ORDERS}{number}/cancel/", {"reason": "test"}, format="json")
    response = acme.client.post(url, {"amount": "1.00"}, format="json")
    assert response.status_code == 422
    assert Payment.objects.count() == 0
