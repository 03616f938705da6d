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
    (the ids it scores); one order scored alone uses the last count (<= 1 min old).
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

import gc
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_record
from backoffice.audit.verbs import register_verbs
from orders.models import EvaluationCard, Order, OrderHealth, OrderLine, PartStatus, ScoreWeights
from orders.states import Lane, PaymentMethod, PaymentStatus

logger = logging.getLogger(__name__)

HEALTH_WEIGHTS_CHANGED = "health.weights_changed"
register_verbs({HEALTH_WEIGHTS_CHANGED: _("Health score weights changed")})

RESCORE_TASK = "orders.tasks.health_rescore_open"
FACTORS = ScoreWeights.FACTORS
FACTOR_LABELS = {
    "customer_history": _("customer history"),
    "complexity": _("order complexity"),
    "payment_method": _("payment method"),
    "inventory_match": _("inventory match"),
    "time_slot_pressure": _("time-slot pressure"),
}
BANDS = ("fast_lane_min", "watch_below")

NEW_CUSTOMER_VALUE = 60
PRESSURE_NORMAL_FLOOR = 50
PRESSURE_TARGET_HOURS = 2
PRESSURE_CACHE_KEY = "orders:health:pressure"
PRESSURE_CACHE_SECONDS = 60
NORMAL_CACHE_KEY = "orders:health:normal-open-orders"
NORMAL_CACHE_SECONDS = 3600
# Plain ints: compared and sent to the database 100,000 times a run.
FAST, NORMAL, WATCH = int(Lane.FAST), int(Lane.NORMAL), int(Lane.WATCH)

__all__ = [
    "FACTORS",
    "FACTOR_LABELS",
    "HEALTH_WEIGHTS_CHANGED",
    "Factor",
    "TimeSlotPressure",
    "complexity_factor",
    "customer_history_factor",
    "health_rescore_open",
    "health_score_order",
    "inventory_match_factor",
    "lane_for",
    "payment_method_factor",
    "score_combine",
    "time_slot_pressure_current",
    "time_slot_pressure_factor",
    "weights_change",
    "weights_current",
    "weights_validate",
]


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
    return pressure


def _pressure_recent() -> TimeSlotPressure:
    """The last run's pressure (at most a minute old): scoring one order at intake
    must not count every open order each time."""
    cached = _cache_get(PRESSURE_CACHE_KEY)
    if cached:
        return TimeSlotPressure(open_orders=cached[0], normal=cached[1])
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


# --- Reading the inputs of many orders at once ------------------------------------

# One row per order, in this column order, from either reader below:
#   id, payment_method, payment_status, total_amount, amount_paid, is_presale, has_notes,
#   lines, quantity, customised lines, split lines,
#   customer_status, headroom, inventory_status, transfer_needed, shortage,
#   fulfilment_status, orders, paid_on_time_rate, received_on_time_rate
# (the card's columns are None without a card).
_INPUTS_SQL = """
    SELECT o.id, o.payment_method, o.payment_status, o.total_amount, o.amount_paid,
           o.is_presale, o.notes <> '',
           COALESCE(l.lines, 0), COALESCE(l.quantity, 0), COALESCE(l.customised, 0),
           COALESCE(l.split, 0),
           c.customer_status, c.customer ->> 'headroom',
           c.inventory_status, c.inventory ->> 'transfer_needed', c.inventory ->> 'shortage',
           c.fulfilment_status, c.fulfilment ->> 'orders',
           c.fulfilment ->> 'paid_on_time_rate', c.fulfilment ->> 'received_on_time_rate'
    FROM orders_order o
    LEFT JOIN (
        SELECT order_id, count(*) AS lines, sum(quantity) AS quantity,
               count(*) FILTER (WHERE is_customised) AS customised,
               count(*) FILTER (WHERE is_split_shipment) AS split
        FROM orders_orderline WHERE order_id = ANY(%s::bigint[]) GROUP BY order_id
    ) l ON l.order_id = o.id
    LEFT JOIN orders_evaluationcard c ON c.order_id = o.id
    WHERE o.id = ANY(%s::bigint[])
"""
_CARD_KEYS = (
    "customer_status",
    "customer__headroom",
    "inventory_status",
    "inventory__transfer_needed",
    "inventory__shortage",
    "fulfilment_status",
    "fulfilment__orders",
    "fulfilment__paid_on_time_rate",
    "fulfilment__received_on_time_rate",
)
_NO_LINES = (0, 0, 0, 0)
_NO_CARD = (None,) * len(_CARD_KEYS)


def _inputs_read(ids: list[int]) -> list[tuple]:
    """Each order's inputs (the row described above): one query on PostgreSQL, three
    through the ORM elsewhere."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_INPUTS_SQL, [ids, ids])
            return cursor.fetchall()
    return _inputs_read_orm(ids)


def _inputs_read_orm(ids: list[int]) -> list[tuple]:
    orders = (
        Order.objects.filter(pk__in=ids)
        .order_by()
        .annotate(notes_length=Length("notes"))
        .values_list(
            "id",
            "payment_method",
            "payment_status",
            "total_amount",
            "amount_paid",
            "is_presale",
            "notes_length",
        )
    )
    lines = {
        row[0]: row[1:]
        for row in OrderLine.objects.filter(order_id__in=ids)
        .order_by()
        .values("order_id")
        .annotate(
            lines=Count("id"),
            quantity=Sum("quantity"),
            customised=Count("id", filter=Q(is_customised=True)),
            split=Count("id", filter=Q(is_split_shipment=True)),
        )
        .values_list("order_id", "lines", "quantity", "customised", "split")
    }
    cards = {
        row[0]: row[1:]
        for row in EvaluationCard.objects.filter(order_id__in=ids)
        .order_by()
        .values_list("order_id", *_CARD_KEYS)
    }
    return [
        (*row[:6], bool(row[6]), *lines.get(row[0], _NO_LINES), *cards.get(row[0], _NO_CARD))
        for row in orders
    ]


def _factors(row: tuple, pressure: Factor) -> dict:
    (
        _id,
        method,
        payment_status,
        total,
        paid_amount,
        presale,
        has_notes,
        lines,
        quantity,
        customised,
        split,
        customer_status,
        headroom,
        inventory_status,
        transfer_needed,
        shortage,
        fulfilment_status,
        history_orders,
        paid_rate,
        received_rate,
    ) = row
    fulfilment = {
        "orders": history_orders,
        "paid_on_time_rate": paid_rate,
        "received_on_time_rate": received_rate,
    }
    return {
        "customer_history": customer_history_factor(fulfilment_status, fulfilment),
        "complexity": complexity_factor(
            lines=lines,
            quantity=quantity or 0,
            customised=customised,
            split=split,
            presale=presale,
            has_notes=has_notes,
        ),
        "payment_method": payment_method_factor(
            method=method,
            paid=payment_status == PaymentStatus.PAID,
            amount_due=max(total - paid_amount, Decimal("0.00")),
            customer_status=customer_status,
            headroom=headroom,
        ),
        "inventory_match": inventory_match_factor(inventory_status, transfer_needed, shortage),
        "time_slot_pressure": pressure,
    }


def _results_compute(rows: list[tuple], weights: ScoreWeights, pressure: Factor) -> list[tuple]:
    """[(order id, score, breakdown, missing, lane)] from the rows of `_inputs_read`."""
    # A chunk builds ~25 small containers per order that all live until it is written:
    # the cyclic garbage collector would scan them again and again (a third of the
    # compute time at 5,000 orders). Nothing here makes reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [(row[0], *score_combine(_factors(row, pressure), weights)) for row in rows]
    finally:
        if collecting:
            gc.enable()


def _score_many(ids: list[int], weights: ScoreWeights, pressure: TimeSlotPressure) -> list[tuple]:
    return _results_compute(_inputs_read(ids), weights, time_slot_pressure_factor(pressure))


# --- Writing: one statement per table ------------------------------------------------

_UPSERT_SQL = """
    INSERT INTO orders_orderhealth (order_id, score, breakdown, missing, weights_id, scored_at)
    SELECT v.order_id, v.score, v.breakdown, v.missing, %s, %s
    FROM unnest(
        %s::bigint[], %s::int[],
        string_to_array(%s, chr(30))::jsonb[], string_to_array(%s, chr(30))::jsonb[]
    ) AS v(order_id, score, breakdown, missing)
    ON CONFLICT (order_id) DO UPDATE SET
        score = EXCLUDED.score, breakdown = EXCLUDED.breakdown, missing = EXCLUDED.missing,
        weights_id = EXCLUDED.weights_id, scored_at = EXCLUDED.scored_at
"""
# The JSON documents travel as one text joined with the ASCII record separator (which
# json.dumps always escapes, so it never occurs inside one): an array of 5,000 strings
# costs psycopg's client-side binding ~0.4 s to quote, one string ~nothing.
_RECORD_SEPARATOR = chr(30)
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_LANES_SQL = """
    UPDATE orders_order AS o SET lane = v.lane
    FROM unnest(%s::bigint[], %s::smallint[]) AS v(id, lane)
    WHERE o.id = v.id AND o.lane <> v.lane
"""


def _results_write(results: list[tuple], weights: ScoreWeights, at) -> int:
    """Store scores and lanes; returns how many orders changed lane."""
    if not results:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _UPSERT_SQL,
                [
                    weights.pk,
                    at,
                    [r[0] for r in results],
                    [r[1] for r in results],
                    _RECORD_SEPARATOR.join(_dumps(r[2]) for r in results),
                    _RECORD_SEPARATOR.join(_dumps(r[3]) for r in results),
                ],
            )
            cursor.execute(_LANES_SQL, [[r[0] for r in results], [r[4] for r in results]])
            return cursor.rowcount
    rows = [
        OrderHealth(
            order_id=order_id,
            score=score,
            breakdown=breakdown,
            missing=missing,
            weights=weights,
            scored_at=at,
        )
        for order_id, score, breakdown, missing, _lane in results
    ]
    OrderHealth.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["order"],
        update_fields=["score", "breakdown", "missing", "weights", "scored_at"],
    )
    changed = 0
    for lane in Lane.values:
        ids = [r[0] for r in results if r[4] == lane]
        if ids:
            changed += Order.objects.filter(pk__in=ids).exclude(lane=lane).update(lane=lane)
    return changed


# --- The services ---------------------------------------------------------------------


def health_score_order(
    order: Order, *, weights: ScoreWeights | None = None, pressure: TimeSlotPressure | None = None
) -> OrderHealth:
    """Score one order (at intake, when its card completes, on relevant changes) and
    set its lane. Reads the stored order, lines and card: save changes first."""
    weights = weights or weights_current()
    pressure = pressure or _pressure_recent()
    with transaction.atomic():
        results = _score_many([order.pk], weights, pressure)
        _results_write(results, weights, timezone.now())
    if results:
        order.lane = results[0][4]
    return OrderHealth.objects.get(order_id=order.pk)


def health_rescore_open(*, chunk: int = 5000, pressure: TimeSlotPressure | None = None) -> dict:
    """Rescore every open order, `chunk` orders per transaction (module docstring).

    Idempotent: a second run (the ORM broker may deliver twice) writes the same rows.
    """
    started = time.perf_counter()
    weights = weights_current()
    # The ids through a plain cursor: 100,000 model-less rows without the ORM's
    # per-row cost. The same count is the time-slot pressure's "open orders now".
    sql, params = Order.objects.open().order_by("id").values_list("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    pressure = pressure or time_slot_pressure_current(open_orders=len(ids))
    pressure_factor = time_slot_pressure_factor(pressure)
    scored = lanes_changed = 0
    phases = {"read": 0.0, "compute": 0.0, "write": 0.0}
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            at = time.perf_counter()
            rows = _inputs_read(ids[start : start + chunk])
            phases["read"] += time.perf_counter() - at
            at = time.perf_counter()
            results = _results_compute(rows, weights, pressure_factor)
            phases["compute"] += time.perf_counter() - at
            at = time.perf_counter()
            lanes_changed += _results_write(results, weights, timezone.now())
            phases["write"] += time.perf_counter() - at
        scored += len(results)
    return {
        "scored": scored,
        "lanes_changed": lanes_changed,
        "chunks": math.ceil(len(ids) / chunk) if ids else 0,
        "weights": weights.pk,
        "open_orders": pressure.open_orders,
        "normal_open_orders": pressure.normal,
        "seconds": round(time.perf_counter() - started, 3),
        **{f"{phase}_seconds": round(value, 3) for phase, value in phases.items()},
    }


def weights_current() -> ScoreWeights:
    """The weights in force (the newest row); the defaults are stored on first use."""
    current = ScoreWeights.objects.order_by("-created_at", "-id").first()
    if current is None:
        current = ScoreWeights.objects.create(reason=gettext("Defaults"))
    _weights_memo.update(row=current, at=time.monotonic())
    return current


_weights_memo: dict = {"row": None, "at": 0.0}


def weights_recent() -> ScoreWeights:
    """The weights in force as this process read them at most
    HEALTH_WEIGHTS_CACHE_SECONDS ago (intake scores every order: no query each time)."""
    ttl = getattr(settings, "HEALTH_WEIGHTS_CACHE_SECONDS", 5)
    if _weights_memo["row"] is not None and time.monotonic() - _weights_memo["at"] < ttl:
        return _weights_memo["row"]
    return weights_current()


def health_score_new(order: Order, card: EvaluationCard) -> int:
    """Score an order intake has just written, from what intake holds in memory (the
    order, its lines, the card it just read): the same factors as `_inputs_read` rows,
    no re-reading. Writes the health row; sets `order.lane` (the caller writes it with
    the order's first transition). Returns the lane."""
    weights = weights_recent()
    lines = list(order.lines.all())
    row = (
        order.pk,
        order.payment_method,
        order.payment_status,
        order.total_amount,
        order.amount_paid,
        order.is_presale,
        bool(order.notes),
        len(lines),
        sum(line.quantity for line in lines),
        sum(1 for line in lines if line.is_customised),
        sum(1 for line in lines if line.is_split_shipment),
        card.customer_status,
        card.customer.get("headroom"),
        card.inventory_status,
        card.inventory.get("transfer_needed"),
        card.inventory.get("shortage"),
        card.fulfilment_status,
        card.fulfilment.get("orders"),
        card.fulfilment.get("paid_on_time_rate"),
        card.fulfilment.get("received_on_time_rate"),
    )
    pressure = time_slot_pressure_factor(_pressure_recent())
    score, breakdown, missing, lane = score_combine(_factors(row, pressure), weights)
    OrderHealth.objects.create(
        order=order,
        score=score,
        breakdown=breakdown,
        missing=missing,
        weights=weights,
        scored_at=timezone.now(),
    )
    order.lane = lane
    return lane


def weights_validate(values: dict) -> None:
    """Refuse weights that do not sum to 100 and bands out of order (ValidationError)."""
    errors: dict[str, list] = {}
    for name in (*FACTORS, *BANDS):
        value = values.get(name)
        if not isinstance(value, int) or not 0 <= value <= 100:
            errors.setdefault(name, []).append(gettext("A whole number from 0 to 100."))
    if errors:
        raise ValidationError(errors)
    total = sum(values[name] for name in FACTORS)
    if total != 100:
        errors["__all__"] = [
            gettext("The five weights must add up to 100 (they add up to %(total)s).")
            % {"total": total}
        ]
    if values["fast_lane_min"] < 1 or values["watch_below"] < 1:
        errors.setdefault("__all__", []).append(gettext("The bands start at 1."))
    if values["watch_below"] >= values["fast_lane_min"]:
        errors["watch_below"] = [
            gettext("The watch band must lie below the fast lane (%(fast)s).")
            % {"fast": values["fast_lane_min"]}
        ]
    if errors:
        raise ValidationError(errors)


def weights_change(*, by, reason: str, **weights) -> ScoreWeights:
    """A new weights version (unnamed values stay as they are), audited; open orders
    are rescored after commit by a task."""
    unknown = set(weights) - {*FACTORS, *BANDS}
    if unknown:
        raise TypeError(f"unknown weights: {', '.join(sorted(unknown))}")
    if not reason or not reason.strip():
        raise ValidationError({"reason": [gettext("Say why the weights change.")]})
    before = weights_current()
    with transaction.atomic():
        values = {name: getattr(before, name) for name in (*FACTORS, *BANDS)}
        values.update(weights)
        weights_validate(values)
        created = ScoreWeights.objects.create(
            **values, created_by=by, reason=reason.strip(), created_at=timezone.now()
        )
        audit_record(
            verb=HEALTH_WEIGHTS_CHANGED,
            actor=by,
            subject=created,
            reason=created.reason,
            payload={
                "version": created.pk,
                "previous": before.pk,
                "before": {n: getattr(before, n) for n in (*FACTORS, *BANDS)},
                "after": values,
            },
        )
        from django_q.tasks import async_task

        transaction.on_commit(partial(async_task, RESCORE_TASK))
    return created
