"""The order health score: scoring one order and rescoring every open one, set-based.

The factors and their formulas are in `orders.services.health_factors`; the weights
in `orders.services.health_weights`. This module reads the inputs of many orders at
once, combines them and writes the results with one statement per table and chunk.
Its public names (and the factors' and weights') are importable from here.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import time
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Length
from django.utils import timezone

from orders.models import EvaluationCard, Order, OrderHealth, OrderLine, ScoreWeights
from orders.services.health_factors import (  # noqa: F401  (re-exported)
    FACTOR_LABELS,
    FACTORS,
    FAST,
    NORMAL,
    WATCH,
    Factor,
    TimeSlotPressure,
    _pressure_recent,
    complexity_factor,
    customer_history_factor,
    inventory_match_factor,
    lane_for,
    payment_method_factor,
    score_combine,
    time_slot_pressure_current,
    time_slot_pressure_factor,
)
from orders.services.health_weights import (  # noqa: F401  (re-exported)
    BANDS,
    HEALTH_WEIGHTS_CHANGED,
    RESCORE_TASK,
    weights_change,
    weights_current,
    weights_recent,
    weights_validate,
)
from orders.states import Lane, PaymentStatus

logger = logging.getLogger(__name__)

__all__ = [
    "FACTORS",
    "FACTOR_LABELS",
    "HEALTH_WEIGHTS_CHANGED",
    "Factor",
    "TimeSlotPressure",
    "complexity_factor",
    "customer_history_factor",
    "health_rescore_open",
    "health_score_new",
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
