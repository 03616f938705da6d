"""Moving orders through the lifecycle.

Every state change goes through `_apply_transition`: lock and re-check the order,
check permission and guards, run the FSM transition, save with `update_fields`,
close the open timeline visit and open the next, write the audit event, and send
`order_status_changed` after commit. Admin buttons, bulk actions, the API, imports
and jobs all call the public functions of this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import TransitionNotAllowed, can_proceed

from backoffice.audit.services import audit_actor
from backoffice.claims import claim_release_counters
from orders import events, routing
from orders.models import Customer, Order, StageVisit
from orders.services.breakers import breaker_check_on_entry
from orders.services.errors import (
    ActionForbidden,
    ConcurrentChange,
    InvalidOrderInput,
    TransitionRefused,
)
from orders.services.queues import queue_key
from orders.services.webhooks import webhook_event_type_for, webhook_events_record
from orders.signals import order_status_changed
from orders.states import AUTO_PASSABLE, MAIN_LINE, OPEN_STAGES, OrderStatus, PaymentMethod, Via

S = OrderStatus

# The transition that completes each main-line stage.
COMPLETING_TRANSITION = {
    S.RECEIVED: "accept",
    S.SALES_REVIEW: "approve_sales",
    S.FINANCE_REVIEW: "approve_finance",
    S.STOCK_RESERVATION: "reserve_stock",
    S.PICKING: "finish_picking",
    S.QUALITY_CHECK: "dispatch",
}
TRANSITION_NAMES = (
    "accept",
    "approve_sales",
    "approve_finance",
    "reserve_stock",
    "finish_picking",
    "dispatch",
    "hold",
    "release",
    "cancel",
)

# Columns each transition writes: the state and its clock, plus what the transition
# (or a waiver applied with it) sets. The busiest UPDATE of the product stays small.
_BASE_FIELDS = ["status", "stage_entered_at", "updated_at"]
_EXTRA_FIELDS = {
    "approve_sales": ["coupon_verified_at", "coupon_verified_via"],
    "hold": ["held_from"],
    "release": ["held_from"],
    "dispatch": ["carrier", "tracking_number", "dispatched_at", "qc_photo_waived_at"],
    "cancel": ["cancel_reason", "cancelled_at"],
}


def transition_label(name: str) -> str:
    meta = getattr(Order, name)._django_fsm
    any_transition = next(iter(meta.transitions.values()))
    return str(any_transition.custom.get("label", name))


def _transition_for(order: Order, name: str):
    """The django-fsm Transition `name` from the order's current state, or None."""
    if name not in TRANSITION_NAMES:
        return None
    return getattr(Order, name)._django_fsm.get_transition(order.status)


@contextmanager
def restoring_on_failure(order: Order) -> Iterator[None]:
    """Reload `order` from the database when an action fails.

    A transition changes the instance before its save is refused; after the
    rollback the caller must not keep an instance that claims a state the
    database never had.
    """
    try:
        yield
    except Exception:
        if order.pk is not None and Order.objects.filter(pk=order.pk).exists():
            order.refresh_from_db()
        raise


def order_lock(order: Order) -> Order:
    """Lock the order row (PostgreSQL) and refuse if its state moved since it was read.

    Must run inside a transaction. On SQLite the write transaction (IMMEDIATE mode)
    already serialises writers, so the lock is a no-op there.
    """
    current = (
        Order.objects.select_for_update()
        .filter(pk=order.pk)
        .values_list("status", "version")
        .first()
    )
    if current is None:
        raise TransitionRefused(_("The order no longer exists."), code="not_found")
    if current[0] != order.status:
        raise ConcurrentChange()
    return order


def order_unmet_checks(order: Order) -> list[str]:
    """What still stands between the order and completing its current stage, in words."""
    stage = order.status
    problems: list[str] = []
    if stage == S.SALES_REVIEW and not order.coupon_check_done():
        problems.append(_("The coupon has not been verified."))
    elif stage == S.FINANCE_REVIEW and not order.credit_within_limit():
        problems.append(
            _("Credit limit exceeded: exposure %(exposure)s CNY, limit %(limit)s CNY.")
            % {"exposure": order.credit_exposure(), "limit": order.customer.credit_limit}
        )
    elif stage == S.PICKING and not order.pick_list_printed():
        problems.append(_("The pick list has not been printed."))
    elif stage == S.QUALITY_CHECK:
        if not order.qc_photo_done():
            problems.append(_("The QC photo has not been uploaded."))
        if not order.payment_allows_dispatch():
            problems.append(
                _("Payment missing: %(due)s CNY still due for a %(method)s order.")
                % {"due": order.amount_due, "method": order.get_payment_method_display()}
            )
    if stage in MAIN_LINE:
        problems.extend(routing.completion_blockers(order, stage))
    return [str(p) for p in problems]


def _apply_transition(
    order: Order,
    name: str,
    *,
    by,
    actor_label: str = "",
    via: str = Via.MANUAL,
    reason: str = "",
    detail: dict | None = None,
    now: datetime,
    check_permission: bool = True,
    method_kwargs: dict | None = None,
    pending_visit: StageVisit | None = None,
) -> Order:
    """Run one FSM transition with its timeline and audit rows. Caller holds atomic()."""
    meta = _transition_for(order, name)
    if meta is None:
        raise TransitionRefused(
            _("“%(step)s” is not possible while the order is in “%(stage)s”.")
            % {
                "step": transition_label(name) if name in TRANSITION_NAMES else name,
                "stage": order.get_status_display(),
            }
        )
    if check_permission and by is not None and not meta.has_perm(order, by):
        raise ActionForbidden()
    source = order.status
    if source in MAIN_LINE and name == COMPLETING_TRANSITION.get(source):
        blockers = routing.completion_blockers(order, source)
        if blockers:
            raise TransitionRefused(reasons=blockers)
    if name == "approve_finance" and order.payment_method == PaymentMethod.CREDIT:
        # Credit decisions of one customer are serialised: two orders approved at
        # once must not both fit under the same remaining limit.
        Customer.objects.select_for_update().filter(pk=order.customer_id).exists()
    if not can_proceed(getattr(order, name)):
        raise TransitionRefused(reasons=order_unmet_checks(order))

    try:
        getattr(order, name)(**(method_kwargs or {}))
    except TransitionNotAllowed as exc:
        raise TransitionRefused(reasons=[str(exc)]) from exc
    target = order.status
    order.stage_entered_at = now
    order.updated_at = now
    # The optimistic lock of ConcurrentTransitionMixin, as one UPDATE: only a row
    # still in the source state is changed, so of two concurrent movers one loses.
    # (Cheaper than Model.save(); this is the busiest write of the product.)
    fields = _BASE_FIELDS + _EXTRA_FIELDS.get(name, [])
    if pending_visit is not None:
        fields = [*fields, "lane"]  # intake: the lane its health score gave
    values = {field: getattr(order, field) for field in fields}
    # Leaving a stage leaves its work queue: the claim and the pin end with the visit.
    values.update(_QUEUE_RESET)
    claimant = _write_transition(order, source=source, values=values)
    if claimant is not None:
        claim_release_counters(queue=queue_key(source), user_id=claimant)
    for field, value in _QUEUE_RESET.items():
        setattr(order, field, value)
    order._update_initial_state()

    actor = audit_actor(by)
    if pending_visit is not None:
        # Intake: the first visit is not written yet; write it closed, with the next
        # one, in one INSERT.
        pending_visit.left_at, pending_visit.actor, pending_visit.via = now, actor, via
        pending_visit.reason, pending_visit.detail = reason[:300], detail or {}
        visits = [pending_visit]
        if target in OPEN_STAGES:
            visits.append(StageVisit(order=order, stage=target, entered_at=now))
        StageVisit.objects.bulk_create(visits)
    else:
        closed = StageVisit.objects.filter(order=order, left_at=None).update(
            left_at=now, actor=actor, via=via, reason=reason[:300], detail=detail or {}
        )
        if closed != 1:
            # The timeline and the state disagree: refuse rather than corrupt history.
            raise ConcurrentChange()
        if target in OPEN_STAGES:
            StageVisit.objects.create(order=order, stage=target, entered_at=now)
    events.order_transition_event(
        order=order,
        by=actor,
        actor_label=actor_label,
        source=source,
        target=target,
        transition=name,
        via=via,
        reason=reason,
        detail=detail or {},
        at=now,
    )
    webhook_events_record(
        order=order,
        event_type=webhook_event_type_for(target),
        data={"previous_status": source},
        at=now,
    )

    def after_commit():
        order_status_changed.send(
            sender=Order, order=order, source=source, target=target, via=via, actor=actor
        )
        breaker_check_on_entry(target)

    transaction.on_commit(after_commit)
    return order


_QUEUE_RESET = {"claimed_by": None, "claimed_at": None, "claim_touched_at": None, "pinned": False}


def _write_transition(order: Order, *, source: str, values: dict) -> int | None:
    """Write the transition with one UPDATE that only matches a row still in `source`
    (and still claimed by whom we think). Returns the claimant whose claim ended."""
    claimant = order.claimed_by_id
    for _attempt in range(2):
        updated = Order.objects.filter(pk=order.pk, status=source, claimed_by_id=claimant).update(
            **values
        )
        if updated == 1:
            return claimant
        # Someone claimed or released the order since it was read: re-read the claim
        # and try once more; a changed state is a concurrent move and is refused.
        row = Order.objects.filter(pk=order.pk).values_list("status", "claimed_by_id").first()
        if row is None or row[0] != source:
            break
        claimant = row[1]
    raise ConcurrentChange()


def _apply_waiver_if_needed(order: Order, check: str, *, now: datetime, by=None) -> None:
    """Let a router satisfy an unmet check (e.g. a bypass switch). Caller holds atomic()."""
    if check == "coupon" and order.coupon_check_done():
        return
    if check == "qc_photo" and order.qc_photo_done():
        return
    decision = routing.decide_waiver(order, check)
    if decision is None:
        return
    if check == "coupon":
        order.coupon_verified_at = now
        order.coupon_verified_via = decision.via
        verb = events.ORDER_COUPON_VERIFIED
    else:
        order.qc_photo_waived_at = now
        verb = events.ORDER_CHECK_WAIVED
    events.check_event(
        verb=verb,
        order=order,
        by=by,
        actor_label=decision.via,
        via=decision.via,
        reason=decision.reason,
        detail={"check": check, **decision.detail},
        at=now,
    )
    decision.applied(order, now)


def order_route_forward(
    order: Order, *, now: datetime | None = None, pending_visit: StageVisit | None = None
) -> Order:
    """Pass every stage the routers let the order pass, each as a zero-length visit.

    Called after intake and after every transition into a main-line stage; safe
    to call again at any time (e.g. when an evaluation card completes). Intake
    passes its first visit unwritten (`pending_visit`): it is written once, closed
    together with the next one when the stage is passed, or open when it is not.
    """
    now = now or timezone.now()
    # savepoint=False: callers already hold a transaction; a failure rolls back all.
    with transaction.atomic(savepoint=False):
        while order.status in AUTO_PASSABLE:
            decision = routing.decide_auto_pass(order, order.status)
            if decision is None:
                break
            stage = order.status
            if stage == S.SALES_REVIEW:
                _apply_waiver_if_needed(order, "coupon", now=now)
            name = COMPLETING_TRANSITION[stage]
            if not can_proceed(getattr(order, name)) or routing.completion_blockers(order, stage):
                break
            _apply_transition(
                order,
                name,
                by=None,
                actor_label=decision.via,
                via=decision.via,
                reason=decision.reason,
                detail=decision.detail,
                now=now,
                check_permission=False,
                pending_visit=pending_visit,
            )
            decision.applied(order, now)
            pending_visit = None
        if pending_visit is not None:  # nothing passed: the first visit stays open
            pending_visit.save(force_insert=True)
    return order


def order_complete_stage(
    order: Order,
    *,
    by=None,
    actor_label: str = "",
    via: str = Via.MANUAL,
    reason: str = "",
) -> Order:
    """Complete the order's current stage (not dispatch: that needs carrier details)."""
    from orders.services.stock import order_reserve_stock

    stage = order.status
    if stage == S.QUALITY_CHECK:
        raise TransitionRefused(_("Use “Dispatch” to complete the quality check."))
    if stage == S.STOCK_RESERVATION:
        return order_reserve_stock(order, by=by, actor_label=actor_label, via=via)
    name = COMPLETING_TRANSITION.get(stage)
    if name is None:
        raise TransitionRefused(
            _("An order in “%(stage)s” has no stage to complete.")
            % {"stage": order.get_status_display()}
        )
    now = timezone.now()
    # No row lock here: these guards read only the order itself (credit locks the
    # customer, see _apply_transition), and the state-filtered UPDATE of
    # ConcurrentTransitionMixin refuses a concurrent move. One round trip less per step.
    with restoring_on_failure(order), transaction.atomic():
        if stage == S.SALES_REVIEW:
            _apply_waiver_if_needed(order, "coupon", now=now)
        _apply_transition(
            order, name, by=by, actor_label=actor_label, via=via, reason=reason, now=now
        )
        order_route_forward(order, now=now)
    return order


def order_hold(
    order: Order,
    *,
    by=None,
    actor_label: str = "",
    reason: str,
    via=Via.MANUAL,
    detail: dict | None = None,
):
    """Park the order (it remembers its stage). `detail` is kept on the closed visit,
    e.g. {"exception_case": 12} when an exception case holds the order."""
    if not reason.strip():
        raise InvalidOrderInput(_("A reason is required to put an order on hold."))
    now = timezone.now()
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        _apply_transition(
            order,
            "hold",
            by=by,
            actor_label=actor_label,
            via=via,
            reason=reason,
            now=now,
            detail=detail,
        )
    return order


def order_release(
    order: Order,
    *,
    by=None,
    actor_label: str = "",
    reason: str = "",
    via=Via.MANUAL,
    detail: dict | None = None,
):
    now = timezone.now()
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if order.status == S.ON_HOLD and order.held_from not in MAIN_LINE:
            raise TransitionRefused(_("The order does not remember which stage it was held from."))
        _apply_transition(
            order,
            "release",
            by=by,
            actor_label=actor_label,
            via=via,
            reason=reason,
            now=now,
            detail=detail,
        )
        order_route_forward(order, now=now)
    return order


def order_cancel(order: Order, *, by=None, actor_label: str = "", reason: str, via=Via.MANUAL):
    from orders.services.stock import stock_release_for_order

    if not reason.strip():
        raise InvalidOrderInput(_("A reason is required to cancel an order."))
    now = timezone.now()
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        _apply_transition(
            order,
            "cancel",
            by=by,
            actor_label=actor_label,
            via=via,
            reason=reason,
            now=now,
            method_kwargs={"reason": reason, "at": now},
        )
        stock_release_for_order(order, by=by, actor_label=actor_label, now=now)
    return order


def order_dispatch(
    order: Order,
    *,
    by=None,
    actor_label: str = "",
    carrier: str,
    tracking_number: str,
    via=Via.MANUAL,
    reason: str = "",
    urgent: bool = False,
) -> Order:
    """Hand the order to the carrier: refused while unpaid (where required), without a QC
    photo (unless waived by a bypass), or while anything blocks dispatch.

    `urgent`: the person asks to dispatch now and upload the QC photo afterwards; a
    router (the urgent-dispatch bypass) decides whether that is allowed.
    """
    from orders.services.stock import stock_consume_for_order

    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise InvalidOrderInput(_("Carrier and tracking number are required to dispatch."))
    now = timezone.now()
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if urgent and order.status == S.QUALITY_CHECK:
            _apply_waiver_if_needed(order, "qc_photo", now=now, by=by)
        _apply_transition(
            order,
            "dispatch",
            by=by,
            actor_label=actor_label,
            via=via,
            reason=reason,
            now=now,
            method_kwargs={
                "carrier": carrier[:60],
                "tracking_number": tracking_number[:64],
                "at": now,
            },
        )
        stock_consume_for_order(order, by=by, actor_label=actor_label, now=now)
    return order


def order_transition(order: Order, *, name: str, by=None, via=Via.MANUAL, **params) -> Order:
    """Perform the transition `name` through its service (admin buttons and the API)."""
    from orders.services.stock import order_reserve_stock

    if name == "dispatch":
        return order_dispatch(order, by=by, via=via, **params)
    if name == "hold":
        return order_hold(order, by=by, via=via, **params)
    if name == "release":
        return order_release(order, by=by, via=via, **params)
    if name == "cancel":
        return order_cancel(order, by=by, via=via, **params)
    if name == "reserve_stock":
        return order_reserve_stock(order, by=by, via=via, **params)
    if name in TRANSITION_NAMES:
        if COMPLETING_TRANSITION.get(order.status) != name:
            raise TransitionRefused(
                _("“%(step)s” is not possible while the order is in “%(stage)s”.")
                % {"step": transition_label(name), "stage": order.get_status_display()}
            )
        return order_complete_stage(order, by=by, via=via, **params)
    raise TransitionRefused(_("Unknown step “%(step)s”.") % {"step": name}, code="unknown_step")


def order_available_transitions(order: Order, user) -> list[str]:
    """Names of the transitions `user` may perform on `order` now."""
    return [t.name for t in order.get_available_user_status_transitions(user=user)]
