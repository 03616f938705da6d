"""The fixed, documented set of order facts rules and bypass scopes may test.

One query builds the facts of one order or of many (the dry run), so what a dry
run predicts is exactly what routing the same orders does.

| fact | kind | meaning |
|---|---|---|
| amount | number | order total (CNY) |
| credit_rating | choice | customer's credit rating: good, fair, poor, blocked |
| customer_tier | choice | standard, silver, gold, vip |
| returning_customer | yes/no | the customer has completed orders before |
| payment_method | choice | prepaid, cod, credit, transfer |
| item_count | number | items in the order (sum of line quantities) |
| coupon_type | choice | none, regular, limited (limited-quantity coupon) |
| price_deviation_pct | number | largest distance of a line's price from its list price, % |
| channel | text | the channel partner's code, or "direct" |
| presale | yes/no | the order is a presale |
| health_score | number | the order's health score, 0-100 (missing until it is scored) |
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import (
    Case,
    DecimalField,
    F,
    Max,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, NullIf
from django.utils.translation import gettext_lazy as _

from orders.models import Customer, Order
from orders.states import PaymentMethod

COUPON_TYPES = ("none", "regular", "limited")


@dataclass(frozen=True)
class Fact:
    name: str
    label: Any
    kind: str  # number, bool, choice, text
    help: Any = ""
    choices: tuple[tuple[str, Any], ...] = ()

    def choice_values(self) -> list[str]:
        return [value for value, _label in self.choices]


def _facts() -> dict[str, Fact]:
    facts = [
        Fact("amount", _("Order amount (CNY)"), "number"),
        Fact(
            "credit_rating",
            _("Customer credit rating"),
            "choice",
            choices=tuple(Customer.CreditRating.choices),
        ),
        Fact("customer_tier", _("Customer tier"), "choice", choices=tuple(Customer.Tier.choices)),
        Fact(
            "returning_customer",
            _("Returning customer"),
            "bool",
            help=_("The customer has completed orders before."),
        ),
        Fact("payment_method", _("Payment method"), "choice", choices=tuple(PaymentMethod.choices)),
        Fact("item_count", _("Item count"), "number", help=_("Sum of the line quantities.")),
        Fact(
            "coupon_type",
            _("Coupon type"),
            "choice",
            choices=(
                ("none", _("No coupon")),
                ("regular", _("Regular coupon")),
                ("limited", _("Limited-quantity coupon")),
            ),
        ),
        Fact(
            "price_deviation_pct",
            _("Price deviation (%)"),
            "number",
            help=_("The largest distance of a line's unit price from its list price, in %."),
        ),
        Fact("channel", _("Channel"), "text", help=_("The channel partner's code, or “direct”.")),
        Fact("presale", _("Presale"), "bool"),
        Fact(
            "health_score",
            _("Health score"),
            "number",
            help=_("0-100; missing until the order is scored (a comparison is then false)."),
        ),
    ]
    return {fact.name: fact for fact in facts}


FACTS: dict[str, Fact] = _facts()

_DEVIATION = DecimalField(max_digits=14, decimal_places=4)


def _facts_queryset(orders):
    # One LEFT JOIN to the lines, grouped by order: cheaper than a correlated
    # subquery per order when a dry run reads tens of thousands of them.
    item_count = Sum("lines__quantity")
    deviation = Max(
        Abs(F("lines__unit_price") - F("lines__list_price"))
        * Value(100)
        / NullIf(F("lines__list_price"), Value(0)),
        output_field=_DEVIATION,
    )
    fields = [
        "pk",
        "total_amount",
        "payment_method",
        "is_presale",
        "customer__credit_rating",
        "customer__tier",
        "customer__orders_completed",
        "partner__code",
        "f_coupon",
        "health__score",
    ]
    return (
        orders.order_by()
        .annotate(
            f_coupon=Case(
                When(coupon=None, then=Value("none")),
                When(coupon__is_limited_quantity=True, then=Value("limited")),
                default=Value("regular"),
            )
        )
        .values(*fields)
        .annotate(f_items=Coalesce(item_count, 0), f_deviation=deviation)
    )


_CENT = Decimal("0.01")


def _decimal(value) -> Decimal:
    # Raw SQLite rows give floats for decimal columns: go through str, then to cents.
    return Decimal(str(value)).quantize(_CENT)


def _facts_from_row(row: dict) -> dict[str, Any]:
    deviation = row["f_deviation"]
    facts = {
        "amount": _decimal(row["total_amount"]),
        "credit_rating": row["customer__credit_rating"],
        "customer_tier": row["customer__tier"],
        "returning_customer": (row["customer__orders_completed"] or 0) > 0,
        "payment_method": row["payment_method"],
        "item_count": Decimal(row["f_items"] or 0),
        "coupon_type": row["f_coupon"],
        "price_deviation_pct": _decimal(deviation) if deviation is not None else _decimal(0),
        "channel": row["partner__code"] or "direct",
        "presale": bool(row["is_presale"]),
    }
    score = row["health__score"]
    facts["health_score"] = _decimal(score) if score is not None else None
    return facts


def facts_for_orders(orders) -> dict[int, dict[str, Any]]:
    """Facts of every order of a queryset, by order id (one query)."""
    return {row["pk"]: _facts_from_row(row) for row in _facts_queryset(orders).iterator(2000)}


_SENTINEL = -8_642_097_531
_single_sql: dict[str, tuple[str, list, int]] = {}


def _single_order_sql(alias: str) -> tuple[str, list, int]:
    """The one-order facts query, compiled once per database: compiling this annotated
    queryset costs the ORM ~2 ms, more than running it (routing asks at every stage)."""
    if alias not in _single_sql:
        queryset = _facts_queryset(Order.objects.using(alias).filter(pk=_SENTINEL))
        sql, params = queryset.query.sql_with_params()
        params = list(params)
        _single_sql[alias] = (sql, params, params.index(_SENTINEL))
    return _single_sql[alias]


def order_facts(order: Order) -> dict[str, Any]:
    """Facts of one order, read fresh from the database (one query, the same query as
    `facts_for_orders`: a dry run predicts exactly what routing decides)."""
    alias = order._state.db or "default"
    sql, params, index = _single_order_sql(alias)
    params = [*params[:index], order.pk, *params[index + 1 :]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    if row is None:
        return {}
    return _facts_from_row(dict(zip(columns, row, strict=True)))
