"""Benchmark: the evaluation card fetches its three sources at once (`card_fetch`).

A local threaded HTTP server (the demo source of `manage.py connectors_demo_server`,
with fixed valid contract answers instead of database reads) answers each of the
three endpoints after `delay_ms` (100 ms); the three connectors are pointed at it
(settings changed in this process, restored afterwards). Then, for `orders` orders of
the benchmark database, one after the other after a warm-up, each timed in turn:

- `card_fetch(order)`: the service, with its order load, breaker checks and card
  save; the three HTTP calls run concurrently, so about one call's time;
- baseline: one source call alone (the CRM's `fetch`, order preloaded): ~delay_ms;
- baseline: the three sources' `fetch` one after the other: ~3 x delay_ms.

Goal: median `card_fetch` <= 150 ms, with every part fetched (a part cut off by the
budget would make the card look fast). Everything the fetches write (cards, breaker
rows) is in one transaction rolled back at the end: the database is left as it was.
"""

from __future__ import annotations

import random
import statistics
import time

from django.conf import settings
from django.db import transaction

from orders.connectors import connector_for
from orders.management.commands.connectors_demo_server import demo_server_start
from orders.models import ConnectorState, Order, PartStatus
from orders.services.card import PARTS, card_fetch

GOAL_MS = 150.0


class FixedAnswers:
    """Valid contract answers, the same for every customer: no database in the server."""

    def customer(self, ref: str, partner_code: str | None) -> dict:
        return {
            "credit_rating": "good",
            "tier": "silver",
            "credit_limit": "20000.00",
            "outstanding": "1500.00",
            "orders_completed": 4,
        }

    def stock(self, skus: list[str]) -> dict[str, dict[str, int]]:
        return {sku: {"hz": 40, "sh": 3} for sku in skus}

    def fulfilment(self, ref: str, partner_code: str | None) -> dict:
        return {"orders": 4, "paid_on_time_rate": 0.75, "received_on_time_rate": None}


def _percentile(values: list[float], share: float) -> float:
    from bench.changelist import percentile

    return percentile(values, share)


def _stats(values: list[float]) -> dict:
    return {
        "median_ms": statistics.median(values) * 1000,
        "p95_ms": _percentile(values, 0.95) * 1000,
        "min_ms": min(values) * 1000,
        "max_ms": max(values) * 1000,
    }


def _loaded(order_id: int) -> Order:
    """The order as card_fetch loads it for its sources."""
    return (
        Order.objects.select_related("customer__partner").prefetch_related("lines").get(pk=order_id)
    )


def card_run(*, orders: int = 50, delay_ms: int = 100, warmup: int = 3, seed: int = 42) -> dict:
    names = [f"CONNECTOR_{kind.upper()}{suffix}" for kind in PARTS for suffix in ("", "_URL")]
    saved = {name: getattr(settings, name) for name in names}
    server = demo_server_start(delay_ms=delay_ms, answers=FixedAnswers())
    try:
        for kind in PARTS:
            setattr(settings, f"CONNECTOR_{kind.upper()}", "http")
            setattr(settings, f"CONNECTOR_{kind.upper()}_URL", server.url)
        rng = random.Random(seed)
        newest = list(Order.objects.order_by("-id").values_list("id", flat=True)[:5000])
        ids = rng.sample(newest, min(len(newest), orders + warmup))
        warm, timed = ids[:warmup], ids[warmup:]
        sources = {kind: connector_for(kind) for kind in PARTS}
        card, single, sequential = [], [], []
        unavailable = 0
        with transaction.atomic():
            # Breakers closed whatever earlier runs left (rolled back with the rest).
            ConnectorState.objects.update(failures=0, open_until=None)
            for order_id in warm:
                card_fetch(Order(pk=order_id))
                order = _loaded(order_id)
                for source in sources.values():
                    source.fetch(order)
            for order_id in timed:
                started = time.perf_counter()
                fetched = card_fetch(Order(pk=order_id))
                card.append(time.perf_counter() - started)
                unavailable += sum(
                    getattr(fetched, f"{kind}_status") != PartStatus.OK for kind in PARTS
                )

                order = _loaded(order_id)
                started = time.perf_counter()
                sources["customer"].fetch(order)
                single.append(time.perf_counter() - started)

                started = time.perf_counter()
                for kind in PARTS:
                    sources[kind].fetch(order)
                sequential.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    finally:
        server.stop()
        for name, value in saved.items():
            setattr(settings, name, value)
    card_stats, single_stats = _stats(card), _stats(single)
    sequential_stats = _stats(sequential)
    return {
        "orders": len(timed),
        "delay_ms": delay_ms,
        "budget_ms": settings.CARD_BUDGET_MS,
        "card": card_stats,
        "single": single_stats,
        "sequential": sequential_stats,
        "unavailable_parts": unavailable,
        "ratio_single": card_stats["median_ms"] / single_stats["median_ms"],
        "ratio_sequential": card_stats["median_ms"] / sequential_stats["median_ms"],
    }
