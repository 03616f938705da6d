"""Consistency checks of order data against the lifecycle's rules.

Used by the demo's tests and by the benchmarks after generating their databases:
data written in bulk must look exactly as if every order had gone through the
services. Returns problems in words (empty: consistent); stops after `limit`.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from django.db.models import F, Q, Sum

from orders.models import Order, OrderLine, StageVisit, StockLevel, StockReservation
from orders.states import MAIN_LINE, OPEN_STAGES, OrderStatus, PaymentMethod, PaymentStatus, Via

S = OrderStatus
HOLDS_STOCK = {S.PICKING, S.QUALITY_CHECK}


def order_data_problems(*, limit: int = 20) -> list[str]:
    problems: list[str] = []

    def report(message: str) -> bool:
        problems.append(message)
        return len(problems) >= limit

    orders = {
        row[0]: row
        for row in Order.objects.values_list(
            "id",
            "status",
            "held_from",
            "stage_entered_at",
            "dispatched_at",
            "cancelled_at",
            "carrier",
            "tracking_number",
            "payment_method",
            "payment_status",
            "amount_paid",
            "total_amount",
            "pick_list_printed_at",
        )
    }
    visits_of = defaultdict(list)
    for visit in StageVisit.objects.order_by("order_id", "entered_at", "id").values_list(
        "order_id", "stage", "entered_at", "left_at", "via", "actor_id"
    ):
        visits_of[visit[0]].append(visit)

    for order_id, row in orders.items():
        (_, status, held_from, stage_since, dispatched, cancelled, carrier, tracking) = row[:8]
        method, pay_status, paid, total, printed = row[8:]
        visits = visits_of.get(order_id, [])
        if not visits:
            if report(f"order {order_id} has no timeline"):
                return problems
            continue
        first = visits[0]
        if first[1] != S.RECEIVED or (first[3] is not None and first[3] != first[2]):
            report(f"order {order_id}: the timeline does not start with a zero-length received")
        for before, after in pairwise(visits):
            if before[3] != after[2]:
                report(f"order {order_id}: visits not contiguous at {after[1]}")
                break
        open_visits = [v for v in visits if v[3] is None]
        if status in OPEN_STAGES:
            if len(open_visits) != 1 or visits[-1][3] is not None:
                report(f"order {order_id} ({status}) has {len(open_visits)} open visits")
            elif visits[-1][1] != status:
                report(f"order {order_id} is {status} but its open visit is {visits[-1][1]}")
            elif stage_since != visits[-1][2]:
                report(f"order {order_id}: stage_entered_at is not its open visit's start")
            if (status == S.ON_HOLD) != bool(held_from) or (
                held_from and held_from not in MAIN_LINE
            ):
                report(f"order {order_id}: held_from {held_from!r} with status {status}")
            if any(v[4] or v[5] for v in open_visits):
                report(f"order {order_id}: an open visit already has via/actor")
        else:
            if open_visits:
                report(f"order {order_id} is {status} but has an open visit")
            if stage_since != visits[-1][3]:
                report(f"order {order_id}: stage_entered_at is not the final transition")
        if any(v[3] is not None and not v[4] for v in visits):
            report(f"order {order_id}: a closed visit without via")
        if status == S.DISPATCHED and not (dispatched and carrier and tracking):
            report(f"order {order_id}: dispatched without carrier/tracking/time")
        if status == S.CANCELLED and not cancelled:
            report(f"order {order_id}: cancelled without cancelled_at")
        if status != S.DISPATCHED and (dispatched or carrier or tracking):
            report(f"order {order_id}: dispatch details on a {status} order")
        expected = (
            PaymentStatus.PAID
            if paid >= total
            else PaymentStatus.UNPAID
            if paid <= 0
            else PaymentStatus.PARTIAL
        )
        if pay_status != expected:
            report(f"order {order_id}: payment_status {pay_status}, expected {expected}")
        if (
            status == S.DISPATCHED
            and method in (PaymentMethod.PREPAID, PaymentMethod.TRANSFER)
            and paid < total
        ):
            report(f"order {order_id}: dispatched unpaid {method} order")
        past_picking = any(v[1] == S.PICKING and v[3] is not None for v in visits) and (
            status in (S.QUALITY_CHECK, S.DISPATCHED)
            or (status == S.ON_HOLD and held_from == S.QUALITY_CHECK)
        )
        if past_picking and printed is None:
            report(f"order {order_id}: past picking without a printed pick list")
        if len(problems) >= limit:
            return problems

    problems.extend(_stock_problems(orders)[: max(limit - len(problems), 0)])
    return problems


def _stock_problems(orders: dict) -> list[str]:
    problems = []
    open_reserved = defaultdict(int)
    reserved_by_order_line = defaultdict(int)
    for level_id, line_id, order_id, quantity in StockReservation.objects.filter(
        released_at=None, consumed_at=None
    ).values_list("stock_level_id", "line_id", "line__order_id", "quantity"):
        open_reserved[level_id] += quantity
        reserved_by_order_line[(order_id, line_id)] += quantity
    for level_id, reserved, on_hand in StockLevel.objects.values_list("id", "reserved", "on_hand"):
        if reserved != open_reserved.get(level_id, 0):
            problems.append(
                f"stock level {level_id}: reserved {reserved}, open reservations "
                f"{open_reserved.get(level_id, 0)}"
            )
        if reserved > on_hand:
            problems.append(f"stock level {level_id}: reserved {reserved} > on hand {on_hand}")
    holding = {
        order_id
        for order_id, row in orders.items()
        if row[1] in HOLDS_STOCK or (row[1] == S.ON_HOLD and row[2] in HOLDS_STOCK)
    }
    with_reservations = {order_id for order_id, _line in reserved_by_order_line}
    for order_id in with_reservations - holding:
        problems.append(f"order {order_id} ({orders[order_id][1]}) holds stock it should not")
    for order_id, line_id, quantity in OrderLine.objects.filter(order_id__in=holding).values_list(
        "order_id", "id", "quantity"
    ):
        if reserved_by_order_line.get((order_id, line_id), 0) != quantity:
            problems.append(f"order {order_id}: line {line_id} is not fully reserved")
    return problems


def stock_totals_match() -> bool:
    """Cheap SQL-only check for big databases: reserved == open reservations everywhere."""
    mismatched = (
        StockLevel.objects.annotate(
            held=Sum(
                "reservations__quantity",
                filter=Q(reservations__released_at=None, reservations__consumed_at=None),
                default=0,
            )
        )
        .exclude(held=F("reserved"))
        .exists()
    )
    return not mismatched and not StockLevel.objects.filter(reserved__gt=F("on_hand")).exists()


__all__ = ["Via", "order_data_problems", "stock_totals_match"]
