"""Shared pieces of the partner API tests: partners with keys, the intake body, clients.

The fixtures here (`catalog`, `acme`, `globex`) are bound into each API test module
(`acme = api_helpers.acme`): pytest finds fixtures among a module's names.
"""

from __future__ import annotations

import copy
import itertools
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from backoffice.audit.models import AuditEvent
from orders.models import Customer, Order, Payment, StageVisit
from orders.models.partners import IdempotencyRecord
from orders.services.partners import partner_key_create
from orders.tests.factories import PartnerFactory, ProductFactory, StockLevelFactory

ORDERS = "/api/v1/orders/"

SKUS = ("API-0001", "API-0002")

# The published intake contract (DESIGN.md "Partner REST API"), SKUs of this suite.
INTAKE_BODY = {
    "external_ref": "SHOP-10001",
    "customer": {"ref": "C0001", "name": "Li Ting", "phone": "13800000000"},
    "payment_method": "prepaid",
    "paid": True,
    "coupon_code": None,
    "shipping_address": {
        "name": "Li Ting",
        "phone": "13800000000",
        "province": "Zhejiang",
        "city": "Hangzhou",
        "district": "Xihu",
        "line1": "1 Wensan Rd",
    },
    "lines": [{"sku": SKUS[0], "quantity": 2, "unit_price": "199.00"}],
    "notes": "",
    "placed_at": "2026-01-24T09:30:00+08:00",
    "amount_paid": "398.00",
    "invoice": {"title": "Li Ting", "tax_id": ""},
}

_refs = itertools.count(1)


def intake_body(**overrides) -> dict:
    """A valid intake body with a fresh external_ref unless one is given."""
    body = copy.deepcopy(INTAKE_BODY)
    body["external_ref"] = f"SHOP-{next(_refs):05d}"
    body.update(overrides)
    return body


def products_in_stock(warehouse) -> list:
    products = [ProductFactory(sku=sku, list_price=Decimal("199.00")) for sku in SKUS]
    for product in products:
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=1000)
    return products


def partner_with_key(code: str):
    """A partner and one usable API key of it (the key itself, shown once)."""
    partner = PartnerFactory(code=code, name=code.title())
    return partner, partner_key_create(partner=partner, name=f"{code} test key")


def partner_client(key: str | None = None, *, scheme: str = "x-api-key") -> APIClient:
    client = APIClient()
    if key is not None and scheme == "x-api-key":
        client.credentials(HTTP_X_API_KEY=key)
    elif key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def post_order(client, body, *, key: str | None = "k-1", raw: str | None = None):
    """POST /api/v1/orders/ as JSON (or `raw` text), with an Idempotency-Key unless None."""
    headers = {"Idempotency-Key": key} if key is not None else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post(
        "/api/v1/orders/", data=data, content_type="application/json", headers=headers
    )


def assert_error_shape(response, code: str | None = None) -> dict:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


_attempts = itertools.count(1)


def place(who, **overrides) -> dict:
    """An order placed through the API by `who` (a partner fixture); the 201 body."""
    response = post_order(who.client, intake_body(**overrides), key=f"place-{next(_attempts)}")
    assert response.status_code == 201, response.content
    return response.json()


def written() -> dict[str, int]:
    """Row counts of everything an intake writes."""
    return {
        "orders": Order.objects.count(),
        "visits": StageVisit.objects.count(),
        "audit": AuditEvent.objects.count(),
        "customers": Customer.objects.count(),
        "payments": Payment.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }


def _partner(code: str) -> SimpleNamespace:
    partner, key = partner_with_key(code)
    return SimpleNamespace(partner=partner, key=key, client=partner_client(key))


@pytest.fixture
def catalog(warehouses):
    """The SKUs of INTAKE_BODY, in stock."""
    return products_in_stock(warehouses[0])


@pytest.fixture
def acme(db):
    """The partner whose orders the tests look at."""
    return _partner("acme")


@pytest.fixture
def globex(db):
    """Another partner: must never see or touch acme's orders."""
    return _partner("globex")
