"""The order health score: five factors, each 0-100, weighted into one explainable score.

Scoring reads the order, its lines and its evaluation card (`EvaluationCard`); it
stores each factor's value, weight and the inputs used (`OrderHealth.breakdown`) and
lists the factors it could not score (`OrderHealth.missing`) instead of inventing
them. The score decides the order's lane in its work queue (`Order.lane`).

The factors (each 0-100; the weights are the newest `ScoreWeights` row):

customer history (default weight 30), from the card's fulfilment part:
    part not fetched or unavailable        -> missing
    orders == 0 (a new customer)           -> 60 (neutral; not missing)
    otherwise 100 x mean(paid_on_time_rate, received_on_time_rate), each clamped to
    0-1; a rate that is None is left out of the mean; both None -> missing.
    e.g. rates 0.9 and 0.7 -> 100 x 0.8 = 80.

order complexity (default weight 25), from the order and its lines: 100 minus
    15 per customised line (at most 45)
    20 when any line ships split
    5 per line beyond the third (at most 20)
    5 for more than 10 units in all, 10 for more than 50
    15 for a presale order
    10 when the order carries notes (someone has to read and follow them)
    floored at 0. Never missing (the order's own data).
    e.g. 5 lines, 12 units, one customised, notes -> 100 - 15 - 10 - 5 - 10 = 60.

payment method (default weight 20):
    paid (payment status "paid", any method)        -> 100
    prepaid or bank transfer, not (fully) paid yet  -> 70
    credit within the limit (the card's headroom >= 0) -> 60
    credit over the limit (headroom < 0)             -> 20
    credit, customer part unavailable or no headroom -> missing
    (the card's headroom = credit limit - exposure, and the exposure already counts
    what is due on this order: see `orders.connectors.base.customer_part`)
    cash on delivery                                -> 40

inventory match (default weight 15), from the card's inventory part:
    part not fetched or unavailable, or no flags -> missing
    shortage                                     -> 0
    transfer_needed (no single warehouse serves) -> 50
    otherwise (one warehouse serves every line)  -> 100

time-slot pressure (default weight 10), the same for every order of a run:
    load = open orders now / normal open orders
    normal = settings.HEALTH_NORMAL_OPEN_ORDERS when set, else Little's law with the
    2-hour target: orders placed in the last 7 days / (7 x 24) x 2, at least 50
    (kept in the cache for an hour). A rescoring run counts the open orders once
    (the ids it scores); one order scored alone uses the last count (<= 1 min old,
    kept by each process for HEALTH_WEIGHTS_CACHE_SECONDS like the weights).
    load <= 1 -> 100; load >= 3 -> 0; between: 100 x (3 - load) / 2, rounded.
    e.g. 300 open, normal 200: load 1.5 -> 75. Never missing.

score = round_half_up(sum(value x weight) / sum(weight)) over the factors that are
    NOT missing. Missing factors are left out of both sums (neither good nor bad) and
    named in `missing`. When no weighted factor is left, the score is 0 and the lane
    NORMAL (nothing is known, so nothing is judged).

lane: score >= fast_lane_min -> FAST; score < watch_below -> WATCH; else NORMAL.
    When more than half of the weight is missing (missing weight x 2 > total weight)
    the order cannot take the fast lane: a FAST result becomes NORMAL (a low score over
    what is known still sends it to the watch queue).

`health_rescore_open()` is set-based: per chunk of open orders it reads the orders,
their line aggregates and their cards with three queries, computes in Python, and
writes with one statement per table (PostgreSQL: `INSERT ... ON CONFLICT` and
`UPDATE ... FROM unnest(...)`; elsewhere `bulk_create(update_conflicts=True)` and one
`UPDATE` per lane). `health_score_order()` goes through the same code with one order,
so both always agree.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Order, PartStatus, ScoreWeights
from orders.states import Lane, PaymentMethod

logger = logging.getLogger(__name__)

FACTORS = ScoreWeights.FACTORS
FACTOR_LABELS = {
    "customer_history": _("customer history"),
    "complexity": _("order complexity"),
    "payment_method": _("payment method"),
    "inventory_match": _("inventory match"),
    "time_slot_pressure": _("time-slot pressure"),
}

NEW_CUSTOMER_VALUE = 60
PRESSURE_NORMAL_FLOOR = 50
PRESSURE_TARGET_HOURS = 2
PRESSURE_CACHE_KEY = "orders:health:pressure"
PRESSURE_CACHE_SECONDS = 60
NORMAL_CACHE_KEY = "orders:health:normal-open-orders"
NORMAL_CACHE_SECONDS = 3600
# Plain ints: compared and sent to the database 100,000 times a run.
FAST, NORMAL, WATCH = int(Lane.FAST), int(Lane.NORMAL), int(Lane.WATCH)


# --- The factors: pure functions over plain inputs ------------------------------


@dataclass(frozen=True)
class Factor:
    """One factor's result: its value (None when missing), the inputs it read, and
    the inputs it lacked."""

    value: int | None
    inputs: dict
    missing: list[str] = field(default_factory=list)


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, in exact integers (Python's round()
    rounds 82.5 to 82, and floats drift: 100 x (3 - 2.95) / 2 is 2.4999...)."""
    return (2 * numerator + denominator) // (2 * denominator)


# The card's values arrive as JSON values (SQLite, the one-order path) or as the text
# of `->>` (PostgreSQL's set-based read): the factors accept both.


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _flag(value) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _rate(value) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def customer_history_factor(status: str | None, data: dict | None) -> Factor:
    if status != PartStatus.OK or data is None:
        return Factor(None, {"status": status or "no card"}, ["fulfilment"])
    orders = data.get("orders")
    orders = None if orders is None else int(Decimal(str(orders)))
    paid = _decimal(data.get("paid_on_time_rate"))
    received = _decimal(data.get("received_on_time_rate"))
    inputs = {
        "orders": orders,
        "paid_on_time_rate": None if paid is None else float(paid),
        "received_on_time_rate": None if received is None else float(received),
    }
    if orders is None:
        return Factor(None, inputs, ["fulfilment.orders"])
    if orders == 0:
        return Factor(NEW_CUSTOMER_VALUE, inputs)
    rates = [
        min(max(rate, Decimal(0)), Decimal(1)) for rate in (paid, received) if rate is not None
    ]
    lacking = [
        f"fulfilment.{name}"
        for name, rate in (("paid_on_time_rate", paid), ("received_on_time_rate", received))
        if rate is None
    ]
    if not rates:
        return Factor(None, inputs, lacking)
    value = (100 * sum(rates) / len(rates)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Factor(int(value), inputs, lacking)


def complexity_factor(
    *,
    lines: int,
    quantity: int,
    customised: int,
    split: int,
    presale: bool,
    has_notes: bool,
) -> Factor:
    points = min(15 * customised, 45)
    points += 20 if split else 0
    points += min(5 * max(lines - 3, 0), 20)
    points += 10 if quantity > 50 else 5 if quantity > 10 else 0
    points += 15 if presale else 0
    points += 10 if has_notes else 0
    inputs = {
        "lines": lines,
        "quantity": quantity,
        "customised_lines": customised,
        "split_lines": split,
        "presale": presale,
        "notes": has_notes,
    }
    return Factor(max(100 - points, 0), inputs)


def payment_method_factor(
    *,
    method: str,
    paid: bool,
    amount_due: Decimal,
    customer_status: str | None,
    headroom,
) -> Factor:
    inputs = {"method": method, "paid": paid}
    if paid:
        return Factor(100, inputs)
    if method in (PaymentMethod.PREPAID, PaymentMethod.TRANSFER):
        return Factor(70, inputs)
    if method == PaymentMethod.COD:
        return Factor(40, inputs)
    # Credit: does the customer stay within the limit with this order accepted? The
    # card's headroom already counts this order's amount due.
    inputs["amount_due"] = str(amount_due)
    if customer_status != PartStatus.OK or headroom is None:
        inputs["customer_status"] = customer_status or "no card"
        return Factor(None, inputs, ["customer.headroom"])
    headroom = _decimal(headroom)
    inputs["headroom"] = str(headroom)
    return Factor(60 if headroom >= 0 else 20, inputs)


def inventory_match_factor(status: str | None, transfer_needed, shortage) -> Factor:
    if status != PartStatus.OK:
        return Factor(None, {"status": status or "no card"}, ["inventory"])
    transfer_needed, shortage = _flag(transfer_needed), _flag(shortage)
    inputs = {"transfer_needed": transfer_needed, "shortage": shortage}
    if shortage is None or transfer_needed is None:
        return Factor(None, inputs, ["inventory.flags"])
    if shortage:
        return Factor(0, inputs)
    return Factor(50 if transfer_needed else 100, inputs)


@dataclass(frozen=True)
class TimeSlotPressure:
    open_orders: int
    normal: int


def time_slot_pressure_factor(pressure: TimeSlotPressure) -> Factor:
    open_orders, normal = pressure.open_orders, max(pressure.normal, 1)
    load = open_orders / normal
    if open_orders <= normal:
        value = 100
    elif open_orders >= 3 * normal:
        value = 0
    else:  # 100 x (3 - load) / 2, exactly
        value = _divide_half_up(100 * (3 * normal - open_orders), 2 * normal)
    inputs = {
        "open_orders": pressure.open_orders,
        "normal_open_orders": pressure.normal,
        "load": round(load, 2),
    }
    return Factor(value, inputs)


def time_slot_pressure_current(*, now=None, open_orders: int | None = None) -> TimeSlotPressure:
    """Open orders now (counted unless given) against the normal level (module
    docstring), which is a week's average and kept for an hour."""
    now = now or timezone.now()
    if open_orders is None:
        open_orders = Order.objects.open().count()
    normal = getattr(settings, "HEALTH_NORMAL_OPEN_ORDERS", None)
    if not normal:
        normal = _cache_get(NORMAL_CACHE_KEY)
    if not normal:
        week = Order.objects.filter(placed_at__gte=now - timedelta(days=7), placed_at__lt=now)
        per_hour = week.count() / (7 * 24)
        normal = max(PRESSURE_NORMAL_FLOOR, math.ceil(per_hour * PRESSURE_TARGET_HOURS))
        _cache_set(NORMAL_CACHE_KEY, normal, NORMAL_CACHE_SECONDS)
    pressure = TimeSlotPressure(open_orders=open_orders, normal=int(normal))
    _cache_set(PRESSURE_CACHE_KEY, (pressure.open_orders, pressure.normal), PRESSURE_CACHE_SECONDS)
    _pressure_memo.update(pressure=pressure, at=time.monotonic())  # this process: at once
    return pressure


_pressure_memo: dict = {"pressure": None, "at": 0.0}


def _pressure_recent() -> TimeSlotPressure:
    """The last run's pressure (at most a minute old): scoring one order at intake
    must not count every open order each time. This process keeps what it read for
    as long as it keeps the weights (HEALTH_WEIGHTS_CACHE_SECONDS): intake scores
    every order, and a cache round trip each time costs it more than the scoring."""
    ttl = getattr(settings, "HEALTH_WEIGHTS_CACHE_SECONDS", 5)
    memo = _pressure_memo["pressure"]
    if memo is not None and time.monotonic() - _pressure_memo["at"] < ttl:
        return memo
    cached = _cache_get(PRESSURE_CACHE_KEY)
    if cached:
        pressure = TimeSlotPressure(open_orders=cached[0], normal=cached[1])
        _pressure_memo.update(pressure=pressure, at=time.monotonic())
        return pressure
    return time_slot_pressure_current()


# The cache only saves counting: when it is down, scoring goes on without it.
def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # any cache backend error
        logger.warning("health score: cache unavailable", exc_info=True)
        return None


def _cache_set(key: str, value, seconds: int) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception:  # any cache backend error
        logger.warning("health score: cache unavailable", exc_info=True)


# --- Combining ---------------------------------------------------------------------


def lane_for(score: int, weights: ScoreWeights, *, mostly_missing: bool = False) -> int:
    if score >= weights.fast_lane_min:
        return NORMAL if mostly_missing else FAST
    if score < weights.watch_below:
        return WATCH
    return NORMAL


def score_combine(factors: dict[str, Factor], weights: ScoreWeights) -> tuple[int, dict, list, int]:
    """(score, breakdown, missing factors, lane) from the five factors."""
    breakdown, missing = {}, []
    total = present = weighted = 0
    for name in FACTORS:
        factor, weight = factors[name], getattr(weights, name)
        total += weight
        breakdown[name] = {
            "value": factor.value,
            "weight": weight,
            "inputs": factor.inputs,
            "missing": factor.missing,
        }
        if factor.value is None:
            missing.append(name)
        else:
            present += weight
            weighted += factor.value * weight
    if not present:
        return 0, breakdown, missing, NORMAL
    score = _divide_half_up(weighted, present)
    mostly_missing = (total - present) * 2 > total
    return score, breakdown, missing, lane_for(score, weights, mostly_missing=mostly_missing)
