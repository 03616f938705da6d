"""Benchmark 3: claim-next per second through the service, against raw SQL.

Service: `order_claim_next(stage="picking", user=...)`: the permission check, the
stage's settings and breaker, then in one transaction the queue head locked with
FOR UPDATE SKIP LOCKED, the claim UPDATE, the person's and the stage's WorkLoad
counters, the order read back and its audit event.

Baseline, in the same run on the same table: one transaction per claim with the
two statements any implementation needs (the SKIP LOCKED select of the queue head
in queue order, the claim UPDATE).

The run makes its own orders waiting in picking, pinned so they head the queue
(the generated backlog stays behind them; a claim is counted, not which order it
got), and lifts the stage's WIP limit and person cap (restored afterwards).
Between blocks every claim of the bench users is released and the counters are
rebuilt, untimed, so every block starts from the same queue.

1. One connection, blocks of service and raw claims alternating.
2. 1 claimer, then N claimers at once (one process and connection each, its own
   user of the Warehouse team), service and raw, in alternating rounds: the
   throughput, and proof that no order was handed out twice.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from backoffice.audit.models import AuditEvent
from backoffice.claims import claims_reconcile, person_key, workload_counts
from backoffice.models import WorkLoad
from bench.orders import bench_orders_create
from orders import events, teams
from orders.models import STAGE_PERMISSIONS, Order, StageSetting
from orders.services.queues import order_claim_next, queue_key, stage_settings
from orders.states import OrderStatus

STAGE = OrderStatus.PICKING
QUEUE = queue_key(STAGE)
TAG = "BENCH-CL-"
USER_PREFIX = "bench-claimer-"
BLOCK = 250
# The concurrent runs go in rounds (1 claimer, N claimers, raw 1, raw N, again...):
# a drift in the shared machine's speed then hits every kind alike.
ROUNDS = 2
LIMIT_FIELDS = ("wip_limit", "person_cap", "reduced_wip_limit", "reduced_person_cap")

RAW_SELECT = (
    "SELECT id FROM orders_order WHERE status = %s AND claimed_by_id IS NULL "
    "ORDER BY pinned DESC, lane, placed_at LIMIT 1 FOR UPDATE SKIP LOCKED"
)
RAW_UPDATE = (
    "UPDATE orders_order SET claimed_by_id = %s, claimed_at = now(), claim_touched_at = now() "
    "WHERE id = %s"
)


def _users(count: int) -> list:
    """`count` active users of the Warehouse team (superusers if the team is missing),
    their permissions loaded (Django caches them on the user object)."""
    group = Group.objects.filter(name=teams.WAREHOUSE).first()
    users = []
    for index in range(count):
        user, _ = get_user_model().objects.get_or_create(
            username=f"{USER_PREFIX}{index:02d}",
            defaults={"is_staff": True, "is_superuser": group is None},
        )
        if group is not None:
            user.groups.add(group)
        user = get_user_model().objects.get(pk=user.pk)
        if not user.has_perm(STAGE_PERMISSIONS[STAGE]):
            raise RuntimeError(f"{user} may not work {STAGE}: check the {teams.WAREHOUSE} group")
        users.append(user)
    WorkLoad.objects.bulk_create(
        [WorkLoad(key=person_key(QUEUE, u.pk)) for u in users], ignore_conflicts=True
    )
    return users


def _orders_create(count: int) -> list[int]:
    """`count` orders waiting unclaimed in picking, pinned: they head the queue."""
    orders = bench_orders_create(
        count,
        stage=STAGE,
        number=lambda i: f"BCL{i:07d}",
        external_ref=lambda i: f"{TAG}{i}",
        placed_at=lambda i, now: now - timedelta(hours=2) + timedelta(milliseconds=i),
        pinned=True,
    )
    return [o.pk for o in orders]


def _release(user_ids: list[int]) -> int:
    """Untimed: give back every claim of the bench users, rebuild the stage's counters."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_order SET claimed_by_id = NULL, claimed_at = NULL, "
            "claim_touched_at = NULL WHERE claimed_by_id = ANY(%s)",
            [user_ids],
        )
        released = cursor.rowcount
    claims_reconcile(
        queue=QUEUE, claimed=Order.objects.filter(status=STAGE, claimed_by__isnull=False)
    )
    return released


def _cleanup(user_ids: list[int]) -> None:
    _release(user_ids)
    order_type = ContentType.objects.get_for_model(Order)
    ids = list(Order.objects.filter(external_ref__startswith=TAG).values_list("id", flat=True))
    with transaction.atomic():
        AuditEvent.objects.filter(actor_id__in=user_ids, verb=events.ORDER_CLAIMED).delete()
        if ids:
            AuditEvent.objects.filter(
                subject_type=order_type, subject_id__in=[str(i) for i in ids]
            ).delete()
            Order.objects.filter(id__in=ids).delete()


def _vacuum() -> None:
    """Untimed: clear the dead queue entries of earlier claims, fresh statistics."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) orders_order")


def _service_claims(user, count: int) -> list[int]:
    claimed = []
    for _ in range(count):
        order = order_claim_next(stage=STAGE, user=user)
        if order is None:
            raise RuntimeError("the picking queue ran empty")
        claimed.append(order.pk)
    return claimed


def _raw_claim(cursor, user_id: int) -> int | None:
    with transaction.atomic():
        cursor.execute(RAW_SELECT, [STAGE])
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(RAW_UPDATE, [user_id, row[0]])
    return row[0]


def _raw_claims(user, count: int) -> list[int]:
    claimed = []
    with connection.cursor() as cursor:
        for _ in range(count):
            pk = _raw_claim(cursor, user.pk)
            if pk is None:
                raise RuntimeError("the picking queue ran empty")
            claimed.append(pk)
    return claimed


def _timed(run, user, count: int) -> tuple[float, list[int]]:
    began = time.perf_counter()
    claimed = run(user, count)
    return time.perf_counter() - began, claimed


def _double_claims(claims: list[tuple[int, list[int]]]) -> int:
    """Claims the database does not confirm: an order handed to two claimers, or one
    whose claimant is not the user who was told it got it. `claims`: (user id, pks)."""
    handed = [pk for _, pks in claims for pk in pks]
    doubles = len(handed) - len(set(handed))
    holders = dict(Order.objects.filter(pk__in=set(handed)).values_list("pk", "claimed_by_id"))
    doubles += sum(1 for user_id, pks in claims for pk in pks if holders.get(pk) != user_id)
    held = Order.objects.filter(claimed_by_id__in={u for u, _ in claims}).count()
    return doubles + abs(held - len(set(handed)))


def _concurrently(run, users: list, per_claimer: int) -> tuple[float, list[tuple[int, list]]]:
    """Wall time of `run(user, per_claimer)` for each user in its own process (own
    connection, opened before the start), all started together."""
    context = multiprocessing.get_context("fork")
    connections.close_all()  # children open their own connections
    barrier = context.Barrier(len(users))
    queue = context.Queue()

    def child(user):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=120)
            began = time.time()
            claimed = run(user, per_claimer)
            queue.put((user.pk, began, time.time(), claimed, None))
        except Exception as error:  # reported by the parent
            queue.put((user.pk, 0.0, 0.0, [], repr(error)))
        finally:
            connections.close_all()

    processes = [context.Process(target=child, args=(user,)) for user in users]
    for process in processes:
        process.start()
    reports = [queue.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join()
    errors = [error for *_, error in reports if error]
    if errors:
        raise RuntimeError(f"a claimer failed: {errors[0]}")
    wall = max(r[2] for r in reports) - min(r[1] for r in reports)
    return wall, [(user_id, claimed) for user_id, _, _, claimed, _ in reports]


def claims_run(*, count: int = 3000, claimers: int = 16, log=print) -> dict:
    claimers = max(1, claimers)
    users = _users(claimers)
    user, user_ids = users[0], [u.pk for u in users]
    setting = stage_settings()[STAGE]
    saved_limits = {field: getattr(setting, field) for field in LIMIT_FIELDS}
    _cleanup(user_ids)  # leftovers of an interrupted run
    StageSetting.objects.filter(stage=STAGE).update(**dict.fromkeys(LIMIT_FIELDS))
    try:
        # Enough pinned orders for the biggest batch of claims between two releases.
        _orders_create(count + BLOCK + claimers)
        _vacuum()
        return _measure(count, users, user, user_ids, log)
    finally:
        _cleanup(user_ids)
        StageSetting.objects.filter(stage=STAGE).update(**saved_limits)
        _vacuum()  # leave no dead queue entries to the next benchmark


def _measure(count: int, users: list, user, user_ids: list[int], log) -> dict:
    waiting = Order.objects.filter(status=STAGE, claimed_by__isnull=True).count()
    # Untimed: a warm-up claim, then one captured: what a claim costs in statements.
    _service_claims(user, 1)
    with CaptureQueriesContext(connection) as captured:
        _service_claims(user, 1)
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    _release(user_ids)
    doubles = drift = 0

    # 1. One connection, blocks of both kinds alternating, all claims released
    # after each pair of blocks.
    service_seconds = raw_seconds = 0.0
    service_blocks, raw_blocks = [], []
    for start in range(0, count, BLOCK):
        size = min(BLOCK, count - start)
        before = workload_counts(QUEUE)[0]
        seconds, service_pks = _timed(_service_claims, user, size)
        # The stage's counter must follow the claims exactly.
        drift += abs(workload_counts(QUEUE)[0] - before - size)
        service_seconds += seconds
        service_blocks.append(round(seconds / size * 1000, 2))
        doubles += _double_claims([(user.pk, service_pks)])
        _release(user_ids)
        seconds, raw_pks = _timed(_raw_claims, user, size)
        raw_seconds += seconds
        raw_blocks.append(round(seconds / size * 1000, 2))
        doubles += _double_claims([(user.pk, raw_pks)])
        _release(user_ids)
    result = {
        "claims": count,
        "waiting_in_stage": waiting,
        "service_per_second": round(count / service_seconds, 1),
        "baseline_per_second": round(count / raw_seconds, 1),
        "ratio": round(raw_seconds / service_seconds, 3),
        "service_ms_each": round(service_seconds / count * 1000, 3),
        "baseline_ms_each": round(raw_seconds / count * 1000, 3),
        "queries_per_claim": len(statements),
        "statements": statements,
        "service_ms_per_block": service_blocks,
        "baseline_ms_per_block": raw_blocks,
    }

    # 2. 1 claimer, then all claimers at once, each its own process and user.
    # Each claimer makes count / claimers claims in all, split over the rounds.
    crowds = [(users[:1], count // ROUNDS)]
    if len(users) > 1:
        crowds.append((users, count // len(users) // ROUNDS))
    runs = {}
    for round_index in range(ROUNDS):
        for kind, run in (("service", _service_claims), ("baseline", _raw_claims)):
            for crowd, each in crowds:
                _vacuum()
                log(
                    f"    round {round_index + 1}/{ROUNDS}, {kind}: "
                    f"{len(crowd)} claimer(s) x {each:,} claims ..."
                )
                before = workload_counts(QUEUE)[0]
                wall, claims = _concurrently(run, crowd, each)
                total = sum(len(pks) for _, pks in claims)
                doubles += _double_claims(claims)
                if kind == "service":
                    drift += abs(workload_counts(QUEUE)[0] - before - total)
                _release(user_ids)
                stats = runs.setdefault(
                    f"{kind}_{len(crowd)}",
                    {"claimers": len(crowd), "claims": 0, "seconds": 0.0, "rounds_per_second": []},
                )
                stats["claims"] += total
                stats["seconds"] = round(stats["seconds"] + wall, 3)
                stats["rounds_per_second"].append(round(total / wall, 1))
    for stats in runs.values():
        stats["per_second"] = round(stats["claims"] / stats["seconds"], 1)
    many = len(users)
    result["concurrent"] = {
        "claimers": many,
        "runs": runs,
        "service_1_per_second": runs["service_1"]["per_second"],
        "service_many_per_second": runs[f"service_{many}"]["per_second"],
        "baseline_1_per_second": runs["baseline_1"]["per_second"],
        "baseline_many_per_second": runs[f"baseline_{many}"]["per_second"],
    }
    result["double_claims"] = doubles
    result["counter_drift"] = drift
    return result
