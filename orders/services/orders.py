"""Changes to an order that are not stage transitions: payments, checks inside a
stage (coupon, pick list, QC photo) and edits of its details."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_actor
from orders import events
from orders.models import Order, Payment
from orders.services.errors import (
    ActionForbidden,
    ConcurrentChange,
    InvalidOrderInput,
    TransitionRefused,
    permission_require,
)
from orders.services.intake import MAX_AMOUNT, payment_status_for
from orders.services.lifecycle import order_lock, restoring_on_failure
from orders.signals import order_details_changed, payment_recorded, qc_photo_uploaded
from orders.states import MAIN_LINE, OrderStatus, Via

S = OrderStatus

# Details staff may edit from the order page; everything else moves via services.
EDITABLE_FIELDS = (
    "ship_name",
    "ship_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_line1",
    "ship_postal_code",
    "invoice_title",
    "invoice_tax_id",
    "notes",
    "is_expedited",
)


def order_record_payment(
    order: Order,
    *,
    amount: Decimal,
    reference: str = "",
    paid_at: datetime | None = None,
    by=None,
    actor_label: str = "",
) -> Payment:
    """Record money received for an order (it may arrive after intake)."""
    permission_require(by, "orders.record_payment")
    if amount is None or amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidOrderInput(_("The payment amount must be positive."), code="invalid_amount")
    now = timezone.now()
    paid_at = paid_at or now
    if paid_at > now + timedelta(minutes=5):
        raise InvalidOrderInput(
            _("A payment cannot be dated in the future."), code="invalid_paid_at"
        )
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if order.status == S.CANCELLED:
            raise TransitionRefused(_("A cancelled order cannot take payments."))
        actor = audit_actor(by)
        payment = Payment.objects.create(
            order=order,
            amount=amount.quantize(Decimal("0.01")),
            reference=reference.strip()[:100],
            paid_at=paid_at,
            recorded_by=actor,
            created_at=now,
        )
        order.amount_paid = order.amount_paid + payment.amount
        order.payment_status = payment_status_for(order.amount_paid, order.total_amount)
        order.updated_at = now
        order.save(update_fields=["amount_paid", "payment_status", "updated_at"])
        events.payment_recorded_event(
            order=order, payment=payment, by=actor, actor_label=actor_label, at=now
        )
        transaction.on_commit(
            lambda: payment_recorded.send(sender=Order, order=order, payment=payment)
        )
    return payment


def order_verify_coupon(order: Order, *, by=None, via: str = Via.MANUAL, reason: str = "") -> Order:
    """A person confirms the coupon is valid for this customer (sales review check)."""
    from orders.models import STAGE_PERMISSIONS

    permission_require(by, STAGE_PERMISSIONS[S.SALES_REVIEW])
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if order.coupon_id is None:
            raise TransitionRefused(_("This order has no coupon."), code="no_coupon")
        if order.status != S.SALES_REVIEW:
            raise TransitionRefused(_("Coupons are verified during sales review."))
        now = timezone.now()
        problems = order.coupon.eligibility_problems(customer=order.customer, at=order.placed_at)
        if problems:
            raise TransitionRefused(
                _("The coupon is not valid."), reasons=problems, code="coupon_invalid"
            )
        order.coupon_verified_at = now
        order.coupon_verified_via = via
        order.updated_at = now
        order.save(update_fields=["coupon_verified_at", "coupon_verified_via", "updated_at"])
        events.check_event(
            verb=events.ORDER_COUPON_VERIFIED, order=order, by=by, via=via, reason=reason, at=now
        )
    return order


def order_upload_qc_photo(order: Order, *, photo, by=None) -> Order:
    """Attach the quality-check photo (before dispatch, or owed after urgent dispatch)."""
    from orders.models import STAGE_PERMISSIONS

    permission_require(by, STAGE_PERMISSIONS[S.QUALITY_CHECK])
    if photo is None:
        raise InvalidOrderInput(_("Choose a photo to upload."))
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if order.status not in (S.QUALITY_CHECK, S.DISPATCHED):
            raise TransitionRefused(_("The QC photo is taken at quality check."))
        now = timezone.now()
        order.qc_photo = photo
        order.qc_photo_at = now
        order.updated_at = now
        order.save(update_fields=["qc_photo", "qc_photo_at", "updated_at"])
        events.check_event(verb=events.ORDER_QC_PHOTO, order=order, by=by, via=Via.MANUAL, at=now)
        transaction.on_commit(lambda: qc_photo_uploaded.send(sender=Order, order=order, by=by))
    return order


def order_mark_pick_list_printed(order: Order, *, by=None, now: datetime) -> None:
    """Record that the order's pick list was printed. Caller holds atomic()."""
    order.pick_list_printed_at = now
    order.updated_at = now
    order.save(update_fields=["pick_list_printed_at", "updated_at"])
    events.check_event(
        verb=events.ORDER_PICK_LIST_PRINTED, order=order, by=by, via=Via.MANUAL, at=now
    )


def order_update_details(
    order: Order, *, changes: dict, by=None, expected_version: int | None = None, reason: str = ""
) -> Order:
    """Edit address, invoice and notes, refusing a stale edit (optimistic version check)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidOrderInput(
            _("These fields cannot be edited: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    if by is not None and not by.has_perm("orders.change_order"):
        raise ActionForbidden()
    if order.status not in (*MAIN_LINE, S.ON_HOLD):
        raise TransitionRefused(_("A dispatched or cancelled order can no longer be edited."))
    now = timezone.now()
    with transaction.atomic():
        version = expected_version if expected_version is not None else order.version
        before = Order.objects.filter(pk=order.pk).values(*changes).first() or {}
        updated = Order.objects.filter(pk=order.pk, version=version).update(
            **changes, version=F("version") + 1, updated_at=now
        )
        if updated != 1:
            raise ConcurrentChange()
        for name, value in changes.items():
            setattr(order, name, value)
        order.version = version + 1
        order.updated_at = now
        diff = {k: [before.get(k), v] for k, v in changes.items() if before.get(k) != v}
        if diff:
            events.order_updated_event(order=order, by=by, changes=diff, reason=reason, at=now)
            transaction.on_commit(
                lambda: order_details_changed.send(sender=Order, order=order, changes=diff, by=by)
            )
    return order
