"""Pick lists: the warehouse's paper for picking, grouped by warehouse."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import STAGE_PERMISSIONS, Order, StockReservation
from orders.services.errors import ActionForbidden, OrderActionError, TransitionRefused
from orders.services.lifecycle import order_lock, restoring_on_failure
from orders.services.orders import order_mark_pick_list_printed
from orders.services.stock import order_reserve_stock
from orders.states import OrderStatus

S = OrderStatus


@dataclass
class PickListResult:
    # warehouse name -> rows {order, sku, name, quantity, recipient}
    groups: dict[str, list[dict]] = field(default_factory=dict)
    printed: list[Order] = field(default_factory=list)
    failures: list[tuple[Order, str]] = field(default_factory=list)
    printed_at: object = None


def pick_list_print(orders, *, by=None) -> PickListResult:
    """Print the pick list of `orders`: orders still in stock reservation have their
    stock reserved and move into picking first. Each order succeeds or fails on
    its own; failures are reported with their reason."""
    result = PickListResult(printed_at=timezone.now())
    for order in orders:
        try:
            _print_one(order, by=by)
        except OrderActionError as exc:
            result.failures.append((order, str(exc)))
        else:
            result.printed.append(order)
    groups: dict[str, list[dict]] = defaultdict(list)
    reservations = (
        StockReservation.objects.filter(
            line__order__in=[o.pk for o in result.printed], released_at=None
        )
        .select_related("line__order", "stock_level__warehouse")
        .order_by("stock_level__warehouse__priority", "line__sku", "line__order__number")
    )
    for reservation in reservations:
        line = reservation.line
        groups[reservation.stock_level.warehouse.name].append(
            {
                "order": line.order.number,
                "sku": line.sku,
                "name": line.name,
                "quantity": reservation.quantity,
                "recipient": f"{line.order.ship_name} {line.order.ship_city}",
            }
        )
    result.groups = dict(groups)
    return result


def _print_one(order: Order, *, by) -> None:
    if by is not None and not by.has_perm(STAGE_PERMISSIONS[S.PICKING]):
        raise ActionForbidden()
    if order.status == S.STOCK_RESERVATION:
        order_reserve_stock(order, by=by)
    if order.status != S.PICKING:
        raise TransitionRefused(
            _(
                "Only orders in stock reservation or picking get a pick list "
                "(this one is in “%(stage)s”)."
            )
            % {"stage": order.get_status_display()}
        )
    with restoring_on_failure(order), transaction.atomic():
        order_lock(order)
        order_mark_pick_list_printed(order, by=by, now=timezone.now())
