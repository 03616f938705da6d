"""Exception cases in the API: partners raise address changes, invoice reissues and
gift additions on their own orders (idempotent per order and type), the order detail
lists the open cases, and team members work the pool from their phones."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from exceptions.demo import exceptions_types_ensure
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from exceptions.services.cases import case_open, case_resolve
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams
from orders.models import Order
from orders.models.partners import PartnerAPIKey
from orders.services import order_cancel
from orders.services.partners import partner_key_create, partner_key_revoke
from orders.states import OrderStatus
from orders.tests import api_helpers
from orders.tests.api_helpers import ORDERS, SKUS, assert_error_shape, partner_client, place
from orders.tests.factories import UserFactory

S = OrderStatus
catalog = api_helpers.catalog
acme = api_helpers.acme
globex = api_helpers.globex

ADDRESS = {
    "name": "Li Ting",
    "phone": "13800000001",
    "province": "Zhejiang",
    "city": "Hangzhou",
    "district": "Binjiang",
    "line1": "88 Jianghong Rd",
    "postal_code": "310051",
}
ADDRESS_CHANGE = {
    "type": "address_change",
    "description": "The customer moved.",
    "address": ADDRESS,
}
INVOICE_REISSUE = {
    "type": "invoice_reissue",
    "description": "A VAT invoice is needed.",
    "invoice": {"title": "Hangzhou Li Trading Co.", "tax_id": "91330106MA2KXXXX1X"},
}
CASE_FIELDS = {"id", "type", "tag", "status", "blocking", "sla_due_at", "opened_at", "created"}
STAFF_CASES = "/api/v1/staff/exceptions/"


@pytest.fixture
def types(db):
    return exceptions_types_ensure()


@pytest.fixture
def order(catalog, acme, types):
    """One of acme's orders, waiting in sales review."""
    return Order.objects.get(number=place(acme)["number"])


def raise_case(client, number: str, body, **kwargs):
    return client.post(f"{ORDERS}{number}/exceptions/", body, format="json", **kwargs)


def gift(sku: str = SKUS[1], quantity: int = 1) -> dict:
    return {"type": "gift_addition", "gift": {"sku": sku, "quantity": quantity}}


# --- Partner: raise a case ---------------------------------------------------------------


def test_an_address_change_opens_a_blocking_case_and_holds_the_order(order, acme, types):
    response = raise_case(acme.client, order.number, ADDRESS_CHANGE)

    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == CASE_FIELDS
    assert data["type"] == "address_change"
    assert data["tag"] == types["address_change"].tag_en  # the answer's language
    assert (data["status"], data["blocking"], data["created"]) == ("open", True, True)
    case = ExceptionCase.objects.get(pk=data["id"])
    assert case.order == order
    assert case.source == CaseSource.PARTNER_API
    assert case.description == "The customer moved."
    assert case.payload == {"address": ADDRESS, "partner": "acme"}
    assert case.team.name == CUSTOMER_SERVICE
    order.refresh_from_db()
    assert (order.status, order.held_from) == (S.ON_HOLD, S.SALES_REVIEW)
    assert AuditEvent.objects.filter(verb="exception.opened", subject_id=str(order.pk)).exists()


def test_the_same_request_again_answers_the_open_case(order, acme):
    first = raise_case(acme.client, order.number, ADDRESS_CHANGE)
    again = raise_case(acme.client, order.number, {**ADDRESS_CHANGE, "description": "Retry."})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "created": False}
    assert ExceptionCase.objects.filter(order=order).count() == 1
    # Once that case is closed, the same request opens a new one.
    case_resolve(ExceptionCase.objects.get(), by=None, note="Address updated.")
    later = raise_case(acme.client, order.number, ADDRESS_CHANGE)
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]


def test_an_invoice_reissue_runs_alongside_the_order(order, acme):
    response = raise_case(acme.client, order.number, INVOICE_REISSUE)

    assert response.status_code == 201, response.content
    assert (response.json()["type"], response.json()["blocking"]) == ("invoice_reissue", False)
    case = ExceptionCase.objects.get()
    assert case.payload["invoice"] == INVOICE_REISSUE["invoice"]
    assert case.team.name == teams.FINANCE
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW


def test_a_gift_needs_an_active_sku(order, acme, catalog):
    unknown = raise_case(acme.client, order.number, gift("NO-SUCH-SKU"))
    assert unknown.status_code == 422
    assert_error_shape(unknown, "unknown_sku")
    assert not ExceptionCase.objects.exists()

    added = raise_case(acme.client, order.number, gift(SKUS[1], 2))

    assert added.status_code == 201, added.content
    assert ExceptionCase.objects.get().payload["gift"] == {"sku": SKUS[1], "quantity": 2}


@pytest.mark.parametrize(
    "kind", ["price_difference", "presale_payment_due", "return_exchange_sync", "teleport", 5, None]
)
def test_partners_may_raise_only_the_three_types(order, acme, kind):
    response = raise_case(acme.client, order.number, {**ADDRESS_CHANGE, "type": kind})

    assert response.status_code == 400
    error = assert_error_shape(response, "invalid_exception_type")
    assert error["details"]["type"] == ["address_change", "gift_addition", "invoice_reissue"]
    assert not ExceptionCase.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "no type"}, "type"),
        ({**ADDRESS_CHANGE, "priority": "high"}, "priority"),
        ({"type": "address_change", "description": "no address"}, "address"),
        ({**ADDRESS_CHANGE, "invoice": INVOICE_REISSUE["invoice"]}, "invoice"),
        ({**ADDRESS_CHANGE, "address": {**ADDRESS, "floor": 3}}, "address"),
        ({**ADDRESS_CHANGE, "address": {**ADDRESS, "line1": ""}}, "address"),
        ({**ADDRESS_CHANGE, "address": {**ADDRESS, "city": "x" * 61}}, "address"),
        ({**ADDRESS_CHANGE, "address": None}, "address"),
        ({**ADDRESS_CHANGE, "description": "nul \x00 byte"}, "description"),
        ({**ADDRESS_CHANGE, "description": "x" * 2001}, "description"),
        ({**ADDRESS_CHANGE, "description": ["not", "text"]}, "description"),
        ({**INVOICE_REISSUE, "invoice": {"tax_id": "123"}}, "invoice"),
        ({**INVOICE_REISSUE, "invoice": {"title": "T", "tax_id": "12 34;--"}}, "invoice"),
        (gift(quantity=0), "gift"),
        (gift(quantity=101), "gift"),
        ({"type": "gift_addition", "gift": {"sku": SKUS[1], "quantity": "two"}}, "gift"),
        ({"type": "gift_addition", "gift": {"sku": "", "quantity": 1}}, "gift"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_bodies_are_400s_naming_the_field(order, acme, body, field):
    response = raise_case(acme.client, order.number, body)

    assert response.status_code == 400, response.content
    error = assert_error_shape(response, "validation_error")
    assert field in error["details"]
    assert not ExceptionCase.objects.exists()
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW


def test_unreadable_bodies_are_refused(order, acme):
    url = f"{ORDERS}{order.number}/exceptions/"

    not_an_object = acme.client.post(url, "[1, 2]", content_type="application/json")
    malformed = acme.client.post(url, "{not json", content_type="application/json")
    form = acme.client.post(url, {"type": "address_change"})  # multipart form

    assert not_an_object.status_code == 400
    assert_error_shape(not_an_object, "validation_error")
    assert malformed.status_code == 400
    assert_error_shape(malformed, "malformed_request")
    assert form.status_code == 415
    assert_error_shape(form, "unsupported_media_type")
    assert not ExceptionCase.objects.exists()


@pytest.mark.parametrize("closing", ["cancel", "dispatched"])
def test_a_dispatched_or_cancelled_order_is_a_409(order, acme, closing):
    if closing == "cancel":
        order_cancel(order, actor_label="test", reason="customer changed their mind")
    else:
        Order.objects.filter(pk=order.pk).update(status=S.DISPATCHED)

    response = raise_case(acme.client, order.number, ADDRESS_CHANGE)

    assert response.status_code == 409
    assert_error_shape(response, "order_closed")
    assert not ExceptionCase.objects.exists()


# --- Partner: who may raise what (BOLA) ----------------------------------------------


def test_another_partners_order_is_a_404_that_reveals_nothing(order, acme, globex, catalog):
    theirs = place(globex, external_ref="GLOBEX-SECRET-REF")

    response = raise_case(acme.client, theirs["number"], ADDRESS_CHANGE)

    assert response.status_code == 404
    assert_error_shape(response, "not_found")
    text = response.content.decode()
    assert theirs["number"] not in text and "GLOBEX-SECRET-REF" not in text
    assert not ExceptionCase.objects.exists()
    assert Order.objects.get(number=theirs["number"]).status == S.SALES_REVIEW


def test_globex_cannot_raise_on_acmes_order_nor_see_its_cases(order, acme, globex):
    raise_case(acme.client, order.number, ADDRESS_CHANGE)

    raised = raise_case(globex.client, order.number, INVOICE_REISSUE)
    detail = globex.client.get(f"{ORDERS}{order.number}/")

    assert (raised.status_code, detail.status_code) == (404, 404)
    for response in (raised, detail):
        assert_error_shape(response, "not_found")
        assert "address_change" not in response.content.decode()
    assert ExceptionCase.objects.count() == 1


@pytest.mark.parametrize("identity", ["no key", "revoked key", "garbage key", "nul key"])
def test_without_a_usable_key_it_is_a_401(order, acme, identity):
    revoked = partner_key_create(partner=acme.partner, name="old")
    partner_key_revoke(PartnerAPIKey.objects.get(prefix=revoked.split(".")[0]), reason="leaked")
    key = {"no key": None, "revoked key": revoked, "garbage key": "x.y", "nul key": "a\x00.b"}

    response = raise_case(partner_client(key[identity]), order.number, ADDRESS_CHANGE)

    assert response.status_code == 401
    assert_error_shape(response)
    assert response["WWW-Authenticate"] == "Api-Key"
    assert order.number not in response.content.decode()
    assert not ExceptionCase.objects.exists()


@pytest.mark.parametrize("number", ["SO000000-NOPE", "SO%00X", "x" * 40])
def test_unknown_or_malformed_numbers_are_404s(types, acme, number):
    response = raise_case(acme.client, number, ADDRESS_CHANGE)

    assert response.status_code == 404
    assert_error_shape(response, "not_found")


def test_a_staff_session_is_not_a_partner(order, supervisor):
    browser = Client()
    browser.force_login(supervisor)

    response = browser.post(
        f"{ORDERS}{order.number}/exceptions/",
        json.dumps(ADDRESS_CHANGE),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert_error_shape(response, "not_authenticated")


def test_requests_beyond_the_rate_are_429s(order, acme, settings):
    settings.API_THROTTLE_RATE = "3/min"  # the order's intake was the first request

    answers = [raise_case(acme.client, order.number, INVOICE_REISSUE).status_code for _ in "123"]

    assert answers == [201, 200, 429]


# --- The order detail lists the open cases ---------------------------------------------


def test_the_order_detail_lists_the_open_cases(order, acme, types):
    assert acme.client.get(f"{ORDERS}{order.number}/").json()["exceptions"] == []
    raise_case(acme.client, order.number, INVOICE_REISSUE)
    address = raise_case(acme.client, order.number, ADDRESS_CHANGE).json()

    detail = acme.client.get(f"{ORDERS}{order.number}/")

    assert detail.status_code == 200
    cases = detail.json()["exceptions"]
    assert [c["type"] for c in cases] == ["address_change", "invoice_reissue"]  # blocking first
    assert cases[0] == {
        "id": address["id"],
        "type": "address_change",
        "tag_zh": types["address_change"].tag_zh,
        "tag_en": types["address_change"].tag_en,
        "status": "open",
        "blocking": True,
        "sla_due_at": address["sla_due_at"],
    }
    assert detail.json()["status"] == S.ON_HOLD
    case_resolve(ExceptionCase.objects.get(pk=address["id"]), by=None, note="Done.")
    after = acme.client.get(f"{ORDERS}{order.number}/").json()
    assert [c["type"] for c in after["exceptions"]] == ["invoice_reissue"]
    assert after["status"] == S.SALES_REVIEW


def test_the_schema_documents_the_endpoints_and_the_section(client):
    served = client.get("/api/schema/", headers={"Accept": "application/json"}).json()

    raise_op = served["paths"]["/api/v1/orders/{number}/exceptions/"]["post"]
    assert {"200", "201", "400", "401", "404", "409", "415", "422", "429"} <= set(
        raise_op["responses"]
    )
    assert raise_op["security"] == [{"ApiKeyAuth": []}]
    schemas = served["components"]["schemas"]
    assert set(schemas["ExceptionCaseInRequest"]["discriminator"]["mapping"]) == {
        "address_change",
        "invoice_reissue",
        "gift_addition",
    }
    assert "exceptions" in schemas["OrderOut"]["properties"]
    assert "StatusEnum" in schemas  # the order's published enum keeps its name
    for path in ("", "claim-next/", "{id}/resolve/"):
        assert f"{STAFF_CASES}{path}" in served["paths"]


# --- Staff phones ---------------------------------------------------------------------


@pytest.fixture
def agent(db):
    return UserFactory(username="service_agent", groups=[CUSTOMER_SERVICE])


@pytest.fixture
def agent_phone(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def pool(catalog, acme, types):
    """An older non-blocking return sync, then a blocking address change (customer
    service's), and an invoice reissue (finance's), on three of acme's orders."""
    orders = [Order.objects.get(number=place(acme)["number"]) for _ in range(3)]
    return {
        "return": case_open(orders[0], type="return_exchange_sync", source="staff")[0],
        "address": case_open(orders[1], type="address_change", source="staff")[0],
        "invoice": case_open(orders[2], type="invoice_reissue", source="staff")[0],
    }


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_staff_list_shows_my_teams_open_cases_blocking_first(agent_phone, supervisor, pool, types):
    # The return sync is due first, yet the blocking address change comes first.
    ExceptionCase.objects.filter(pk=pool["return"].pk).update(
        sla_due_at=pool["address"].sla_due_at.replace(year=2020)
    )
    mine = agent_phone.get(STAFF_CASES)
    assert _ids(mine) == [pool["address"].pk, pool["return"].pk]
    row = mine.json()["results"][0]
    assert row["order_number"] == pool["address"].order.number
    assert (row["tag"], row["status"], row["blocking"], row["overdue"]) == (
        types["address_change"].tag_en,
        "open",
        True,
        False,
    )
    assert row["checklist"]
    assert mine.json()["results"][1]["overdue"] is True
    page = agent_phone.get(STAFF_CASES + "?limit=1")
    assert _ids(page) == [pool["address"].pk]
    assert page.json()["next_offset"] == 1
    assert _ids(agent_phone.get(STAFF_CASES + "?limit=1&offset=1")) == [pool["return"].pk]
    # People who may assign cases see every team's.
    boss = Client()
    boss.force_login(supervisor)
    assert set(_ids(boss.get(STAFF_CASES))) == {case.pk for case in pool.values()}


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?offset=-1", "?limit=x"])
def test_staff_list_refuses_bad_paging(agent_phone, query):
    response = agent_phone.get(STAFF_CASES + query)
    assert response.status_code == 400
    assert_error_shape(response, "validation_error")


def test_staff_claim_next_then_resolve_releases_the_order(agent_phone, agent, pool):
    claimed = agent_phone.post(STAFF_CASES + "claim-next/")

    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["id"] == pool["address"].pk
    assert claimed.json()["claimed_by"] == "service_agent"
    address = ExceptionCase.objects.get(pk=pool["address"].pk)
    assert (address.status, address.claimed_by) == (CaseStatus.CLAIMED, agent)
    assert address.order.status == S.ON_HOLD

    resolved = agent_phone.post(
        STAFF_CASES + f"{address.pk}/resolve/",
        {"note": "New address confirmed by phone."},
        content_type="application/json",
    )

    assert resolved.status_code == 200, resolved.content
    assert (resolved.json()["status"], resolved.json()["order_status"]) == (
        "resolved",
        S.SALES_REVIEW,
    )
    address.refresh_from_db()
    assert address.resolution_note == "New address confirmed by phone."
    assert AuditEvent.objects.filter(verb="exception.resolved", actor=agent).exists()
    assert agent_phone.post(STAFF_CASES + "claim-next/").json()["id"] == pool["return"].pk
    nothing = agent_phone.post(STAFF_CASES + "claim-next/")
    assert (nothing.status_code, nothing.content) == (204, b"")


def test_staff_resolve_refusals(agent_phone, pool, warehouse_clerk, acme):
    url = STAFF_CASES + f"{pool['address'].pk}/resolve/"
    json_type = "application/json"

    no_note = agent_phone.post(url, {"note": ""}, content_type=json_type)
    assert no_note.status_code == 400
    assert_error_shape(no_note, "validation_error")
    unknown_field = agent_phone.post(url, {"note": "x", "why": "y"}, content_type=json_type)
    assert unknown_field.status_code == 400
    form = agent_phone.post(url, {"note": "x"})
    assert form.status_code == 415
    for missing in (999999, 2**31, 2**80):
        no_case = agent_phone.post(
            STAFF_CASES + f"{missing}/resolve/", {"note": "x"}, content_type=json_type
        )
        assert no_case.status_code == 404
        assert_error_shape(no_case, "not_found")
    # Not the team's case: finance owns invoice reissues.
    others = agent_phone.post(
        STAFF_CASES + f"{pool['invoice'].pk}/resolve/", {"note": "x"}, content_type=json_type
    )
    assert others.status_code == 403
    assert_error_shape(others, "permission_denied")
    # The warehouse team may look at the pool, not work it.
    warehouse = Client()
    warehouse.force_login(warehouse_clerk)
    assert warehouse.post(url, {"note": "x"}, content_type=json_type).status_code == 403
    assert warehouse.post(STAFF_CASES + "claim-next/").status_code == 403
    # Partner keys mean nothing here.
    assert acme.client.post(url, {"note": "x"}, format="json").status_code == 401
    assert acme.client.get(STAFF_CASES).status_code == 401
    assert ExceptionCase.objects.get(pk=pool["address"].pk).status == CaseStatus.OPEN

    done = agent_phone.post(url, {"note": "Done."}, content_type=json_type)
    again = agent_phone.post(url, {"note": "Done again."}, content_type=json_type)
    assert done.status_code == 200
    assert again.status_code == 409
    assert_error_shape(again)


def test_staff_endpoints_refuse_non_staff_and_outsiders(pool, outsider):
    clerk = UserFactory(username="not_staff", is_staff=False, groups=[CUSTOMER_SERVICE])
    for user, allowed in ((clerk, (401, 403)), (outsider, (403,))):
        phone = Client()
        phone.force_login(user)
        for response in (phone.get(STAFF_CASES), phone.post(STAFF_CASES + "claim-next/")):
            assert response.status_code in allowed, (user, response.content)
            assert_error_shape(response)
    assert not ExceptionCase.objects.filter(status=CaseStatus.CLAIMED).exists()


def test_staff_may_use_a_token(agent, pool):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=agent)
    response = Client().get(STAFF_CASES, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert Client().get(STAFF_CASES).status_code == 401


def test_the_raise_form_url_is_the_exceptions_one():
    assert reverse("exceptions-case-new") == "/exceptions/new/"
