"""Partner API intake (DESIGN.md "Partner REST API"): the 201 and what it writes,
the 409/422 refusals, Idempotency-Key replays (also under concurrent retries on
PostgreSQL) and bad input, each a clear 4xx in the one error shape that writes nothing.

Reads, cancel and payment: test_api_orders.py; who may call what, throttling, staff
endpoints, the schema: test_api_access.py; fuzzing: test_api_schemathesis.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from backoffice.audit.models import AuditEvent
from orders.models import Customer, Order, StageVisit
from orders.models.partners import IdempotencyRecord
from orders.states import OrderStatus
from orders.tests import api_helpers
from orders.tests.api_helpers import (
    ORDERS,
    SKUS,
    assert_error_shape,
    intake_body,
    partner_client,
    partner_with_key,
    place,
    post_order,
    products_in_stock,
    written,
)
from orders.tests.factories import CouponFactory, CustomerFactory

S = OrderStatus
catalog = api_helpers.catalog
acme = api_helpers.acme
globex = api_helpers.globex


# --- Intake ---------------------------------------------------------------------


def test_intake_creates_the_order_with_timeline_and_audit(catalog, acme):
    body = intake_body()

    response = post_order(acme.client, body, key="first-order")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {"number", "external_ref", "status", "lines", "created_at"} <= set(data)
    assert data["external_ref"] == body["external_ref"]
    assert data["status"] == S.SALES_REVIEW
    assert data["lines"] == [
        {
            "sku": SKUS[0],
            "name": catalog[0].name,
            "quantity": 2,
            "list_price": "199.00",
            "unit_price": "199.00",
        }
    ]
    order = Order.objects.get(number=data["number"])
    assert order.partner == acme.partner
    assert order.source == "api"
    assert order.total_amount == Decimal("398.00")
    assert order.payment_status == "paid"
    assert [v.stage for v in order.visits.order_by("entered_at", "id")] == [
        S.RECEIVED,
        S.SALES_REVIEW,
    ]
    created = AuditEvent.objects.get(verb="order.created", subject_id=str(order.pk))
    assert created.actor_label == "partner:acme"
    assert created.payload["via"] == "api"
    assert created.payload["source"] == "api"
    assert created.payload["external_ref"] == body["external_ref"]


def test_intake_matches_the_customer_by_ref_within_the_partner(catalog, acme, globex):
    known = CustomerFactory(partner=acme.partner, ref="C0001", name="Li Ting (CRM)")
    CustomerFactory(partner=globex.partner, ref="C0042")

    first = place(acme)
    second = place(acme, customer={"ref": "C0042", "name": "New Buyer", "phone": "1"})

    assert Order.objects.get(number=first["number"]).customer == known
    new_customer = Order.objects.get(number=second["number"]).customer
    assert new_customer.partner == acme.partner
    assert (new_customer.ref, new_customer.name) == ("C0042", "New Buyer")
    assert Customer.objects.filter(ref="C0042").count() == 2  # one per partner
    assert place(acme, customer={"ref": "C0042", "name": "x"})["customer_ref"] == "C0042"
    assert Customer.objects.filter(ref="C0042").count() == 2


def test_unknown_sku_is_a_422_and_writes_nothing(catalog, acme):
    before = written()
    body = intake_body(lines=[{"sku": "NOPE-1", "quantity": 1}, {"sku": SKUS[0], "quantity": 1}])

    response = post_order(acme.client, body)

    assert response.status_code == 422
    assert assert_error_shape(response, "unknown_sku")["details"] == {"skus": ["NOPE-1"]}
    assert written() == before


def test_unknown_coupon_is_a_422_and_a_known_one_discounts(catalog, acme):
    before = written()
    response = post_order(acme.client, intake_body(coupon_code="NO-SUCH-COUPON"))
    assert response.status_code == 422
    assert_error_shape(response, "unknown_coupon")
    assert written() == before

    CouponFactory(code="D11", discount_amount=Decimal("20.00"))
    data = place(acme, coupon_code="D11", amount_paid="378.00")
    assert (data["discount_amount"], data["total_amount"]) == ("20.00", "378.00")


def test_a_second_order_with_the_same_external_ref_is_a_409_naming_the_first(catalog, acme):
    first = place(acme, external_ref="SHOP-DUP")
    before = written()

    response = post_order(acme.client, intake_body(external_ref="SHOP-DUP"), key="another-key")

    assert response.status_code == 409
    error = assert_error_shape(response, "duplicate_external_ref")
    assert error["details"] == {"number": first["number"], "external_ref": "SHOP-DUP"}
    assert first["number"] in error["message"]
    assert written() == before


def test_external_refs_are_unique_per_partner_only(catalog, acme, globex):
    mine = place(acme, external_ref="SHOP-SAME")

    theirs = post_order(globex.client, intake_body(external_ref="SHOP-SAME"), key="g-1")

    assert theirs.status_code == 201
    assert theirs.json()["number"] != mine["number"]
    assert mine["number"] not in theirs.content.decode()


@pytest.mark.parametrize("key", [None, "", "   ", "k" * 256, "bad\x00key"])
def test_intake_needs_a_usable_idempotency_key(catalog, acme, key):
    before = written()
    response = post_order(acme.client, intake_body(), key=key)
    assert response.status_code == 400
    assert_error_shape(response, "idempotency_key_required")
    assert written() == before


def test_authorization_header_scheme_is_accepted(catalog, acme):
    client = partner_client(acme.key, scheme="authorization")
    assert post_order(client, intake_body()).status_code == 201
    assert client.get(ORDERS).status_code == 200


# --- Idempotency ----------------------------------------------------------------


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_a_replay_returns_the_same_answer_and_creates_nothing(catalog, acme):
    body = intake_body()
    first = post_order(acme.client, body, key="replay-me")
    assert first.status_code == 201
    before = written()

    # Same content, other key order and whitespace: the same request.
    raw = json.dumps(_reversed_keys(body), indent=3, separators=(" ,  ", " :  "))
    replays = [post_order(acme.client, None, key="replay-me", raw=raw) for _ in range(3)]

    for replay in replays:
        assert replay.status_code == 201
        assert replay.json() == first.json()
        assert replay["Idempotent-Replayed"] == "true"
    assert written() == before


def test_the_same_key_with_another_body_is_refused(catalog, acme):
    post_order(acme.client, intake_body(external_ref="SHOP-A"), key="one-key")
    before = written()

    response = post_order(acme.client, intake_body(external_ref="SHOP-B"), key="one-key")

    assert response.status_code == 422
    assert assert_error_shape(response, "idempotency_key_reused")["details"] == {
        "idempotency_key": "one-key"
    }
    assert written() == before


def test_a_failed_attempt_keeps_no_record_so_the_corrected_retry_goes_through(catalog, acme):
    """Only a 201 is remembered: a 422 (or 400) leaves the key unused, so the partner may
    fix the body and retry with the same key. Once it succeeded, the key is taken."""
    wrong = intake_body(external_ref="SHOP-FIX", lines=[{"sku": "TYPO", "quantity": 1}])
    before = written()
    assert post_order(acme.client, wrong, key="fix-me").status_code == 422
    assert post_order(acme.client, {"lines": "x"}, key="fix-me").status_code == 400
    assert written() == before

    fixed = post_order(acme.client, intake_body(external_ref="SHOP-FIX"), key="fix-me")
    assert fixed.status_code == 201
    assert IdempotencyRecord.objects.get(key="fix-me").order.number == fixed.json()["number"]

    again = post_order(acme.client, wrong, key="fix-me")
    assert again.status_code == 422
    assert_error_shape(again, "idempotency_key_reused")


def test_idempotency_keys_belong_to_one_partner(catalog, acme, globex):
    body = intake_body()
    mine = post_order(acme.client, body, key="shared-key").json()

    theirs = post_order(globex.client, body, key="shared-key")

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["number"] != mine["number"]
    assert mine["number"] not in theirs.content.decode()
    assert Order.objects.filter(partner=globex.partner).count() == 1


def _concurrent_posts(jobs: list[tuple[str, str, dict]], *, threads: int) -> list:
    """Run (api_key, idempotency_key, body) posts from `threads` threads started
    together; each thread has its own client and database connection."""
    results: list = []
    errors: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    shares = [jobs[i::threads] for i in range(threads)]

    def worker(share):
        client = Client()
        try:
            barrier.wait()
            for api_key, key, body in share:
                response = client.post(
                    ORDERS,
                    data=json.dumps(body),
                    content_type="application/json",
                    headers={"X-Api-Key": api_key, "Idempotency-Key": key},
                )
                with lock:
                    results.append((key, response.status_code, response.json()))
        except Exception as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert len(results) == len(jobs)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_retries_of_one_key_make_exactly_one_order(warehouses):
    products_in_stock(warehouses[0])
    _partner_racer, api_key = partner_with_key("racer")
    body = intake_body()

    results = _concurrent_posts([(api_key, "same-key", body)] * 50, threads=50)

    assert Order.objects.count() == 1
    number = Order.objects.get().number
    assert Counter(status for _key, status, _body in results) == {201: 50}
    assert {data["number"] for _key, _status, data in results} == {number}
    assert IdempotencyRecord.objects.count() == 1
    assert StageVisit.objects.count() == 2
    assert AuditEvent.objects.filter(verb="order.created").count() == 1
    assert Customer.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_keys_each_retried_ten_times_at_once_make_twenty_orders(warehouses):
    products_in_stock(warehouses[0])
    _partner_racer, api_key = partner_with_key("racer")
    bodies = {
        f"key-{i:02d}": intake_body(customer={"ref": "C-SHARED", "name": "Same Buyer"})
        for i in range(20)
    }
    jobs = [(api_key, key, body) for key, body in bodies.items() for _ in range(10)]
    jobs = jobs[::2] + jobs[1::2]  # duplicates of one key land on different threads

    results = _concurrent_posts(jobs, threads=40)

    assert Order.objects.count() == 20
    assert Counter(status for _key, status, _body in results) == {201: 200}
    numbers: dict[str, set] = {}
    for key, _status, data in results:
        numbers.setdefault(key, set()).add(data["number"])
    assert all(len(n) == 1 for n in numbers.values())
    assert len(set().union(*numbers.values())) == 20
    assert Customer.objects.filter(ref="C-SHARED").count() == 1
    assert AuditEvent.objects.filter(verb="order.created").count() == 20


# --- Bad input ------------------------------------------------------------------


def _with(path: tuple, value):
    def build():
        body = intake_body()
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return body

    return build


@dataclass(frozen=True)
class Raw:
    """A request body sent as is (not JSON-encoded)."""

    content: str | bytes


def _raw(content):
    return lambda: Raw(content)


def _edited(old: str, new: str):
    """A valid body as JSON text with `old` replaced by `new` (for what json.dumps
    cannot write)."""
    return lambda: Raw(json.dumps(intake_body()).replace(old, new))


BAD_BODIES = {
    "nul in a string": _with(("customer", "name"), "Li\x00Ting"),
    "nul in a nested string": _with(("shipping_address", "line1"), "1 Wensan\x00 Rd"),
    "nul as a field name": _with(("\x00",), 1),
    "quantity is text": _with(("lines", 0, "quantity"), "abc"),
    "quantity is a bool": _with(("lines", 0, "quantity"), True),
    "quantity is a fraction": _with(("lines", 0, "quantity"), 1.5),
    "quantity is huge": _with(("lines", 0, "quantity"), 10**9),
    "quantity is zero": _with(("lines", 0, "quantity"), 0),
    "quantity is negative": _with(("lines", 0, "quantity"), -1),
    "quantity is infinite": _edited('"quantity": 2', '"quantity": 1e999'),
    "quantity has 5000 digits": _edited('"quantity": 2', '"quantity": ' + "9" * 5000),
    "negative unit price": _with(("lines", 0, "unit_price"), "-1.00"),
    "unit price NaN": _with(("lines", 0, "unit_price"), "NaN"),
    "unit price Infinity": _with(("lines", 0, "unit_price"), "Infinity"),
    "unit price too big": _with(("lines", 0, "unit_price"), "1e400"),
    "unit price with 3 decimals": _with(("lines", 0, "unit_price"), "1.001"),
    "NaN literal": _edited('"amount_paid": "398.00"', '"amount_paid": NaN'),
    "lines is an object": _with(("lines",), {"sku": SKUS[0], "quantity": 1}),
    "lines is a string": _with(("lines",), "API-0001"),
    "lines is empty": _with(("lines",), []),
    "a line is a string": _with(("lines",), ["API-0001"]),
    "201 lines": _with(("lines",), [{"sku": SKUS[0], "quantity": 1}] * 201),
    "10000 lines": _with(("lines",), [{"sku": SKUS[0], "quantity": 1}] * 10_000),
    "customer is a string": _with(("customer",), "C0001"),
    "invoice is a list": _with(("invoice",), ["Li Ting"]),
    "unknown payment method": _with(("payment_method",), "bitcoin"),
    "negative amount paid": _with(("amount_paid",), "-5.00"),
    "bad e-mail": _with(("customer", "email"), "not-an-email"),
    "external_ref too long": _with(("external_ref",), "X" * 65),
    "placed_at not a date": _with(("placed_at",), "yesterday"),
    "placed_at in the future": _with(("placed_at",), "2999-01-01T00:00:00+08:00"),
    "placed_at at the start of time": _with(("placed_at",), "0001-01-01T00:00:00+14:00"),
    "placed_at at the end of time": _with(("placed_at",), "9999-12-31T23:59:59-14:00"),
    "placed_at in year 132": _with(("placed_at",), "0132-05-04T09:01:50Z"),
    "unknown top-level field": _with(("vip",), True),
    "status is read-only": _with(("status",), "dispatched"),
    "partner is read-only": _with(("partner",), "globex"),
    "number is read-only": _with(("number",), "SO000000-AAAAAAAA"),
    "unknown customer field": _with(("customer", "level"), "gold"),
    "unknown address field": _with(("shipping_address", "country"), "CN"),
    "unknown line field": _with(("lines", 0, "discount"), "5.00"),
    "body is an array": lambda: [intake_body()],
    "body is a string": lambda: "an order",
    "body is a number": lambda: 42,
    "body is null": lambda: None,
    "body is empty object": dict,
    "malformed JSON": _raw('{"external_ref": "SHOP-1", '),
    "deeply nested JSON": _raw("[" * 100_000 + "]" * 100_000),
    "not UTF-8": _raw(b'{"external_ref": "\xff\xfe"}'),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_intake_bodies_are_clear_4xx_and_write_nothing(catalog, acme, case):
    built = BAD_BODIES[case]()
    before = written()

    if isinstance(built, Raw):
        response = post_order(acme.client, None, raw=built.content, key=case)
    else:
        response = post_order(acme.client, built, key=case)

    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = assert_error_shape(response)
    assert error["code"] in ("validation_error", "malformed_request")
    assert written() == before


def test_read_only_fields_are_named_in_the_error(catalog, acme):
    body = intake_body(status="dispatched", partner="globex")
    response = post_order(acme.client, body)
    assert response.status_code == 400
    assert set(assert_error_shape(response, "validation_error")["details"]) == {
        "status",
        "partner",
    }


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/xml", "multipart/form-data"],
)
def test_a_body_that_is_not_json_is_a_415(catalog, acme, content_type):
    before = written()
    response = acme.client.post(
        ORDERS,
        data="external_ref=SHOP-1",
        content_type=content_type,
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 415
    assert_error_shape(response, "unsupported_media_type")
    assert written() == before


def test_an_oversized_body_is_a_413(catalog, acme, settings):
    before = written()
    body = intake_body(notes="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))

    response = post_order(acme.client, body)

    assert response.status_code == 413
    assert_error_shape(response, "request_too_large")
    assert written() == before


def test_an_order_total_beyond_the_maximum_is_a_422(catalog, acme):
    lines = [{"sku": SKUS[0], "quantity": 10_000, "unit_price": "99999999.99"}]
    response = post_order(acme.client, intake_body(lines=lines, amount_paid=None))
    assert response.status_code == 422
    assert_error_shape(response, "invalid_order")
    assert not Order.objects.exists()
