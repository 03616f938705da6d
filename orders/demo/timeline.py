"""From an order's random draws to its timeline as of now.

Deterministic: no random draws here. `flow` supplies now, the incidents and the
hour-of-day slowdown (see simulation.OrderFlow).
"""

from __future__ import annotations

import math
from decimal import Decimal

from orders.demo.story import (
    CANCEL_REASONS,
    EPISODE_NOTE,
    HOLD_REASONS,
    INTAKE_REASON,
    MINUTE,
    NEXT,
    SUPERVISOR,
    TEAM_USER,
    TRANSITION,
    WORKAROUND_NOTE,
    WORKED,
    OrderDraft,
    Visit,
)
from orders.states import OrderStatus, PaymentMethod, PaymentStatus, Via

S = OrderStatus


def timeline_build(draft: OrderDraft, flow, *, ignore_fault: bool = False) -> None:
    """Turn the draws into visits, cut at now, and derive the order's fields."""
    now = flow.now
    slow = flow.incidents.slow_picking
    fault = None if ignore_fault else flow.incidents.printer_fault_since
    t = draft.created_at
    visits = [Visit(S.RECEIVED, t, t, None, Via.SYSTEM, INTAKE_REASON, S.SALES_REVIEW, "accept")]
    outcome = None
    hold = draft.hold
    cancel = draft.cancel
    if hold and cancel and hold[0] >= cancel[0]:
        hold = None  # cancelled first
    for index, stage in enumerate(WORKED):
        entered = t
        span = draft.dwell[index] * MINUTE * flow.slowdown(entered)
        note = ""
        stuck = False
        if stage == S.PICKING:
            if slow and slow[0] <= entered < slow[1]:
                span, note = draft.episode_minutes * MINUTE, EPISODE_NOTE
            elif fault is not None and entered >= fault:
                if draft.workaround_minutes is None:
                    stuck = True
                else:
                    span, note = draft.workaround_minutes * MINUTE, WORKAROUND_NOTE
        if stage == S.STOCK_RESERVATION and draft.stuck_in_stock:
            stuck = True
        if hold and hold[0] == index:
            hold_at = entered + span * hold[1]
            release_at = hold_at + hold[2] * MINUTE
            reason, release_reason = HOLD_REASONS[hold[3]]
            visits.append(
                Visit(
                    stage, entered, hold_at, TEAM_USER[stage], Via.MANUAL, reason, S.ON_HOLD, "hold"
                )
            )
            visits.append(
                Visit(
                    S.ON_HOLD,
                    hold_at,
                    release_at,
                    SUPERVISOR,
                    Via.MANUAL,
                    release_reason,
                    stage,
                    "release",
                )
            )
            span = span * (1 - hold[1]) + hold[4] * MINUTE
            entered = release_at
        if cancel and cancel[0] == index:
            cancel_at = entered + span * cancel[1]
            visits.append(
                Visit(
                    stage,
                    entered,
                    cancel_at,
                    SUPERVISOR,
                    Via.MANUAL,
                    CANCEL_REASONS[cancel[2]],
                    S.CANCELLED,
                    "cancel",
                )
            )
            outcome = (S.CANCELLED, cancel_at)
            break
        left = math.inf if stuck else entered + span
        if stage == S.QUALITY_CHECK and draft.payment_method == PaymentMethod.TRANSFER:
            left = max(left, draft.placed_at + draft.pay_delay + 2 * MINUTE)
        visits.append(
            Visit(
                stage,
                entered,
                left,
                TEAM_USER[stage],
                Via.MANUAL,
                note,
                NEXT[stage],
                TRANSITION[stage],
            )
        )
        if left == math.inf:
            break  # waits here until after now
        t = left
    else:
        outcome = (S.DISPATCHED, t)

    # Cut at now: the visit that spans now stays open; later ones never happened.
    kept = []
    for visit in visits:
        if visit.left_at is not None and visit.left_at <= now:
            kept.append(visit)
            continue
        if visit.entered_at <= now:
            visit.left_at, visit.actor, visit.via, visit.reason = None, None, "", ""
            visit.target = visit.transition = None
            kept.append(visit)
        outcome = None
        break
    draft.visits = kept
    last = kept[-1]
    draft.held_from = ""
    draft.dispatched_at = draft.cancelled_at = None
    draft.cancel_reason = ""
    if outcome is None:
        draft.status = last.stage
        draft.stage_entered_at = last.entered_at
        if last.stage == S.ON_HOLD:
            draft.held_from = kept[-2].stage
    else:
        draft.status, at = outcome
        draft.stage_entered_at = at
        if draft.status == S.DISPATCHED:
            draft.dispatched_at = at
        else:
            draft.cancelled_at = at
            draft.cancel_reason = last.reason
    _payments(draft, flow)
    draft.updated_at = max(
        [draft.stage_entered_at, last.entered_at, *(p[2] for p in draft.payments)]
    )
    _checks(draft, fault=fault, now=now)
    if draft.pick_list_printed_at is not None:
        draft.updated_at = max(draft.updated_at, draft.pick_list_printed_at)


def _checks(draft: OrderDraft, *, fault: float | None, now: float) -> None:
    """The checks inside stages: coupon, pick list, QC photo."""
    draft.coupon_verified_at = draft.pick_list_printed_at = draft.qc_photo_at = None
    for visit in draft.visits:
        if (
            visit.stage == S.SALES_REVIEW
            and visit.target == S.FINANCE_REVIEW
            and draft.coupon is not None
        ):
            draft.coupon_verified_at = max(visit.entered_at, visit.left_at - 30)
    picking = [v for v in draft.visits if v.stage == S.PICKING]
    if picking:
        visit = picking[-1]
        printer_down = fault is not None and visit.entered_at >= fault
        if visit.reason == EPISODE_NOTE:
            # Printed late, once the printer was fixed.
            printed = visit.left_at - draft.print_lead * MINUTE * 2
        else:
            printed = visit.entered_at + draft.print_lead * MINUTE
        if printer_down and visit.target != S.QUALITY_CHECK:
            pass  # the list never came out
        elif visit.left_at is None:
            if printed <= now:
                draft.pick_list_printed_at = printed
        else:
            draft.pick_list_printed_at = min(max(printed, visit.entered_at), visit.left_at)
    if draft.dispatched_at is not None:
        qc = [v for v in draft.visits if v.stage == S.QUALITY_CHECK][-1]
        draft.qc_photo_at = max(qc.entered_at, draft.dispatched_at - draft.photo_lead * MINUTE)


def _payments(draft: OrderDraft, flow) -> None:
    now = flow.now
    method = draft.payment_method
    payments = []
    if method == PaymentMethod.PREPAID:
        payments.append((draft.total_amount, draft.payment_reference, draft.placed_at, None))
    elif method == PaymentMethod.TRANSFER:
        paid_at = draft.placed_at + draft.pay_delay
        if paid_at <= now and (draft.cancelled_at is None or paid_at < draft.cancelled_at):
            payments.append((draft.total_amount, draft.payment_reference, paid_at, "finance1"))
    elif method == PaymentMethod.CREDIT and draft.dispatched_at is not None:
        paid_at = draft.dispatched_at + draft.pay_delay
        if paid_at <= now:
            payments.append((draft.total_amount, draft.payment_reference, paid_at, "finance1"))
    draft.payments = [p for p in payments if p[0] > 0]
    draft.amount_paid = sum((p[0] for p in draft.payments), Decimal("0.00"))
    if draft.amount_paid <= 0:
        draft.payment_status = (
            PaymentStatus.PAID if draft.total_amount <= 0 else PaymentStatus.UNPAID
        )
    elif draft.amount_paid >= draft.total_amount:
        draft.payment_status = PaymentStatus.PAID
    else:
        draft.payment_status = PaymentStatus.PARTIAL
