"""One small function per audit event of the orders app (Saleor's events.py style).

Verbs are stable slugs; their labels are registered for the audit admin.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_record
from backoffice.audit.verbs import register_verbs

ORDER_CREATED = "order.created"
ORDER_TRANSITION = "order.transition"
ORDER_UPDATED = "order.updated"
ORDER_PAYMENT_RECORDED = "order.payment_recorded"
ORDER_COUPON_VERIFIED = "order.coupon_verified"
ORDER_QC_PHOTO = "order.qc_photo"
ORDER_CHECK_WAIVED = "order.check_waived"
ORDER_PICK_LIST_PRINTED = "order.pick_list_printed"
STOCK_RESERVED = "stock.reserved"
STOCK_RELEASED = "stock.released"
STOCK_SHIPPED = "stock.shipped"

register_verbs(
    {
        ORDER_CREATED: _("Order created"),
        ORDER_TRANSITION: _("Order moved to another stage"),
        ORDER_UPDATED: _("Order details edited"),
        ORDER_PAYMENT_RECORDED: _("Payment recorded"),
        ORDER_COUPON_VERIFIED: _("Coupon verified"),
        ORDER_QC_PHOTO: _("QC photo uploaded"),
        ORDER_CHECK_WAIVED: _("Check waived"),
        ORDER_PICK_LIST_PRINTED: _("Pick list printed"),
        STOCK_RESERVED: _("Stock reserved"),
        STOCK_RELEASED: _("Stock released"),
        STOCK_SHIPPED: _("Stock shipped"),
    }
)


def order_created_event(*, order, by, actor_label, via, at):
    return audit_record(
        verb=ORDER_CREATED,
        actor=by,
        actor_label=actor_label,
        subject=order,
        at=at,
        payload={
            "via": via,
            "source": order.source,
            "external_ref": order.external_ref,
            "total_amount": order.total_amount,
            "payment_method": order.payment_method,
        },
    )


def order_transition_event(
    *, order, by, actor_label, source, target, transition, via, reason, detail, at
):
    return audit_record(
        verb=ORDER_TRANSITION,
        actor=by,
        actor_label=actor_label,
        subject=order,
        reason=reason,
        at=at,
        payload={
            "from": source,
            "to": target,
            "transition": transition,
            "via": via,
            **({"detail": detail} if detail else {}),
        },
    )


def order_updated_event(*, order, by, changes, reason, at):
    return audit_record(
        verb=ORDER_UPDATED,
        actor=by,
        subject=order,
        reason=reason,
        at=at,
        payload={"changes": changes},
    )


def payment_recorded_event(*, order, payment, by, actor_label, at):
    return audit_record(
        verb=ORDER_PAYMENT_RECORDED,
        actor=by,
        actor_label=actor_label,
        subject=order,
        at=at,
        payload={
            "amount": payment.amount,
            "reference": payment.reference,
            "paid_at": payment.paid_at,
            "amount_paid": order.amount_paid,
            "payment_status": order.payment_status,
        },
    )


def check_event(*, verb, order, by, actor_label="", via, reason="", detail=None, at):
    return audit_record(
        verb=verb,
        actor=by,
        actor_label=actor_label,
        subject=order,
        reason=reason,
        at=at,
        payload={"via": via, **({"detail": detail} if detail else {})},
    )


def stock_event(*, verb, order, by, actor_label="", lines, at):
    return audit_record(
        verb=verb, actor=by, actor_label=actor_label, subject=order, at=at, payload={"lines": lines}
    )
