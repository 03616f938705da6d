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
IMPORT_COMPLETED = "import.completed"

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
        IMPORT_COMPLETED: _("Import completed"),
    }
)


def order_created_event(*, order, by, actor_label, via, at, save=True):
    return audit_record(
        save=save,
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


def payment_recorded_event(*, order, payment, by, actor_label, at, save=True):
    return audit_record(
        save=save,
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


def import_completed_event(*, model, file_name, totals, by, at=None):
    """One event per committed admin import (django-import-export), whatever its size."""
    return audit_record(
        verb=IMPORT_COMPLETED,
        actor=by,
        reason=file_name,
        at=at,
        payload={
            "model": model._meta.label_lower,
            "file_name": file_name,
            "rows": totals.get("rows", 0),
            "new": totals.get("new", 0),
            "updated": totals.get("update", 0),
            "skipped": totals.get("skip", 0),
        },
    )


# --- Flow control --------------------------------------------------------------
ORDER_CLAIMED = "order.claimed"
ORDER_CLAIM_RELEASED = "order.claim_released"
ORDER_PINNED = "order.pinned"
BREAKER_TRIPPED = "breaker.tripped"
BREAKER_RESET = "breaker.reset"
ALARM_STARTED = "alarm.started"
ALARM_ENDED = "alarm.ended"
SURGE_GRANTED = "surge.granted"
SURGE_ENDED = "surge.ended"
STAGE_SETTING_CHANGED = "stage_setting.changed"

register_verbs(
    {
        ORDER_CLAIMED: _("Order claimed"),
        ORDER_CLAIM_RELEASED: _("Order claim released"),
        ORDER_PINNED: _("Order pinned or unpinned"),
        BREAKER_TRIPPED: _("Circuit breaker tripped"),
        BREAKER_RESET: _("Circuit breaker reset"),
        ALARM_STARTED: _("Backlog alarm started"),
        ALARM_ENDED: _("Backlog alarm ended"),
        SURGE_GRANTED: _("Peak support granted"),
        SURGE_ENDED: _("Peak support ended"),
        STAGE_SETTING_CHANGED: _("Stage settings changed"),
    }
)

# --- Partner API ---------------------------------------------------------------
PARTNER_KEY_CREATED = "partner.key_created"
PARTNER_KEY_REVOKED = "partner.key_revoked"

register_verbs(
    {
        PARTNER_KEY_CREATED: _("Partner API key created"),
        PARTNER_KEY_REVOKED: _("Partner API key revoked"),
    }
)

# --- Partner webhooks ----------------------------------------------------------
WEBHOOK_GIVEN_UP = "webhook.given_up"
WEBHOOK_REPLAYED = "webhook.replayed"
WEBHOOK_RETRIED = "webhook.retried"

register_verbs(
    {
        WEBHOOK_GIVEN_UP: _("Webhook delivery given up"),
        WEBHOOK_REPLAYED: _("Webhook delivery replayed"),
        WEBHOOK_RETRIED: _("Webhook delivery retry requested"),
    }
)


def _webhook_payload(delivery) -> dict:
    return {
        "event_id": str(delivery.event_id),
        "event_type": delivery.event_type,
        "partner_id": delivery.subscription.partner_id,
        "subscription_id": delivery.subscription_id,
        "order_number": delivery.payload.get("data", {}).get("number", ""),
        "attempts": delivery.attempts,
    }


def webhook_given_up_event(*, delivery, at):
    return audit_record(
        verb=WEBHOOK_GIVEN_UP,
        subject=delivery,
        reason=delivery.last_error[:1000],
        at=at,
        payload={**_webhook_payload(delivery), "last_http_status": delivery.last_http_status},
    )


def webhook_replayed_event(*, delivery, by, at):
    """Call before the delivery is reset: the payload says what it was."""
    return audit_record(
        verb=WEBHOOK_REPLAYED,
        actor=by,
        subject=delivery,
        at=at,
        payload={**_webhook_payload(delivery), "status_before": delivery.status},
    )


def webhook_retried_event(*, delivery, by, at):
    return audit_record(
        verb=WEBHOOK_RETRIED,
        actor=by,
        subject=delivery,
        at=at,
        payload={**_webhook_payload(delivery), "next_attempt_was": delivery.next_attempt_at},
    )
