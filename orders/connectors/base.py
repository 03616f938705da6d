"""The three evaluation card sources, and what every implementation shares.

Each source has one method, `fetch(order, *, deadline=None) -> dict`, which returns
its part of the card as plain JSON-ready data (the shapes of `EvaluationCard`) or
raises `SourceError` for any failure: a timeout, a refused connection, an error
status, an answer that is not JSON or not the agreed shape. `deadline` is a
`time.monotonic()` value: a source must give up by then (the card's time budget).

Money is carried as a decimal string with two places ("10000.00"), rates as floats
between 0 and 1, and a fact the source does not know as None, never as a guess.

The inventory part is derived the same way whatever the source, by
`inventory_summary` from what each warehouse has available for each SKU:

- a line's `single_warehouse`: one warehouse alone has the line's quantity;
- a line's `short`: how many units of the line no warehouse has, even all together;
- the order's `shortage`: some SKU is short even with every warehouse together;
- the order's `transfer_needed`: no shortage, but no single warehouse has every line
  of the order either, so it ships from several warehouses (or needs a transfer).

Lines of the same SKU are added up for the order-level answers (a warehouse must
have both lines' units), and judged on their own quantity for the line fields.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from orders.models import Order

MONEY_PLACES = Decimal("0.01")


class SourceError(Exception):
    """A source could not give its part: the card marks it unavailable with this text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Source:
    kind: ClassVar[str]
    # Reads this app's database: the card service runs such a source in the calling
    # thread while that thread is inside a transaction (another connection would not
    # see the rows it has not committed yet).
    needs_database: ClassVar[bool] = False

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        raise NotImplementedError


class CustomerSource(Source):
    """CRM: {"credit_rating", "tier", "credit_limit", "exposure", "headroom",
    "returning", "orders_completed"}; money as decimal strings."""

    kind = "customer"


class InventorySource(Source):
    """ERP: {"lines": [{"sku", "quantity", "warehouses": {code: available},
    "single_warehouse", "short"}], "transfer_needed", "shortage"}."""

    kind = "inventory"


class FulfilmentSource(Source):
    """WMS: {"orders", "paid_on_time_rate", "received_on_time_rate"} (rates 0-1 or None)."""

    kind = "fulfilment"


def money(value: Decimal) -> str:
    return str(Decimal(value).quantize(MONEY_PLACES))


def customer_part(
    *,
    credit_rating: str,
    tier: str,
    credit_limit: Decimal,
    exposure: Decimal,
    orders_completed: int,
) -> dict:
    """The customer part; headroom = limit - exposure (negative when over the limit).

    `exposure` is what the customer would owe on credit with this order accepted; for
    an order not paid on credit the headroom is informative only."""
    return {
        "credit_rating": credit_rating,
        "tier": tier,
        "credit_limit": money(credit_limit),
        "exposure": money(exposure),
        "headroom": money(credit_limit - exposure),
        "returning": orders_completed > 0,
        "orders_completed": orders_completed,
    }


def order_demand(order: Order) -> list[tuple[str, int]]:
    """(sku, quantity) per order line, in line order."""
    return [(line.sku, line.quantity) for line in order.lines.all()]


def inventory_summary(lines: list[tuple[str, int]], available: dict[str, dict[str, int]]) -> dict:
    """The inventory part from the lines' demand and each SKU's units per warehouse.

    `available[sku][warehouse_code]` is what that warehouse can still promise; a
    warehouse missing for a SKU has none. See the module docstring for the fields.
    """
    demand: dict[str, int] = defaultdict(int)
    for sku, quantity in lines:
        demand[sku] += quantity

    part_lines = []
    for sku, quantity in lines:
        warehouses = {code: max(units, 0) for code, units in available.get(sku, {}).items()}
        part_lines.append(
            {
                "sku": sku,
                "quantity": quantity,
                "warehouses": warehouses,
                "single_warehouse": any(units >= quantity for units in warehouses.values()),
                "short": max(quantity - sum(warehouses.values()), 0),
            }
        )

    shortage = any(
        sum(max(units, 0) for units in available.get(sku, {}).values()) < needed
        for sku, needed in demand.items()
    )
    codes = {code for sku in demand for code in available.get(sku, {})}
    one_warehouse_serves_all = any(
        all(available.get(sku, {}).get(code, 0) >= needed for sku, needed in demand.items())
        for code in codes
    )
    return {
        "lines": part_lines,
        "transfer_needed": bool(demand) and not shortage and not one_warehouse_serves_all,
        "shortage": shortage,
    }


def fulfilment_part(
    *, orders: int, paid_on_time_rate: float | None, received_on_time_rate: float | None
) -> dict:
    return {
        "orders": orders,
        "paid_on_time_rate": paid_on_time_rate,
        "received_on_time_rate": received_on_time_rate,
    }
