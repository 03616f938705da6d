"""Detectors: open the right exception case when an order turns special.

They run after the change that may have made the order special has committed (intake,
a payment, an edit of its address or invoice), each in its own transaction, and are
idempotent: one open case per order and type, so running one twice opens nothing new.

| type | fires when | holds the order |
|---|---|---|
| presale_payment_due | a presale order is not fully paid | yes |
| address_change | the shipping address changes after sales review | yes |
| invoice_reissue | invoice title or taxpayer ID changes after a payment | no |
| price_difference | money was paid but not exactly the order total | no |

A detector also closes its own case when the cause is gone (the presale is paid, the
paid amount matches the total), with a note saying so.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from exceptions.models import CaseSource, ExceptionCase
from orders.models import Order
from orders.states import OrderStatus

logger = logging.getLogger(__name__)
S = OrderStatus

PRESALE_PAYMENT_DUE = "presale_payment_due"
ADDRESS_CHANGE = "address_change"
INVOICE_REISSUE = "invoice_reissue"
PRICE_DIFFERENCE = "price_difference"
ADDRESS_FIELDS = {
    "ship_name",
    "ship_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_line1",
    "ship_postal_code",
}
INVOICE_FIELDS = {"invoice_title", "invoice_tax_id"}
# Stages before which an address edit is simply part of the review.
BEFORE_REVIEW_DONE = {S.RECEIVED, S.SALES_REVIEW}


def _open(order: Order, code: str, description: str, payload: dict | None = None):
    from exceptions.services.cases import case_open

    if not order.is_open:
        return None
    try:
        case, _created = case_open(
            order,
            type=code,
            source=CaseSource.DETECTOR,
            description=description,
            payload=payload or {},
        )
    except Exception:  # a detector must never break the change that triggered it
        logger.exception("detector %s failed for order %s", code, order.pk)
        return None
    return case


def _close_if_open(order: Order, code: str, note: str) -> None:
    from exceptions.services.cases import case_resolve

    for case in ExceptionCase.objects.open().filter(order=order, type__code=code):
        try:
            case_resolve(case, by=None, note=note)
        except Exception:
            logger.exception("closing %s case %s failed", code, case.pk)


def detect_presale_payment(order: Order, *, new: bool = False) -> None:
    if not order.is_presale:
        return
    if order.is_paid:
        if not new:
            _close_if_open(
                order, PRESALE_PAYMENT_DUE, _("Paid in full: the system closed the case.")
            )
        return
    _open(
        order,
        PRESALE_PAYMENT_DUE,
        _("Presale order not paid in full: %(due)s CNY due. It must not be dispatched.")
        % {"due": order.amount_due},
    )


def detect_price_difference(order: Order, *, new: bool = False) -> None:
    if order.amount_paid > 0 and order.amount_paid != order.total_amount:
        _open(
            order,
            PRICE_DIFFERENCE,
            _("Paid %(paid)s CNY for an order total of %(total)s CNY.")
            % {"paid": order.amount_paid, "total": order.total_amount},
            {"amount_paid": str(order.amount_paid), "total": str(order.total_amount)},
        )
    elif order.amount_paid == order.total_amount and not new:
        _close_if_open(
            order, PRICE_DIFFERENCE, _("Paid amount matches the total: the system closed the case.")
        )


def detect_details_change(order: Order, changes: dict) -> None:
    stage = order.held_from if order.status == S.ON_HOLD else order.status
    address = ADDRESS_FIELDS & set(changes)
    if address and stage not in BEFORE_REVIEW_DONE:
        _open(
            order,
            ADDRESS_CHANGE,
            _("Shipping address changed after review: %(fields)s.")
            % {"fields": ", ".join(sorted(address))},
            {"changes": {k: changes[k] for k in sorted(address)}},
        )
    invoice = INVOICE_FIELDS & set(changes)
    if invoice and order.amount_paid > 0:
        _open(
            order,
            INVOICE_REISSUE,
            _("Invoice details changed after payment: %(fields)s.")
            % {"fields": ", ".join(sorted(invoice))},
            {"changes": {k: changes[k] for k in sorted(invoice)}},
        )


def detect_on_intake(order: Order) -> None:
    # A new order has no case to close: only look for a cause to open one (closing
    # would cost every intake a query for nothing).
    detect_presale_payment(order, new=True)
    detect_price_difference(order, new=True)


def detect_on_payment(order: Order) -> None:
    order = Order.objects.get(pk=order.pk)  # the payment changed it after it was read
    detect_presale_payment(order)
    detect_price_difference(order)
