"""Benchmark: rescoring every open order's health score (`health_rescore_open`).

The generated history has few open orders, so inside one transaction that is rolled
back at the end the newest `orders` orders are put into an open stage (spread over
the seven) and given evaluation cards (raw SQL; about one part in ten unavailable,
some transfers, some shortages, new and returning customers, credit headroom both
ways): the database is left as it was.

Timed: `health_rescore_open()` twice (the first run inserts the health rows, the
second updates them, as the schedule does), against the naive way: for a sample of
`sample` orders, read the order, its lines and its card, compute the same values with
the same factor functions, then `OrderHealth.update_or_create()` and
`order.save(update_fields=["lane"])` one order at a time. The sample's results are
compared with what the set-based run wrote (mismatches must be 0).

Note: each chunk runs in a savepoint of the outer transaction (so nothing is
committed); a scheduled run commits once per chunk instead.
"""

from __future__ import annotations

import random
import time

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from orders.models import EvaluationCard, Order, OrderHealth
from orders.services import health
from orders.states import OPEN_STAGES, PaymentStatus

_OPEN_SQL = """
    UPDATE orders_order SET status = (%s::varchar[])[1 + (id %% {stages})]
    WHERE id = ANY(%s::bigint[])
"""
_CARDS_SQL = """
    INSERT INTO orders_evaluationcard (
        order_id, requested_at, completed_at,
        customer, customer_status, customer_fetched_at, customer_error,
        inventory, inventory_status, inventory_fetched_at, inventory_error,
        fulfilment, fulfilment_status, fulfilment_fetched_at, fulfilment_error)
    SELECT o.id, now(), now(),
        jsonb_build_object('headroom', ((o.id %% 7) * 1000 - 1500)::text || '.00'),
        CASE WHEN o.id %% 10 = 1 THEN 'unavailable' ELSE 'ok' END, now(), '',
        jsonb_build_object('lines', '[]'::jsonb, 'transfer_needed', o.id %% 5 = 0,
                           'shortage', o.id %% 23 = 0),
        CASE WHEN o.id %% 11 = 2 THEN 'unavailable' ELSE 'ok' END, now(), '',
        jsonb_build_object('orders', o.id %% 9,
                           'paid_on_time_rate', ((o.id %% 50) + 50) / 100.0,
                           'received_on_time_rate',
                           CASE WHEN o.id %% 13 = 0 THEN NULL
                                ELSE ((o.id %% 40) + 60) / 100.0 END),
        CASE WHEN o.id %% 12 = 3 THEN 'unavailable' ELSE 'ok' END, now(), ''
    FROM orders_order o WHERE o.id = ANY(%s::bigint[])
    ON CONFLICT (order_id) DO NOTHING
"""


def _save_loop(ids: list[int], weights, pressure) -> list[tuple]:
    """The naive rescoring: per order, read, compute, save(). Returns what it wrote."""
    pressure_factor = health.time_slot_pressure_factor(pressure)
    written = []
    for order in Order.objects.filter(pk__in=ids):
        lines = order.lines.aggregate(
            lines=Count("id"),
            quantity=Sum("quantity"),
            customised=Count("id", filter=Q(is_customised=True)),
            split=Count("id", filter=Q(is_split_shipment=True)),
        )
        card = EvaluationCard.objects.filter(order=order).first()
        fulfilment = card.fulfilment if card else None
        factors = {
            "customer_history": health.customer_history_factor(
                card.fulfilment_status if card else None, fulfilment
            ),
            "complexity": health.complexity_factor(
                lines=lines["lines"],
                quantity=lines["quantity"] or 0,
                customised=lines["customised"],
                split=lines["split"],
                presale=order.is_presale,
                has_notes=bool(order.notes),
            ),
            "payment_method": health.payment_method_factor(
                method=order.payment_method,
                paid=order.payment_status == PaymentStatus.PAID,
                amount_due=order.amount_due,
                customer_status=card.customer_status if card else None,
                headroom=card.customer.get("headroom") if card else None,
            ),
            "inventory_match": health.inventory_match_factor(
                card.inventory_status if card else None,
                card.inventory.get("transfer_needed") if card else None,
                card.inventory.get("shortage") if card else None,
            ),
            "time_slot_pressure": pressure_factor,
        }
        score, breakdown, missing, lane = health.score_combine(factors, weights)
        OrderHealth.objects.update_or_create(
            order=order,
            defaults={
                "score": score,
                "breakdown": breakdown,
                "missing": missing,
                "weights": weights,
            },
        )
        order.lane = lane
        order.save(update_fields=["lane"])
        written.append((order.pk, score, missing, lane))
    return written


def rescoring_run(*, orders: int = 100_000, sample: int = 2000, seed: int = 42) -> dict:
    rng = random.Random(seed)
    result: dict = {}
    with transaction.atomic():
        try:
            ids = list(Order.objects.order_by("-id").values_list("id", flat=True)[:orders])
            stages = [str(stage) for stage in OPEN_STAGES]
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(_OPEN_SQL.format(stages=len(stages)), [stages, ids])
                cursor.execute(_CARDS_SQL, [ids])
                cards = cursor.rowcount
                cursor.execute("ANALYZE orders_order")
                cursor.execute("ANALYZE orders_evaluationcard")
            result["setup_seconds"] = time.perf_counter() - started
            result["cards_created"] = cards
            weights = health.weights_current()

            runs = []
            for _ in range(2):
                runs.append(health.health_rescore_open())
            result["runs"] = runs
            result["open_orders"] = runs[-1]["scored"]
            result["service_seconds"] = runs[-1]["seconds"]
            result["service_per_second"] = runs[-1]["scored"] / result["service_seconds"]

            pressure = health.TimeSlotPressure(
                open_orders=runs[-1]["open_orders"], normal=runs[-1]["normal_open_orders"]
            )
            picked = rng.sample(ids, min(sample, len(ids)))
            expected = {
                h.order_id: (h.score, h.missing, h.order.lane)
                for h in OrderHealth.objects.filter(order_id__in=picked).select_related("order")
            }
            started = time.perf_counter()
            written = _save_loop(picked, weights, pressure)
            seconds = time.perf_counter() - started
            result["baseline_orders"] = len(written)
            result["baseline_seconds"] = seconds
            result["baseline_per_second"] = len(written) / seconds
            result["ratio"] = result["service_per_second"] / result["baseline_per_second"]
            result["mismatches"] = sum(
                1
                for pk, score, missing, lane in written
                if expected.get(pk) != (score, missing, lane)
            )
        finally:
            transaction.set_rollback(True)  # leave the database as it was
    return result
