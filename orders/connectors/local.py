"""The embedded sources: the card from this app's own tables.

The default when no CRM/ERP/WMS is connected: the customer facts are the last known
CRM values on `Customer` (imported, or kept by the demo), the stock is `StockLevel`,
the fulfilment history is on `Customer` too. A fact the table does not hold (a rate
never synchronised) stays None.

Each fetch makes a bounded number of queries whatever the order's size: the order's
lines (none when prefetched), one for the customer's credit exposure, one for the
stock of every line in every active warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from orders.connectors.base import (
    CustomerSource,
    FulfilmentSource,
    InventorySource,
    customer_part,
    fulfilment_part,
    inventory_summary,
    order_demand,
)
from orders.models import Order, StockLevel


def _rate(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class LocalCustomerSource(CustomerSource):
    needs_database = True

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        customer = order.customer
        # What the customer would owe on credit with this order accepted; for an order
        # paid another way this is what it would be, were it on credit.
        return customer_part(
            credit_rating=customer.credit_rating,
            tier=customer.tier,
            credit_limit=customer.credit_limit,
            exposure=order.credit_exposure(),
            orders_completed=customer.orders_completed,
        )


class LocalInventorySource(InventorySource):
    needs_database = True

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        product_skus = {line.product_id: line.sku for line in order.lines.all()}
        levels = StockLevel.objects.filter(
            product_id__in=product_skus, warehouse__is_active=True
        ).values_list("product_id", "warehouse__code", "on_hand", "reserved")
        available: dict[str, dict[str, int]] = defaultdict(dict)
        for product_id, code, on_hand, reserved in levels:
            available[product_skus[product_id]][code] = on_hand - reserved
        return inventory_summary(order_demand(order), available)


class LocalFulfilmentSource(FulfilmentSource):
    needs_database = True

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        customer = order.customer
        return fulfilment_part(
            orders=customer.orders_completed,
            paid_on_time_rate=_rate(customer.on_time_payment_rate),
            received_on_time_rate=_rate(customer.on_time_receipt_rate),
        )
