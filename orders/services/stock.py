"""Stock reservation: row-locked, all-or-nothing, never oversold.

Stock rows are locked in id order (no deadlocks between two orders that share
products) and then changed with conditional UPDATEs; the database's CHECK
constraint (reserved <= on_hand) is the last line of defence.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders import events
from orders.models import Order, StockLevel, StockReservation
from orders.services.errors import ActionForbidden, ConcurrentChange, StockShortage
from orders.services.lifecycle import (
    _apply_transition,
    _transition_for,
    order_lock,
    restoring_on_failure,
)
from orders.states import OrderStatus, Via


def _open_reservations(order: Order):
    return StockReservation.objects.filter(
        line__order=order, released_at=None, consumed_at=None
    ).select_related("stock_level", "line")


def stock_plan_for_order(
    order: Order, levels: list[StockLevel]
) -> dict[int, list[tuple[StockLevel, int]]]:
    """Decide where each line's missing units come from.

    One warehouse for the whole order when any can (no split shipment), else each
    line from the preferred warehouses in turn. Raises StockShortage naming lines.
    """
    lines = list(order.lines.all())
    already = defaultdict(int)
    for reservation in _open_reservations(order):
        already[reservation.line_id] += reservation.quantity
    missing = {line.pk: line.quantity - already[line.pk] for line in lines}
    missing = {line_id: qty for line_id, qty in missing.items() if qty > 0}
    if not missing:
        return {}
    line_product = {line.pk: line.product_id for line in lines}
    by_product: dict[int, list[StockLevel]] = defaultdict(list)
    for level in sorted(levels, key=lambda lv: (lv.warehouse.priority, lv.warehouse_id)):
        by_product[level.product_id].append(level)

    warehouses = sorted(
        {lv.warehouse_id: lv.warehouse for lv in levels}.values(), key=lambda w: (w.priority, w.pk)
    )
    for warehouse in warehouses:
        plan = {}
        for line_id, qty in missing.items():
            level = next(
                (lv for lv in by_product[line_product[line_id]] if lv.warehouse_id == warehouse.pk),
                None,
            )
            if level is None or level.available < qty:
                break
            plan[line_id] = [(level, qty)]
        else:
            return plan

    plan, shortages = {}, []
    available = {lv.pk: lv.available for lv in levels}
    for line in lines:
        qty = missing.get(line.pk, 0)
        if not qty:
            continue
        picks = []
        for level in by_product[line.product_id]:
            take = min(qty, available[level.pk])
            if take > 0:
                picks.append((level, take))
                available[level.pk] -= take
                qty -= take
            if qty == 0:
                break
        if qty:
            shortages.append(
                _("%(sku)s: %(need)s needed, %(have)s available")
                % {"sku": line.sku, "need": missing[line.pk], "have": missing[line.pk] - qty}
            )
        plan[line.pk] = picks
    if shortages:
        raise StockShortage(reasons=shortages)
    return plan


def stock_reserve_for_order(order: Order, *, by=None, actor_label: str = "", now: datetime) -> None:
    """Reserve every missing unit of the order, or nothing. Caller holds atomic()."""
    product_ids = list(order.lines.values_list("product_id", flat=True))
    levels = list(
        StockLevel.objects.select_for_update()
        .filter(product_id__in=product_ids, warehouse__is_active=True)
        .select_related("warehouse")
        .order_by("id")
    )
    plan = stock_plan_for_order(order, levels)
    skus = dict(order.lines.values_list("pk", "sku"))
    rows, described = [], []
    for line_id, picks in plan.items():
        for level, qty in picks:
            updated = StockLevel.objects.filter(
                pk=level.pk, on_hand__gte=F("reserved") + qty
            ).update(reserved=F("reserved") + qty, updated_at=now)
            if updated != 1:
                raise ConcurrentChange()
            rows.append(
                StockReservation(line_id=line_id, stock_level=level, quantity=qty, reserved_at=now)
            )
            described.append(
                {
                    "line": line_id,
                    "sku": skus.get(line_id, ""),
                    "warehouse": level.warehouse.code,
                    "quantity": qty,
                }
            )
    if rows:
        StockReservation.objects.bulk_create(rows)
        events.stock_event(
            verb=events.STOCK_RESERVED,
            order=order,
            by=by,
            actor_label=actor_label,
            lines=described,
            at=now,
        )


def _settle_reservations(order: Order, *, consume: bool, by, actor_label: str, now: datetime):
    reservations = list(_open_reservations(order).order_by("stock_level_id"))
    if not reservations:
        return
    level_ids = sorted({r.stock_level_id for r in reservations})
    list(StockLevel.objects.select_for_update().filter(pk__in=level_ids).order_by("id"))
    per_level = defaultdict(int)
    for reservation in reservations:
        per_level[reservation.stock_level_id] += reservation.quantity
    for level_id, qty in per_level.items():
        changes = {"reserved": F("reserved") - qty, "updated_at": now}
        if consume:
            changes["on_hand"] = F("on_hand") - qty
        StockLevel.objects.filter(pk=level_id).update(**changes)
    ids = [r.pk for r in reservations]
    if consume:
        StockReservation.objects.filter(pk__in=ids).update(consumed_at=now)
    else:
        StockReservation.objects.filter(pk__in=ids).update(released_at=now)
    events.stock_event(
        verb=events.STOCK_SHIPPED if consume else events.STOCK_RELEASED,
        order=order,
        by=by,
        actor_label=actor_label,
        lines=[
            {
                "line": r.line_id,
                "sku": r.line.sku,
                "warehouse_stock": r.stock_level_id,
                "quantity": r.quantity,
            }
            for r in reservations
        ],
        at=now,
    )


def stock_release_for_order(order: Order, *, by=None, actor_label: str = "", now: datetime):
    """Give back every open reservation of the order (cancellation)."""
    _settle_reservations(order, consume=False, by=by, actor_label=actor_label, now=now)


def stock_consume_for_order(order: Order, *, by=None, actor_label: str = "", now: datetime):
    """The goods left the warehouse: reservations become shipments (dispatch)."""
    _settle_reservations(order, consume=True, by=by, actor_label=actor_label, now=now)


def order_reserve_stock(
    order: Order, *, by=None, actor_label: str = "", via: str = Via.MANUAL, reason: str = ""
) -> Order:
    """Complete `stock_reservation`: reserve all lines, then move the order to picking.

    A shortage keeps the order where it is and says which lines are short.
    """
    meta = _transition_for(order, "reserve_stock")
    if meta is not None and by is not None and not meta.has_perm(order, by):
        raise ActionForbidden()
    now = timezone.now()
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        if order.status == OrderStatus.STOCK_RESERVATION:
            stock_reserve_for_order(order, by=by, actor_label=actor_label, now=now)
        _apply_transition(
            order, "reserve_stock", by=by, actor_label=actor_label, via=via, reason=reason, now=now
        )
    return order
