"""Read-side queries of the orders app, shared by the admin, the API and reports."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Min

from orders.models import Order, StageVisit, StockLevel
from orders.states import OPEN_STAGES


def order_get_with_details(*, pk: int) -> Order:
    return (
        Order.objects.select_related("customer", "partner", "coupon")
        .prefetch_related("lines", "payments")
        .get(pk=pk)
    )


def order_timeline(order: Order):
    return (
        StageVisit.objects.filter(order=order).select_related("actor").order_by("entered_at", "id")
    )


def orders_waiting_by_stage() -> dict[str, dict]:
    """Per open stage: how many orders wait and since when the oldest has (one query)."""
    rows = (
        Order.objects.filter(status__in=OPEN_STAGES)
        .values("status")
        .annotate(count=Count("id"), oldest=Min("stage_entered_at"))
    )
    return {row["status"]: {"count": row["count"], "oldest": row["oldest"]} for row in rows}


def order_stock_availability(order: Order) -> list[dict]:
    """For each line: what it needs and what each active warehouse has available."""
    lines = list(order.lines.all())
    levels = StockLevel.objects.filter(
        product_id__in=[line.product_id for line in lines], warehouse__is_active=True
    ).select_related("warehouse")
    by_product = defaultdict(list)
    for level in levels:
        by_product[level.product_id].append(
            {"warehouse": level.warehouse.name, "available": level.available}
        )
    return [
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "warehouses": by_product.get(line.product_id, []),
            "total_available": sum(w["available"] for w in by_product.get(line.product_id, [])),
        }
        for line in lines
    ]
