"""The staff phone endpoints for price changes: list, approve, reject, ask (with or
without an authorization code); every refusal in the API's one error shape; the
published schema; and a schemathesis fuzz of these operations (no 5xx, as documented)."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import hypothesis
import pytest
import schemathesis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from approvals.models import BypassSwitch, BypassWindow, PriceChangeRequest, SwitchKind
from approvals.services.codes import authorization_code_issue
from approvals.services.prices import price_change_request
from orders.models import Order, OrderLine
from orders.tests.api_helpers import assert_error_shape
from orders.tests.factories import ProductFactory, UserFactory, make_order

LIST = "/api/v1/staff/price-changes/"
JSON = "application/json"
Status = PriceChangeRequest.Status


def phone(user, ip: str = "127.0.0.1") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.force_login(user)
    return client


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type=JSON)


def order_of(price="200.00", quantity=2) -> Order:
    return make_order(products=[ProductFactory(list_price=Decimal(price))], quantity=quantity)


def line_of(order) -> OrderLine:
    return OrderLine.objects.filter(order=order).first()


def ask(order, by, price="180.00"):
    return price_change_request(
        order, line=line_of(order), new_unit_price=Decimal(price), reason="dent", by=by
    )


def create_url(order) -> str:
    return f"/api/v1/staff/orders/{order.number}/price-changes/"


def code_bypass_on() -> None:
    now = timezone.now()
    switch, _created = BypassSwitch.objects.get_or_create(kind=SwitchKind.PRICE_CHANGE_CODE)
    window = BypassWindow.objects.create(
        switch=switch,
        kind=switch.kind,
        reason="fair",
        opened_at=now,
        expires_at=now + timedelta(hours=4),
    )
    switch.current_window = window
    switch.save(update_fields=["current_window"])


# --- List --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_pending_changes_newest_first_in_pages(
    sales_clerk, supervisor, django_assert_max_num_queries
):
    changes = [ask(order_of(), sales_clerk) for _ in range(3)]
    decided = ask(order_of(), sales_clerk)
    PriceChangeRequest.objects.filter(pk=decided.pk).update(status=Status.REJECTED)
    client = phone(supervisor)

    with django_assert_max_num_queries(8):
        response = client.get(LIST, {"status": "pending", "limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body["results"]] == [changes[2].pk, changes[1].pk]
    first = body["results"][0]
    assert first["status"] == "pending" and first["deviation_pct"] == "-10.00"
    assert (
        first["order_number"] == changes[2].order.number and first["requested_by"] == "sales_clerk"
    )
    rest = client.get(LIST, {"status": "pending", "before": body["next_before"]}).json()
    assert [c["id"] for c in rest["results"]] == [changes[0].pk] and rest["next_before"] is None
    assert len(client.get(LIST).json()["results"]) == 4


@pytest.mark.django_db
def test_the_list_refuses_bad_parameters_and_people_without_permission(supervisor, outsider):
    bad = phone(supervisor).get(LIST, {"status": "maybe"})
    assert bad.status_code == 400
    assert_error_shape(bad, "validation_error")
    forbidden = phone(outsider).get(LIST)
    assert forbidden.status_code == 403
    assert_error_shape(forbidden, "permission_denied")
    assert Client().get(LIST).status_code == 401
    non_staff = UserFactory(username="not_staff", is_staff=False)
    assert phone(non_staff).get(LIST).status_code == 403


@pytest.mark.django_db
def test_a_token_works_too(supervisor):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=supervisor)
    response = Client().get(LIST, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200


# --- Approve and reject ------------------------------------------------------------------


@pytest.mark.django_db
def test_approve_applies_the_price(sales_clerk, supervisor):
    order = order_of()
    change = ask(order, sales_clerk)

    response = post(phone(supervisor), f"{LIST}{change.pk}/approve/", {"note": "ok"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert response.json()["decided_by"] == "supervisor"
    assert line_of(order).unit_price == Decimal("180.00")


@pytest.mark.django_db
def test_approve_refusals(sales_clerk, supervisor):
    change = ask(order_of(), sales_clerk)
    url = f"{LIST}{change.pk}/approve/"

    forbidden = post(phone(sales_clerk), url)
    assert forbidden.status_code == 403
    assert_error_shape(forbidden, "permission_denied")
    missing = post(phone(supervisor), f"{LIST}999999/approve/")
    assert missing.status_code == 404
    assert_error_shape(missing, "not_found")
    huge = post(phone(supervisor), f"{LIST}99999999999999999999/approve/")
    assert huge.status_code == 404
    unknown_field = post(phone(supervisor), url, {"notes": "typo"})
    assert unknown_field.status_code == 400
    assert_error_shape(unknown_field, "validation_error")
    assert post(phone(supervisor), url).status_code == 200
    again = post(phone(supervisor), url)
    assert again.status_code == 409
    assert_error_shape(again, "not_pending")


@pytest.mark.django_db
def test_own_request_approval_is_a_403(supervisor):
    change = ask(order_of(), supervisor)
    response = post(phone(supervisor), f"{LIST}{change.pk}/approve/")
    assert response.status_code == 403
    assert_error_shape(response, "own_price_change")


@pytest.mark.django_db
def test_reject_needs_a_note(sales_clerk, supervisor):
    change = ask(order_of(), sales_clerk)
    url = f"{LIST}{change.pk}/reject/"

    missing_note = post(phone(supervisor), url)
    assert missing_note.status_code == 400
    assert_error_shape(missing_note, "validation_error")
    forbidden = post(phone(sales_clerk), url, {"note": "no"})
    assert forbidden.status_code == 403
    assert post(phone(supervisor), f"{LIST}424242/reject/", {"note": "no"}).status_code == 404

    response = post(phone(supervisor), url, {"note": "Below our floor"})

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_note"] == "Below our floor"


# --- Ask for a price change --------------------------------------------------------------


@pytest.mark.django_db
def test_asking_by_sku_or_line_id_is_a_201(sales_clerk):
    order = order_of()
    other = order_of()
    client = phone(sales_clerk)

    by_sku = post(
        client,
        create_url(order),
        {"line_sku": line_of(order).sku, "new_unit_price": "190.00", "reason": "dent"},
    )
    by_id = post(
        client,
        create_url(other),
        {"line_id": line_of(other).pk, "new_unit_price": "210.00", "reason": "gift wrap"},
    )

    assert by_sku.status_code == 201, by_sku.content
    assert by_sku.json()["status"] == "pending" and by_sku.json()["deviation_pct"] == "-5.00"
    assert by_id.status_code == 201 and by_id.json()["deviation_pct"] == "5.00"


@pytest.mark.django_db
def test_asking_with_a_code_applies_at_once(sales_clerk, supervisor):
    code_bypass_on()
    _code, plaintext = authorization_code_issue(
        label="fair", max_deviation_pct=Decimal("10"), by=supervisor
    )
    order = order_of()
    body = {
        "line_sku": line_of(order).sku,
        "new_unit_price": "190.00",
        "reason": "fair price",
        "authorization_code": plaintext.lower(),
    }

    response = post(phone(sales_clerk), create_url(order), body)

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "applied_with_code"
    order.refresh_from_db()
    assert order.total_amount == Decimal("380.00")


@pytest.mark.django_db
def test_asking_refusals(sales_clerk, outsider):
    order = order_of()
    sku = line_of(order).sku
    client = phone(sales_clerk)
    good = {"line_sku": sku, "new_unit_price": "190.00", "reason": "dent"}
    bad_bodies = [
        {**good, "new_unit_price": "-1"},
        {**good, "new_unit_price": "abc"},
        {**good, "extra": 1},
        {**good, "line_id": line_of(order).pk},  # both line fields
        {"new_unit_price": "190.00", "reason": "dent"},  # no line
        {**good, "line_sku": "NOT-ON-ORDER"},
        {**good, "reason": ""},
        {**good, "new_unit_price": "200.00"},  # unchanged
    ]
    for body in bad_bodies:
        response = post(client, create_url(order), body)
        assert response.status_code == 400, (body, response.content)
        assert_error_shape(response)
    unknown = post(client, "/api/v1/staff/orders/NOPE-1/price-changes/", good)
    assert unknown.status_code == 404
    assert_error_shape(unknown, "not_found")
    forbidden = post(phone(outsider), create_url(order), good)
    assert forbidden.status_code == 403
    assert post(client, create_url(order), good).status_code == 201
    duplicate = post(client, create_url(order), {**good, "new_unit_price": "185.00"})
    assert duplicate.status_code == 409
    assert_error_shape(duplicate, "price_change_pending")
    assert PriceChangeRequest.objects.count() == 1


@pytest.mark.django_db
def test_wrong_codes_are_422_and_then_a_429_lock(sales_clerk, supervisor):
    client = phone(sales_clerk)
    order = order_of()
    body = {"line_sku": line_of(order).sku, "new_unit_price": "190.00", "reason": "fair"}
    off = post(client, create_url(order), {**body, "authorization_code": "AAAA-BBBB-CCCC"})
    assert off.status_code == 422
    assert_error_shape(off, "code_bypass_off")
    code_bypass_on()
    _code, plaintext = authorization_code_issue(label="fair", by=supervisor)

    wrong = [
        post(client, create_url(order), {**body, "authorization_code": "AAAA-BBBB-CCCC"})
        for _ in range(5)
    ]
    locked = post(client, create_url(order), {**body, "authorization_code": plaintext})

    assert [r.status_code for r in wrong] == [422] * 5
    assert_error_shape(wrong[0], "code_invalid")
    assert locked.status_code == 429
    assert_error_shape(locked, "code_locked")
    assert int(locked["Retry-After"]) == 15 * 60
    # The address is locked for everyone now; the supervisor is elsewhere.
    assert (
        post(
            phone(supervisor), create_url(order), body | {"authorization_code": plaintext}
        ).status_code
        == 429
    )
    over_cap = post(
        phone(supervisor, ip="10.1.1.1"),
        create_url(order),
        {**body, "new_unit_price": "100.00", "authorization_code": plaintext},
    )
    assert over_cap.status_code == 422
    assert_error_shape(over_cap, "code_over_cap")


@pytest.mark.django_db
def test_the_schema_documents_the_endpoints_and_every_error(client):
    from drf_spectacular.validation import validate_schema

    response = client.get("/api/schema/", headers={"Accept": JSON})
    served = json.loads(response.content)
    validate_schema(served)
    paths = served["paths"]
    create = paths["/api/v1/staff/orders/{number}/price-changes/"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "422", "429"} <= set(create["responses"])
    assert {"200", "400", "401", "403"} <= set(paths[LIST]["get"]["responses"])
    for action in ("approve", "reject"):
        operation = paths[f"/api/v1/staff/price-changes/{{id}}/{action}/"]["post"]
        assert {"200", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    # The order's published status enum keeps its name.
    assert "StatusEnum" in served["components"]["schemas"]


# --- Fuzzing (schemathesis, as in orders/tests/test_api_schemathesis.py) ----------------

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
OPERATIONS = [
    ("GET", LIST),
    ("POST", "/api/v1/staff/price-changes/{id}/approve/"),
    ("POST", "/api/v1/staff/price-changes/{id}/reject/"),
    ("POST", "/api/v1/staff/orders/{number}/price-changes/"),
]
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"


@pytest.fixture
def fuzz_world(live_server, supervisor, sales_clerk):
    """A supervisor's session (with its CSRF pair), an order and a pending change."""
    order = order_of()
    change = ask(order, sales_clerk)
    browser = Client()
    browser.force_login(supervisor)
    credentials = {
        "headers": {"X-CSRFToken": CSRF_SECRET},
        "cookies": {
            django_settings.SESSION_COOKIE_NAME: browser.cookies[
                django_settings.SESSION_COOKIE_NAME
            ].value,
            django_settings.CSRF_COOKIE_NAME: CSRF_SECRET,
        },
    }
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    return schema, credentials, {"number": order.number, "id": change.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_every_price_change_operation_answers_as_documented(fuzz_world, live_server, method, path):
    schema, credentials, real = fuzz_world
    operation = schema[path][method]
    statuses: Counter = Counter()
    for parameters in (None, {k: v for k, v in real.items() if "{" + k + "}" in path} or None):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(mode, path_parameters=parameters))
            def answers_as_documented(case):
                response = case.call_and_validate(
                    base_url=live_server.url, checks=CHECKS, timeout=30, **credentials
                )
                statuses[response.status_code] += 1

            try:
                answers_as_documented()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE
    assert statuses and not set(statuses) <= {401, 403}, statuses
