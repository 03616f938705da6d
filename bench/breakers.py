"""Benchmark 4: one evaluation of every stage's circuit breaker.

`orders.services.breakers.breakers_evaluate()` is what the minute schedule runs:
the stage settings, one grouped count of the waiting (unclaimed) orders per stage,
the breaker rows, and a state change where a backlog crossed a mark (a trip pins
the oldest orders, writes an event, notifies the owners).

The table is vacuumed first (untimed: no dead queue entries of earlier work). The
first evaluation is timed apart (on the generated backlog it may trip breakers);
then `evaluations` steady ones, each next to the baseline: the grouped count alone
as raw SQL. Afterwards the breakers, the pins and the events, notifications and
audit rows the run wrote are put back as they were, so every run measures the same
thing.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Message, Notification
from orders.models import BreakerEvent, Order, StageBreaker
from orders.states import MAIN_LINE

RAW_WAITING = (
    "SELECT status, count(*) FROM orders_order WHERE claimed_by_id IS NULL "
    f"AND status IN ({', '.join(['%s'] * len(MAIN_LINE))}) GROUP BY status"
)
WRITTEN = (BreakerEvent, AuditEvent, Notification, Message)


def _percentile(values: list[float], share: float) -> float:
    from bench.changelist import percentile

    return percentile(values, share)


def breakers_snapshot() -> dict:
    """What evaluating breakers changes: take it before, `breakers_restore` it after."""
    return {
        "breakers": list(StageBreaker.objects.values()),
        "pinned": set(Order.objects.filter(pinned=True).values_list("pk", flat=True)),
        "last_ids": {
            model: model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            for model in WRITTEN
        },
    }


def breakers_restore(before: dict) -> dict:
    """Put the breakers and the pins back; delete what the evaluations wrote."""
    undone = {}
    with transaction.atomic():
        pinned = set(Order.objects.filter(pinned=True).values_list("pk", flat=True))
        undone["unpinned"] = Order.objects.filter(pk__in=pinned - before["pinned"]).update(
            pinned=False
        )
        undone["repinned"] = Order.objects.filter(pk__in=before["pinned"] - pinned).update(
            pinned=True
        )
        rows = {row["stage"]: row for row in before["breakers"]}
        StageBreaker.objects.exclude(stage__in=rows).delete()
        for stage, row in rows.items():
            StageBreaker.objects.filter(stage=stage).update(
                **{k: v for k, v in row.items() if k not in ("id", "stage")}
            )
        for model, last in before["last_ids"].items():
            deleted, _ = model.objects.filter(pk__gt=last).delete()
            undone[model._meta.label] = deleted
    return undone


def _raw_waiting(cursor) -> dict[str, int]:
    cursor.execute(RAW_WAITING, [str(s) for s in MAIN_LINE])
    return dict(cursor.fetchall())


def _stats(samples: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(_percentile(samples, 0.95), 2),
        "min_ms": round(min(samples), 2),
        "samples_ms": [round(s, 2) for s in samples],
    }


def breakers_run(*, evaluations: int = 20) -> dict:
    try:
        from orders.services.breakers import breakers_evaluate
    except ImportError as error:
        return {"missing": f"orders.services.breakers.breakers_evaluate: {error}"}

    with connection.cursor() as cursor:
        # Untimed: no dead queue entries left by earlier work (autovacuum's job in life).
        cursor.execute("VACUUM (ANALYZE) orders_order")
    before = breakers_snapshot()
    try:
        with connection.cursor() as cursor:
            waiting = _raw_waiting(cursor)
        began = time.perf_counter()
        first_states = breakers_evaluate()
        first_ms = (time.perf_counter() - began) * 1000
        was = {row["stage"]: row["state"] for row in before["breakers"]}
        changed = {s: str(v) for s, v in first_states.items() if v != was.get(s, "closed")}
        with CaptureQueriesContext(connection) as captured:
            breakers_evaluate()
        statements = [q["sql"].split()[0] for q in captured.captured_queries]

        service, baseline = [], []
        with connection.cursor() as cursor:
            for _ in range(evaluations):
                began = time.perf_counter()
                _raw_waiting(cursor)
                baseline.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                states = breakers_evaluate()
                service.append((time.perf_counter() - began) * 1000)
    finally:
        undone = breakers_restore(before)
    return {
        "evaluations": evaluations,
        "waiting": waiting,
        "first_ms": round(first_ms, 2),
        "first_changes": changed,
        "states": {s: str(v) for s, v in states.items()},
        "queries_per_evaluation": len(statements),
        "statements": statements,
        "service": _stats(service),
        "baseline": _stats(baseline),
        "ratio": round(statistics.median(service) / statistics.median(baseline), 2),
        "restored": undone,
    }
