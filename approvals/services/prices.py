"""Price changes: a new unit price for one order line, approved by a manager, or applied
at once with an authorization code while the `price_change_code` bypass is on.

A pending price change keeps sales review open (`price_change_blockers`, asked by the
approvals router at every routing decision). Approving, rejecting or withdrawing the
last one lets the router move the order on again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals import events
from approvals.conditions import condition_compile
from approvals.facts import order_facts
from approvals.models import BypassSwitch, BypassUse, BypassWindow, PriceChangeRequest, SwitchKind
from approvals.models.codes import CodeScope
from approvals.services.codes import (
    CodeRefused,
    authorization_code_check,
    authorization_code_use_record,
)
from backoffice.audit.services import audit_actor, audit_record
from backoffice.notifications.services import notify
from orders.models import Order, OrderLine
from orders.routing import is_being_created
from orders.services.errors import (
    ActionForbidden,
    InvalidOrderInput,
    TransitionRefused,
    permission_require,
)
from orders.services.intake import CENT, MAX_AMOUNT, payment_status_for
from orders.services.lifecycle import order_lock, order_route_forward, restoring_on_failure
from orders.states import OrderStatus, Via

S = OrderStatus
Status = PriceChangeRequest.Status
ADD_PERMISSION = "approvals.add_pricechangerequest"
APPROVE_PERMISSION = "approvals.approve_pricechangerequest"
# Prices change before the warehouse starts (and finance has checked them).
EARLY_STAGES = (S.RECEIVED, S.SALES_REVIEW, S.FINANCE_REVIEW)
# A new price above ten times the list price is a typo, not a price change.
MAX_PRICE_FACTOR = 10


def price_change_allowed(order: Order) -> bool:
    """Whether the order is early enough for its prices to change (also when on hold)."""
    stage = order.held_from if order.status == S.ON_HOLD else order.status
    return stage in EARLY_STAGES


def _check_stage(order: Order) -> None:
    if not price_change_allowed(order):
        raise TransitionRefused(
            _("Prices can only change before stock reservation (the order is in “%(stage)s”).")
            % {"stage": order.get_status_display()},
            code="price_change_too_late",
        )


def price_change_deviation(list_price: Decimal, new_unit_price: Decimal) -> Decimal:
    """(new - list) / list * 100, signed, to two decimals."""
    return ((new_unit_price - list_price) / list_price * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _clean_input(new_unit_price, reason: str) -> tuple[Decimal, str]:
    try:
        price = Decimal(str(new_unit_price))
    except (InvalidOperation, ValueError, TypeError):
        price = None
    if price is None or not price.is_finite() or price < 0 or price > MAX_AMOUNT:
        raise InvalidOrderInput(_("The new unit price is out of range."), code="invalid_price")
    if price != price.quantize(CENT):
        raise InvalidOrderInput(_("Prices have at most two decimals."), code="invalid_price")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidOrderInput(_("Say why the price changes."), code="reason_required")
    if len(reason) > 300:
        raise InvalidOrderInput(_("The reason is too long (300 characters at most)."))
    return price, reason


def _fresh_line(order: Order, line: OrderLine) -> OrderLine:
    fresh = OrderLine.objects.filter(pk=getattr(line, "pk", line), order_id=order.pk).first()
    if fresh is None:
        raise InvalidOrderInput(_("This line is not part of the order."), code="unknown_line")
    return fresh


def _deviation_for(line: OrderLine, price: Decimal) -> Decimal:
    if line.list_price <= 0:
        raise InvalidOrderInput(
            _("Line %(sku)s has no list price: its price cannot be changed here.")
            % {"sku": line.sku},
            code="no_list_price",
        )
    if price > line.list_price * MAX_PRICE_FACTOR:
        raise InvalidOrderInput(
            _("The new price is more than %(n)s times the list price.") % {"n": MAX_PRICE_FACTOR},
            code="invalid_price",
        )
    if price == line.unit_price:
        raise InvalidOrderInput(_("The line already has this price."), code="price_unchanged")
    return price_change_deviation(line.list_price, price)


def _change_payload(change: PriceChangeRequest, line: OrderLine, **extra) -> dict:
    return {
        "price_change_id": change.pk,
        "line_id": line.pk,
        "sku": line.sku,
        "list_price": change.list_price,
        "old_unit_price": change.old_unit_price,
        "new_unit_price": change.new_unit_price,
        "deviation_pct": change.deviation_pct,
        **extra,
    }


def _change_new(order, line, *, price, deviation, reason, actor, now, **decision):
    return PriceChangeRequest.objects.create(
        order=order,
        line=line,
        list_price=line.list_price,
        old_unit_price=line.unit_price,
        new_unit_price=price,
        deviation_pct=deviation,
        reason=reason,
        requested_at=now,
        requested_by=actor,
        **decision,
    )


def _supervisors(excluding=None):
    people = get_user_model().objects.filter(
        is_active=True, groups__name=settings.SUPERVISORS_GROUP
    )
    return people.exclude(pk=excluding.pk).distinct() if excluding else people.distinct()


def _apply_price(order: Order, line: OrderLine, price: Decimal, now: datetime) -> dict:
    """Write the new unit price and the order's totals, bump its version. Caller holds
    the order's row lock. Returns the totals before and after."""
    lines = OrderLine.objects.filter(order_id=order.pk).values_list("pk", "unit_price", "quantity")
    goods = sum(
        ((price if pk == line.pk else unit) * quantity for pk, unit, quantity in lines),
        Decimal("0"),
    ).quantize(CENT)
    row = Order.objects.filter(pk=order.pk).values(
        "discount_amount", "amount_paid", "version", "total_amount"
    )[0]
    total = max(goods - row["discount_amount"], Decimal("0")).quantize(CENT)
    if total > MAX_AMOUNT:
        raise InvalidOrderInput(_("The order total would be out of range."), code="invalid_price")
    payment_status = payment_status_for(row["amount_paid"], total)
    OrderLine.objects.filter(pk=line.pk).update(unit_price=price)
    Order.objects.filter(pk=order.pk).update(
        goods_amount=goods,
        total_amount=total,
        payment_status=payment_status,
        version=F("version") + 1,
        updated_at=now,
    )
    order.goods_amount, order.total_amount, order.payment_status = goods, total, payment_status
    order.version, order.updated_at = row["version"] + 1, now
    order.__dict__.get("_prefetched_objects_cache", {}).pop("lines", None)
    line.unit_price = price
    return {"total_before": row["total_amount"], "total_after": total}


# --- Asking for a price change ---------------------------------------------------------


def price_change_request(
    order: Order, *, line: OrderLine, new_unit_price: Decimal, reason: str, by
) -> PriceChangeRequest:
    """Ask a manager to approve a new unit price for one line (one pending per line)."""
    permission_require(by, ADD_PERMISSION)
    price, reason = _clean_input(new_unit_price, reason)
    now, actor = timezone.now(), audit_actor(by)
    with transaction.atomic():
        order_lock(order)
        _check_stage(order)
        line = _fresh_line(order, line)
        deviation = _deviation_for(line, price)
        try:
            with transaction.atomic():
                change = _change_new(
                    order,
                    line,
                    price=price,
                    deviation=deviation,
                    reason=reason,
                    actor=actor,
                    now=now,
                )
        except IntegrityError as exc:
            raise InvalidOrderInput(
                _("A price change for %(sku)s is already waiting for approval.")
                % {"sku": line.sku},
                code="price_change_pending",
            ) from exc
        audit_record(
            verb=events.PRICE_CHANGE_REQUESTED,
            actor=actor,
            subject=order,
            reason=reason,
            at=now,
            payload=_change_payload(change, line),
        )
        notify(
            recipients=_supervisors(excluding=actor),
            subject=_("Price change to approve"),
            text=_("Order %(number)s, %(sku)s: %(old)s → %(new)s CNY (%(dev)s %%)")
            % {
                "number": order.number,
                "sku": line.sku,
                "old": change.old_unit_price,
                "new": price,
                "dev": deviation,
            },
            link=reverse("admin:approvals_pricechangerequest_change", args=[change.pk]),
            event=events.PRICE_CHANGE_REQUESTED,
        )
    return change


# --- Deciding --------------------------------------------------------------------------


def _decide(change: PriceChangeRequest, status: str, *, by, note: str, verb: str):
    """Move a pending change to `status` (one conditional UPDATE: of two concurrent
    deciders exactly one wins), apply its price if approved, let the order move on."""
    now, actor = timezone.now(), audit_actor(by)
    order = Order.objects.get(pk=change.order_id)
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        decided = PriceChangeRequest.objects.filter(pk=change.pk, status=Status.PENDING).update(
            status=status, decided_at=now, decided_by=actor, decision_note=note[:300]
        )
        if decided != 1:
            raise TransitionRefused(
                _("This price change has already been decided."), code="not_pending"
            )
        line = OrderLine.objects.get(pk=change.line_id)
        extra = {}
        if status == Status.APPROVED:
            _check_stage(order)
            change.old_unit_price = line.unit_price  # what it replaces now
            extra = _apply_price(order, line, change.new_unit_price, now)
        change.status, change.decided_at, change.decided_by = status, now, actor
        change.decision_note = note[:300]
        audit_record(
            verb=verb,
            actor=actor,
            subject=order,
            reason=note,
            at=now,
            payload=_change_payload(change, line, **extra),
        )
        if change.requested_by_id and change.requested_by_id != getattr(actor, "pk", None):
            notify(
                recipients=[change.requested_by],
                subject=_("Price change decided: %(decision)s")
                % {"decision": change.get_status_display()},
                text=_("Order %(number)s, %(sku)s: %(old)s → %(new)s CNY")
                % {
                    "number": order.number,
                    "sku": line.sku,
                    "old": change.old_unit_price,
                    "new": change.new_unit_price,
                },
                link=reverse("admin:orders_order_change", args=[order.pk]),
                event=verb,
            )
        if order.status == S.SALES_REVIEW:
            order_route_forward(order, now=now)
    return change


def price_change_approve(change: PriceChangeRequest, *, by, note: str = "") -> PriceChangeRequest:
    """Approve and apply: the line gets the new price, the order new totals and version."""
    permission_require(by, APPROVE_PERMISSION)
    if by is not None and change.requested_by_id == by.pk:
        raise ActionForbidden(
            _("You cannot approve your own price change."), code="own_price_change"
        )
    note = (note or "").strip()
    return _decide(change, Status.APPROVED, by=by, note=note, verb=events.PRICE_CHANGE_APPROVED)


def price_change_reject(change: PriceChangeRequest, *, by, note: str) -> PriceChangeRequest:
    permission_require(by, APPROVE_PERMISSION)
    note = (note or "").strip()
    if not note:
        raise InvalidOrderInput(_("Say why the price change is rejected."), code="note_required")
    return _decide(change, Status.REJECTED, by=by, note=note, verb=events.PRICE_CHANGE_REJECTED)


def price_change_withdraw(change: PriceChangeRequest, *, by) -> PriceChangeRequest:
    """The requester (or an approver) takes a pending change back."""
    if by is not None and change.requested_by_id != by.pk and not by.has_perm(APPROVE_PERMISSION):
        raise ActionForbidden()
    return _decide(change, Status.WITHDRAWN, by=by, note="", verb=events.PRICE_CHANGE_WITHDRAWN)


# --- Applying at once with an authorization code ---------------------------------------


def price_code_bypass_window(now: datetime | None = None) -> BypassWindow | None:
    """The window of the `price_change_code` bypass if it is on now, else None."""
    switch = (
        BypassSwitch.objects.filter(kind=SwitchKind.PRICE_CHANGE_CODE)
        .select_related("current_window")
        .first()
    )
    window = switch.current_window if switch is not None else None
    return window if window is not None and window.is_active(now or timezone.now()) else None


def _active_window(order: Order, now: datetime) -> BypassWindow:
    window = price_code_bypass_window(now)
    if window is None:
        raise CodeRefused(
            _("Price changes by authorization code are switched off."), code="code_bypass_off"
        )
    if window.scope:
        try:
            in_scope = condition_compile(window.scope, allow_empty=True)(order_facts(order))
        except ValueError:
            in_scope = False
        if not in_scope:
            raise CodeRefused(
                _("The authorization-code bypass does not cover this order."),
                code="code_bypass_out_of_scope",
            )
    return window


def price_change_apply_with_code(
    order: Order,
    *,
    line: OrderLine,
    new_unit_price: Decimal,
    reason: str,
    code: str,
    by,
    ip: str | None = None,
) -> PriceChangeRequest:
    """Apply a new price at once, signed off by an authorization code (within its cap).

    Call outside a transaction: a wrong code's failed attempt must stay counted.
    """
    permission_require(by, ADD_PERMISSION)
    price, reason = _clean_input(new_unit_price, reason)
    _check_stage(order)
    line = _fresh_line(order, line)
    deviation = _deviation_for(line, price)
    if PriceChangeRequest.objects.filter(line=line, status=Status.PENDING).exists():
        raise InvalidOrderInput(
            _("A price change for %(sku)s is already waiting for approval.") % {"sku": line.sku},
            code="price_change_pending",
        )
    now, actor = timezone.now(), audit_actor(by)
    _active_window(order, now)
    auth = authorization_code_check(
        code, by=by, scope=CodeScope.PRICE_CHANGE, ip=ip, order=order, now=now
    )
    if abs(deviation) > auth.max_deviation_pct:
        raise CodeRefused(
            _("A %(dev)s %% change is beyond this code's limit of %(cap)s %%.")
            % {"dev": deviation, "cap": auth.max_deviation_pct},
            code="code_over_cap",
        )
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        _check_stage(order)
        window = _active_window(order, now)
        line = _fresh_line(order, line)
        change = _change_new(
            order,
            line,
            price=price,
            deviation=deviation,
            reason=reason,
            actor=actor,
            now=now,
            status=Status.APPLIED_WITH_CODE,
            decided_at=now,
            decided_by=actor,
        )
        totals = _apply_price(order, line, price, now)
        authorization_code_use_record(
            auth,
            order=order,
            price_change=change,
            by=by,
            deviation_pct=deviation,
            reason=reason,
            ip=ip,
            now=now,
        )
        BypassWindow.objects.filter(pk=window.pk).update(uses=F("uses") + 1)
        BypassUse.objects.create(
            window=window,
            kind=SwitchKind.PRICE_CHANGE_CODE,
            order=order,
            at=now,
            by=actor,
            detail={"price_change_id": change.pk, "code_id": auth.pk},
        )
        code_facts = {"via": Via.AUTH_CODE, "code_id": auth.pk, "code_label": auth.label}
        audit_record(
            verb=events.PRICE_CHANGE_APPLIED,
            actor=actor,
            subject=order,
            reason=reason,
            at=now,
            payload=_change_payload(change, line, **code_facts, **totals),
        )
    return change


# --- What blocks the order -------------------------------------------------------------


def price_change_blockers(order: Order, stage: str) -> list[str]:
    """One reason per pending price change of the order, for sales review. One query
    (the partial index `price_change_pending`); none for an unsaved order."""
    if stage != S.SALES_REVIEW or order.pk is None or is_being_created(order):
        return []
    skus = PriceChangeRequest.objects.filter(order_id=order.pk, status=Status.PENDING).values_list(
        "line__sku", flat=True
    )
    return [
        str(_("A price change is waiting for approval (SKU %(sku)s).") % {"sku": sku})
        for sku in skus
    ]
