"""Who may call what on the API: a BOLA matrix over every endpoint and identity,
throttling per key, the staff endpoints (session/token, staff only), the
`create_partner` command, the OpenAPI document and the Swagger UI."""

from __future__ import annotations

import json
import re
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.models import Order
from orders.models.partners import PartnerAPIKey
from orders.services.partners import partner_key_create, partner_key_revoke
from orders.states import OrderStatus
from orders.tests import api_helpers
from orders.tests.api_helpers import (
    ORDERS,
    assert_error_shape,
    intake_body,
    partner_client,
    partner_with_key,
    place,
    post_order,
)
from orders.tests.factories import UserFactory, stage_configure

S = OrderStatus
catalog = api_helpers.catalog
acme = api_helpers.acme
globex = api_helpers.globex


# --- Who may see what (BOLA) ---------------------------------------------------


@pytest.fixture
def world(catalog, acme, globex):
    """acme's order (the target), globex's order, and the identities of the matrix."""
    target = place(acme, external_ref="ACME-SECRET-REF")
    other = place(globex, external_ref="GLOBEX-SECRET-REF")
    revoked_key = partner_key_create(partner=acme.partner, name="old")
    prefix = revoked_key.split(".")[0]
    partner_key_revoke(PartnerAPIKey.objects.get(prefix=prefix), reason="leaked")
    forged = acme.key.split(".")[0] + ".forged-secret"
    secrets = {
        "acme": {other["number"], other["external_ref"]},
        "globex": {target["number"], target["external_ref"]},
    }
    everything = secrets["acme"] | secrets["globex"]
    return SimpleNamespace(
        target=target,
        other=other,
        clients={
            "owner": (acme.client, secrets["acme"]),
            "other partner": (globex.client, secrets["globex"]),
            "no key": (partner_client(None), everything),
            "revoked key": (partner_client(revoked_key), everything),
            "garbage key": (partner_client("garbage"), everything),
            "forged key": (partner_client(forged), everything),
            "nul key": (partner_client("ab\x00cd.ef"), everything),
        },
    )


def _call(client, endpoint: str, number: str):
    if endpoint == "list":
        return client.get(ORDERS)
    if endpoint == "create":
        return post_order(client, intake_body(), key=f"bola-{timezone.now()}")
    if endpoint == "retrieve":
        return client.get(f"{ORDERS}{number}/")
    if endpoint == "cancel":
        return client.post(f"{ORDERS}{number}/cancel/", {"reason": "bola"}, format="json")
    if endpoint == "payment":
        return client.post(f"{ORDERS}{number}/payment/", {"amount": "1.00"}, format="json")
    if endpoint == "staff todo":
        return client.get("/api/v1/staff/todo/")
    if endpoint == "staff claim":
        return client.post("/api/v1/staff/queues/sales_review/claim-next/")
    if endpoint == "staff transition":
        return client.post(f"/api/v1/staff/orders/{number}/transitions/approve_sales/")
    raise AssertionError(endpoint)


OWNER_STATUS = {"list": 200, "create": 201, "retrieve": 200, "cancel": 200, "payment": 201}
OTHER_STATUS = {"list": 200, "create": 201, "retrieve": 404, "cancel": 404, "payment": 404}
STAFF_ENDPOINTS = ("staff todo", "staff claim", "staff transition")
IDENTITIES = (
    "owner",
    "other partner",
    "no key",
    "revoked key",
    "garbage key",
    "forged key",
    "nul key",
)


@pytest.mark.parametrize("endpoint", [*OWNER_STATUS, *STAFF_ENDPOINTS])
@pytest.mark.parametrize("identity", IDENTITIES)
def test_bola_matrix(world, identity, endpoint):
    client, forbidden = world.clients[identity]
    target = world.target["number"]
    target_before = Order.objects.values("status", "amount_paid").get(number=target)

    response = _call(client, endpoint, target)

    if endpoint in STAFF_ENDPOINTS:
        # Partner keys mean nothing here: no session or token, so not authenticated.
        expected = 401
    elif identity == "owner":
        expected = OWNER_STATUS[endpoint]
    elif identity == "other partner":
        expected = OTHER_STATUS[endpoint]
    else:
        expected = 401
    assert response.status_code == expected, response.content
    text = response.content.decode()
    leaked = [secret for secret in forbidden if secret in text]
    assert leaked == []
    if expected >= 400:
        assert_error_shape(response)
    if expected == 401:
        scheme = "Token" if endpoint in STAFF_ENDPOINTS else "Api-Key"
        assert response["WWW-Authenticate"] == scheme
    if endpoint == "list" and identity in ("owner", "other partner"):
        own = world.target if identity == "owner" else world.other
        assert [row["number"] for row in response.json()["results"]] == [own["number"]]
    if not (identity == "owner" and endpoint in ("cancel", "payment")):
        assert Order.objects.values("status", "amount_paid").get(number=target) == target_before


def test_a_disabled_partner_is_refused(catalog, acme):
    acme.partner.is_active = False
    acme.partner.save(update_fields=["is_active"])
    response = acme.client.get(ORDERS)
    assert response.status_code == 401
    assert_error_shape(response, "authentication_failed")


# --- Throttling -----------------------------------------------------------------


def test_requests_beyond_the_rate_are_a_429_per_key(acme, globex, settings):
    settings.API_THROTTLE_RATE = "3/min"  # read by the throttle on every request

    answers = [acme.client.get(ORDERS).status_code for _ in range(3)]
    throttled = acme.client.get(ORDERS)

    assert answers == [200, 200, 200]
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    error = assert_error_shape(throttled, "throttled")
    assert error["details"]["retry_after_seconds"] == int(throttled["Retry-After"])
    assert globex.client.get(ORDERS).status_code == 200
    # Another key of the same partner counts apart (the throttle is per key).
    second_key = partner_with_key("acme")[1]
    assert partner_client(second_key).get(ORDERS).status_code == 200


# --- Staff endpoints ------------------------------------------------------------


@pytest.fixture
def sales_phone(sales_clerk):
    client = Client()
    client.force_login(sales_clerk)
    return client


def test_staff_todo_is_json(sales_phone, catalog, acme):
    place(acme)
    response = sales_phone.get("/api/v1/staff/todo/")
    assert response.status_code == 200
    data = response.json()
    assert {"stages", "claimed", "pinned", "overdue", "notifications"} <= set(data)
    waiting = {row["stage"]: row["waiting"] for row in data["stages"]}
    assert waiting[S.SALES_REVIEW] == 1
    assert set(waiting) <= {S.RECEIVED, S.SALES_REVIEW}  # the sales team's stages


def test_staff_claim_next_hands_out_an_order_then_nothing(sales_phone, sales_clerk, catalog, acme):
    stage_configure(S.SALES_REVIEW, wip_limit=None, person_cap=None)
    number = place(acme)["number"]
    url = f"/api/v1/staff/queues/{S.SALES_REVIEW}/claim-next/"

    claimed = sales_phone.post(url)
    empty = sales_phone.post(url)

    assert claimed.status_code == 200
    assert claimed.json()["number"] == number
    assert Order.objects.get(number=number).claimed_by == sales_clerk
    assert empty.status_code == 204
    assert empty.content == b""
    assert AuditEvent.objects.filter(verb="order.claimed", actor=sales_clerk).count() == 1


def test_staff_claim_next_is_a_409_at_the_cap(sales_phone, catalog, acme):
    stage_configure(S.SALES_REVIEW, wip_limit=10, person_cap=1)
    place(acme)
    place(acme)
    url = f"/api/v1/staff/queues/{S.SALES_REVIEW}/claim-next/"
    assert sales_phone.post(url).status_code == 200

    refused = sales_phone.post(url)

    assert refused.status_code == 409
    assert_error_shape(refused, "person_cap")
    assert Order.objects.filter(claimed_by__isnull=False).count() == 1


def test_staff_claim_next_elsewhere_is_refused(sales_phone):
    forbidden = sales_phone.post(f"/api/v1/staff/queues/{S.PICKING}/claim-next/")
    assert forbidden.status_code == 403
    assert_error_shape(forbidden, "permission_denied")
    unknown = sales_phone.post("/api/v1/staff/queues/nowhere/claim-next/")
    assert unknown.status_code == 404
    assert_error_shape(unknown, "not_found")


def test_staff_transition_goes_through_the_service(sales_phone, sales_clerk, catalog, acme):
    number = place(acme)["number"]
    url = f"/api/v1/staff/orders/{number}/transitions/approve_sales/"

    response = sales_phone.post(url, {"reason": "checked"}, content_type="application/json")

    assert response.status_code == 200, response.content
    order = Order.objects.get(number=number)
    assert response.json()["status"] == order.status
    assert order.status != S.SALES_REVIEW
    review = order.visits.get(stage=S.SALES_REVIEW)
    assert (review.actor, review.via) == (sales_clerk, "manual")
    assert review.left_at is not None
    assert AuditEvent.objects.filter(
        verb="order.transition", actor=sales_clerk, subject_id=str(order.pk)
    ).exists()


def test_staff_transition_refusals(sales_phone, catalog, acme):
    number = place(acme)["number"]
    base = f"/api/v1/staff/orders/{number}/transitions/"
    json_type = "application/json"

    unknown_step = sales_phone.post(base + "teleport/", content_type=json_type)
    assert unknown_step.status_code == 404
    assert_error_shape(unknown_step, "unknown_step")
    wrong_stage = sales_phone.post(base + "approve_finance/", content_type=json_type)
    assert wrong_stage.status_code == 422
    assert_error_shape(wrong_stage)
    forbidden = sales_phone.post(base + "dispatch/", {"carrier": "SF"}, json_type)
    assert forbidden.status_code in (403, 422)
    assert_error_shape(forbidden)
    unknown_field = sales_phone.post(base + "hold/", {"why": "x"}, json_type)
    assert unknown_field.status_code == 400
    assert_error_shape(unknown_field, "validation_error")
    form = sales_phone.post(base + "hold/", {"reason": "x"})
    assert form.status_code == 415
    for missing in ("SO000000-NOPE", "SO%00X", "x" * 300):
        no_order = sales_phone.post(
            f"/api/v1/staff/orders/{missing}/transitions/hold/", content_type=json_type
        )
        assert no_order.status_code == 404
        assert_error_shape(no_order, "not_found")
    assert Order.objects.get(number=number).status == S.SALES_REVIEW


def test_staff_endpoints_refuse_partner_keys_and_non_staff(catalog, acme):
    place(acme)
    clerk = UserFactory(username="not_staff", is_staff=False, groups=[teams.SALES])
    non_staff = Client()
    non_staff.force_login(clerk)
    for client in (acme.client, non_staff):
        for response in (
            client.get("/api/v1/staff/todo/"),
            client.post(f"/api/v1/staff/queues/{S.SALES_REVIEW}/claim-next/"),
        ):
            assert response.status_code in (401, 403)
            assert_error_shape(response)
    assert not Order.objects.filter(claimed_by__isnull=False).exists()


def test_staff_may_use_a_token(sales_clerk):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=sales_clerk)
    response = Client().get("/api/v1/staff/todo/", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200


def test_a_staff_session_is_not_a_partner(sales_phone):
    response = sales_phone.get(ORDERS)
    assert response.status_code == 401
    assert_error_shape(response, "not_authenticated")


# --- create_partner, schema, docs ----------------------------------------------


def test_create_partner_prints_a_key_that_authenticates(db):
    out = StringIO()

    call_command("create_partner", "Acme Trading", "--quiet", stdout=out)

    key = out.getvalue().strip()
    assert re.fullmatch(r"[A-Za-z0-9]+\.[A-Za-z0-9]+", key)
    response = partner_client(key).get(ORDERS)
    assert response.status_code == 200
    assert PartnerAPIKey.objects.get().partner.code == "acme-trading"
    assert key not in str(PartnerAPIKey.objects.values_list("hashed_key", flat=True)[0])


def test_the_schema_is_a_valid_openapi_3_document(client):
    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)  # raises on an invalid document

    response = client.get("/api/schema/", headers={"Accept": "application/json"})

    assert response.status_code == 200
    served = json.loads(response.content)
    assert served["openapi"].startswith("3.")
    validate_schema(served)
    assert {
        "/api/v1/orders/",
        "/api/v1/orders/{number}/",
        "/api/v1/orders/{number}/cancel/",
        "/api/v1/orders/{number}/payment/",
        "/api/v1/staff/todo/",
        "/api/v1/staff/queues/{stage}/claim-next/",
        "/api/v1/staff/orders/{number}/transitions/{name}/",
    } <= set(served["paths"])
    assert {"OrderInRequest", "OrderOut", "ErrorOut"} <= set(served["components"]["schemas"])
    assert served["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    create = served["paths"]["/api/v1/orders/"]["post"]
    assert {"201", "400", "401", "409", "422", "429"} <= set(create["responses"])


def test_the_docs_render_from_local_assets_only(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
