"""Benchmark 2: stage transitions per second through the service, against raw SQL.

Service: `order_complete_stage(order, by=superuser)` on orders in sales review: lock,
guards, the FSM transition, `save(update_fields=...)`, the timeline (close + open a
visit), the audit event, routing, on_commit hooks; one transaction each.

Baseline, measured in the same run on the same kind of orders: the minimum any
implementation must do, as raw SQL in one transaction each: the conditional
UPDATE of the order's state, closing the open visit, inserting the next one.

Both work on fresh orders made for the run (and deleted afterwards); blocks of the
two alternate so that the machine's noise hits both alike.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from bench.orders import bench_orders_create
from orders.models import Order, OrderLine, Product, StageVisit
from orders.services import order_complete_stage
from orders.states import OrderStatus, Via

S = OrderStatus
TAG = "BENCH-TX-"
BLOCK = 250


def _orders_create(count: int, label: str) -> list[int]:
    """`count` orders waiting in sales review, with their two first visits."""
    orders = bench_orders_create(
        count,
        stage=S.SALES_REVIEW,
        number=lambda i: f"BX{label}{i:07d}",
        external_ref=lambda i: f"{TAG}{label}-{i}",
        placed_at=lambda i, now: now - timedelta(minutes=1),
    )
    now = orders[0].created_at if orders else timezone.now()
    product = Product.objects.filter(is_presale=False).order_by("id").first()
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=o,
                product=product,
                sku=product.sku,
                name=product.name,
                quantity=1,
                list_price=product.list_price,
                unit_price=product.list_price,
            )
            for o in orders
        ],
        batch_size=1000,
    )
    visits = []
    for o in orders:
        visits.append(
            StageVisit(
                order=o,
                stage=S.RECEIVED,
                entered_at=now,
                left_at=now,
                via=Via.SYSTEM,
                reason="intake complete",
            )
        )
        visits.append(StageVisit(order=o, stage=S.SALES_REVIEW, entered_at=now))
    StageVisit.objects.bulk_create(visits, batch_size=2000)
    return [o.pk for o in orders]


def _cleanup() -> None:
    ids = list(Order.objects.filter(external_ref__startswith=TAG).values_list("id", flat=True))
    if not ids:
        return
    order_type = ContentType.objects.get_for_model(Order)
    with transaction.atomic():
        AuditEvent.objects.filter(
            subject_type=order_type, subject_id__in=[str(i) for i in ids]
        ).delete()
        StageVisit.objects.filter(order_id__in=ids).delete()
        OrderLine.objects.filter(order_id__in=ids).delete()
        Order.objects.filter(id__in=ids).delete()


def _raw_transition(cursor, order_id: int, actor_id: int) -> None:
    now = timezone.now()
    with transaction.atomic():
        cursor.execute(
            "UPDATE orders_order SET status = %s, stage_entered_at = %s, updated_at = %s "
            "WHERE id = %s AND status = %s",
            [S.FINANCE_REVIEW, now, now, order_id, S.SALES_REVIEW],
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"raw transition of order {order_id} did not apply")
        cursor.execute(
            "UPDATE orders_stagevisit SET left_at = %s, actor_id = %s, via = %s "
            "WHERE order_id = %s AND left_at IS NULL",
            [now, actor_id, Via.MANUAL, order_id],
        )
        cursor.execute(
            "INSERT INTO orders_stagevisit (order_id, stage, entered_at, via, reason, detail) "
            "VALUES (%s, %s, %s, '', '', '{}')",
            [order_id, S.FINANCE_REVIEW, now],
        )


def _service_transitions(order_ids: list[int], user) -> float:
    orders = list(Order.objects.filter(pk__in=order_ids).order_by("id"))
    began = time.perf_counter()
    for order in orders:
        order_complete_stage(order, by=user)
    return time.perf_counter() - began


def _raw_transitions(order_ids: list[int], user) -> float:
    with connection.cursor() as cursor:
        began = time.perf_counter()
        for order_id in order_ids:
            _raw_transition(cursor, order_id, user.pk)
        return time.perf_counter() - began


def _concurrently(run, id_lists: list[list[int]], user) -> float:
    """Wall time of `run` over each id list in its own process (own connection), all
    started together: the throughput several web workers would get."""
    context = multiprocessing.get_context("fork")
    connections.close_all()  # children open their own connections
    barrier = context.Barrier(len(id_lists))
    queue = context.Queue()

    def child(ids):
        barrier.wait()
        began = time.time()
        run(ids, user)
        queue.put((began, time.time()))
        connections.close_all()

    processes = [context.Process(target=child, args=(ids,)) for ids in id_lists]
    for process in processes:
        process.start()
    spans = [queue.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a transition worker failed (exit {process.exitcode})")
    return max(end for _, end in spans) - min(start for start, _ in spans)


def transitions_run(*, count: int = 3000, concurrency: int = 2) -> dict:
    """The benchmark. Orders entering finance review trip its breaker (the check after
    each transition): the breakers are put back afterwards, so every run (and the
    benchmarks after it) measures the same thing."""
    from bench.breakers import breakers_restore, breakers_snapshot

    before = breakers_snapshot()
    try:
        return _transitions_run(count=count, concurrency=concurrency)
    finally:
        breakers_restore(before)


def _transitions_run(*, count: int, concurrency: int) -> dict:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    _cleanup()
    service_ids = _orders_create(count, "S")
    raw_ids = _orders_create(count, "R")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE orders_stagevisit")

    # Two untimed service calls: a warm-up (caches such as content types), then one
    # captured: what a transition costs in statements.
    order_complete_stage(Order.objects.get(pk=service_ids[0]), by=user)
    second = Order.objects.get(pk=service_ids[1])
    with CaptureQueriesContext(connection) as captured:
        order_complete_stage(second, by=user)
    queries = [q["sql"].split()[0] for q in captured.captured_queries]
    service_ids, raw_ids = service_ids[2:], raw_ids[2:]

    # One connection, blocks of both kinds alternating.
    service_seconds = raw_seconds = 0.0
    service_blocks, raw_blocks = [], []
    for start in range(0, len(service_ids), BLOCK):
        block = service_ids[start : start + BLOCK]
        seconds = _service_transitions(block, user)
        service_seconds += seconds
        service_blocks.append(round(seconds / len(block) * 1000, 2))
        block = raw_ids[start : start + BLOCK]
        seconds = _raw_transitions(block, user)
        raw_seconds += seconds
        raw_blocks.append(round(seconds / len(block) * 1000, 2))
    moved = Order.objects.filter(pk__in=service_ids).exclude(status=S.SALES_REVIEW).count()
    visits_written = StageVisit.objects.filter(order_id__in=service_ids).count() - 3 * len(
        service_ids
    )
    _cleanup()
    n = len(service_ids)
    result = {
        "transitions": n,
        "service_per_second": round(n / service_seconds, 1),
        "baseline_per_second": round(n / raw_seconds, 1),
        "ratio": round(raw_seconds / service_seconds, 3),
        "service_ms_each": round(service_seconds / n * 1000, 3),
        "baseline_ms_each": round(raw_seconds / n * 1000, 3),
        "queries_per_transition": len(queries),
        "statements": queries,
        "extra_visits_per_transition": round(visits_written / n, 2),
        "failures": n - moved,
        "service_ms_per_block": service_blocks,
        "baseline_ms_per_block": raw_blocks,
    }

    if concurrency > 1:
        # The same work split over several connections at once.
        service_ids = _orders_create(count, "CS")
        raw_ids = _orders_create(count, "CR")
        split = [service_ids[i::concurrency] for i in range(concurrency)]
        service_wall = _concurrently(_service_transitions, split, user)
        split = [raw_ids[i::concurrency] for i in range(concurrency)]
        raw_wall = _concurrently(_raw_transitions, split, user)
        _cleanup()
        result["concurrent"] = {
            "connections": concurrency,
            "service_per_second": round(count / service_wall, 1),
            "baseline_per_second": round(count / raw_wall, 1),
            "ratio": round(raw_wall / service_wall, 3),
        }
    return result
