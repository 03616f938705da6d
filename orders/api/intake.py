"""Idempotent order intake for partners: the same Idempotency-Key never makes a
second order, whether the retry comes a day later or at the same instant.

The IdempotencyRecord is inserted in the same transaction as the order and holds
the complete response. Requests with one (partner, key) are serialised by the unique
indexes they write (the order's external_ref, then the record's (partner, key); on
SQLite the IMMEDIATE write transaction already serialises writers): a concurrent
duplicate waits on the first one's uncommitted row, then fails with an
IntegrityError, is rolled back and replays the committed answer; if the first
attempt failed, its insert goes through and it carries on itself. No lock of its
own: that would cost every intake a statement for the rare twin.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework import status

from orders.api.errors import ApiError
from orders.api.serializers import OrderCreatedOut
from orders.models import Coupon, Customer, Order, Partner, Product
from orders.models.partners import IdempotencyRecord
from orders.services import AddressInput, LineInput, OrderInput, order_create
from orders.states import Source, Via

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IntakeResult:
    status_code: int
    body: dict
    replayed: bool


def request_fingerprint(data) -> str:
    """A stable hash of the parsed body (key order and whitespace do not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> IntakeResult:
    if record.request_hash != fingerprint:
        raise ApiError(
            code="idempotency_key_reused",
            message=_(
                "This Idempotency-Key was used with a different request body. Use a new "
                "key for a new order."
            ),
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            details={"idempotency_key": record.key},
        )
    return IntakeResult(record.status_code, record.response_body, replayed=True)


def _customer(partner: Partner, data: dict) -> Customer:
    # get(), not first(): (partner, ref) is unique, and first() would sort by the
    # model's ordering (name, id) for nothing.
    try:
        return Customer.objects.get(partner=partner, ref=data["ref"])
    except Customer.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Customer.objects.create(
                partner=partner,
                ref=data["ref"],
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
            )
    except IntegrityError:  # created by a concurrent request a moment ago
        return Customer.objects.get(partner=partner, ref=data["ref"])


def _products(lines: list[dict]) -> dict[str, Product]:
    skus = {line["sku"] for line in lines}
    found = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    unknown = sorted(skus - set(found))
    if unknown:
        raise ApiError(
            code="unknown_sku",
            message=_("Unknown SKU: %(skus)s.") % {"skus": ", ".join(unknown)},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            details={"skus": unknown},
        )
    return found


def _coupon(code: str | None) -> Coupon | None:
    if not code:
        return None
    coupon = Coupon.objects.filter(code=code).first()
    if coupon is None:
        raise ApiError(
            code="unknown_coupon",
            message=_("Unknown coupon code “%(code)s”.") % {"code": code},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            details={"coupon_code": code},
        )
    return coupon


def _duplicate(partner: Partner, external_ref: str) -> ApiError | None:
    if not external_ref:
        return None
    existing = Order.objects.filter(partner=partner, external_ref=external_ref).first()
    if existing is None:
        return None
    return ApiError(
        code="duplicate_external_ref",
        message=_("Order %(number)s already has the external reference %(ref)s.")
        % {"number": existing.number, "ref": external_ref},
        status_code=status.HTTP_409_CONFLICT,
        details={"number": existing.number, "external_ref": external_ref},
    )


def _order_input(partner: Partner, data: dict) -> OrderInput:
    products = _products(data["lines"])
    address = data["shipping_address"]
    invoice = data.get("invoice") or {}
    return OrderInput(
        customer=_customer(partner, data["customer"]),
        lines=[
            LineInput(
                product=products[line["sku"]],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in data["lines"]
        ],
        shipping=AddressInput(
            name=address["name"],
            phone=address["phone"],
            province=address["province"],
            city=address["city"],
            district=address["district"],
            line1=address["line1"],
            postal_code=address["postal_code"],
        ),
        payment_method=data["payment_method"],
        partner=partner,
        external_ref=data["external_ref"],
        coupon=_coupon(data["coupon_code"]),
        paid=data["paid"],
        amount_paid=data["amount_paid"],
        placed_at=data["placed_at"],
        notes=data["notes"],
        invoice_title=invoice.get("title", ""),
        invoice_tax_id=invoice.get("tax_id", ""),
    )


@functools.cache
def _created_out() -> OrderCreatedOut:
    """The 201 body's serializer, one per process. DRF builds a ModelSerializer's
    fields (and its nested lines') anew for every instance, which costs intake as
    much as a query; rendering with `to_representation` only reads them, so threads
    may share one. Built completely here, before anyone shares it."""
    serializer = OrderCreatedOut()
    serializer.fields["lines"].child.fields  # noqa: B018  (build the nested fields now)
    return serializer


def order_intake(*, partner: Partner, key: str, fingerprint: str, data: dict) -> IntakeResult:
    """Create the order of a validated intake body, exactly once per (partner, key)."""
    # A twin (same key) and a duplicate external_ref are both caught by a unique index
    # (IntegrityError below): no extra query on the happy path. The order number is
    # random: on the (astronomically rare) clash of two, the whole attempt is retried.
    for attempt in range(3):
        try:
            return _intake_once(partner=partner, key=key, fingerprint=fingerprint, data=data)
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
            if record is not None:
                return _replay(record, fingerprint)
            duplicate = _duplicate(partner, data["external_ref"])
            if duplicate is not None:
                raise duplicate from None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _intake_once(*, partner: Partner, key: str, fingerprint: str, data: dict) -> IntakeResult:
    with transaction.atomic():
        # A retry of an answered request (a twin still running is caught by the
        # unique indexes, see the module docstring).
        record = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
        if record is not None:
            return _replay(record, fingerprint)
        order = order_create(
            _order_input(partner, data),
            actor_label=f"partner:{partner.code}",
            source=Source.API,
            via=Via.API,
            retry_number=False,
        )
        # Plain dicts and strings already: the JSON column stores them as they are.
        body = _created_out().to_representation(order)
        IdempotencyRecord.objects.create(
            partner=partner,
            key=key,
            request_hash=fingerprint,
            status_code=201,
            response_body=body,
            order=order,
        )
    return IntakeResult(201, body, replayed=False)
