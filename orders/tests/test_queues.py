"""Work queues: claim next, WIP limits and caps, release, expiry, counters."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from backoffice.claims import ClaimRefused, workload_counts
from backoffice.models import WorkLoad
from orders import teams
from orders.models import Order, StageBreaker
from orders.services import ActionForbidden, order_complete_stage
from orders.services.queues import (
    order_claim,
    order_claim_next,
    order_claim_release,
    orders_claims_expire,
    orders_claims_reconcile,
    queue_key,
)
from orders.states import Lane, OrderStatus
from orders.tests.factories import (
    UserFactory,
    bulk_waiting_orders,
    make_order,
    stage_configure,
)

S = OrderStatus
PICKING = queue_key(S.PICKING)


def bulk_orders(count: int, *, stage=S.PICKING, start=None, **fields) -> list[int]:
    start = start or timezone.now() - timedelta(hours=5)
    return bulk_waiting_orders(count, stage=stage, start=start, **fields)


def set_limits(stage=S.PICKING, **limits):
    stage_configure(stage, **limits)


@pytest.fixture
def picker(db):
    return UserFactory(username="picker", groups=[teams.WAREHOUSE])


@pytest.fixture
def picker2(db):
    return UserFactory(username="picker2", groups=[teams.WAREHOUSE])


def test_claim_next_hands_out_pinned_then_fast_lane_then_oldest(picker):
    set_limits(wip_limit=None, person_cap=None)
    old = bulk_orders(2)
    fast = bulk_orders(1, lane=Lane.FAST, start=timezone.now() - timedelta(minutes=5))
    pinned = bulk_orders(1, start=timezone.now() - timedelta(minutes=1))
    Order.objects.filter(pk__in=pinned).update(pinned=True)

    got = [order_claim_next(stage=S.PICKING, user=picker).pk for _ in range(4)]

    assert got == [pinned[0], fast[0], old[0], old[1]]
    assert order_claim_next(stage=S.PICKING, user=picker) is None
    assert Order.objects.filter(claimed_by=picker).count() == 4
    assert AuditEvent.objects.filter(verb="order.claimed", actor=picker).count() == 4


def test_claiming_is_refused_to_someone_outside_the_stage_team(picker, sales_clerk):
    bulk_orders(1)
    with pytest.raises(ActionForbidden):
        order_claim_next(stage=S.PICKING, user=sales_clerk)
    assert not Order.objects.filter(claimed_by__isnull=False).exists()


def test_person_cap_refuses_the_next_claim_and_leaves_the_order_unclaimed(picker):
    set_limits(wip_limit=10, person_cap=2)
    bulk_orders(3)
    order_claim_next(stage=S.PICKING, user=picker)
    order_claim_next(stage=S.PICKING, user=picker)

    with pytest.raises(ClaimRefused) as refused:
        order_claim_next(stage=S.PICKING, user=picker)

    assert refused.value.code == "person_cap"
    assert Order.objects.filter(claimed_by=picker).count() == 2
    assert Order.objects.filter(claimed_by__isnull=True).count() == 1
    assert workload_counts(PICKING, picker.pk) == (2, 2)


def test_wip_limit_counts_everyone_in_the_stage(picker, picker2):
    set_limits(wip_limit=2, person_cap=5)
    bulk_orders(3)
    order_claim_next(stage=S.PICKING, user=picker)
    order_claim_next(stage=S.PICKING, user=picker2)

    with pytest.raises(ClaimRefused) as refused:
        order_claim_next(stage=S.PICKING, user=picker2)

    assert refused.value.code == "wip_limit"
    assert "2" in str(refused.value)
    # The refused claim rolled back the person's counter too.
    assert workload_counts(PICKING, picker2.pk) == (2, 1)


def test_an_open_breaker_lowers_the_limits(picker):
    set_limits(wip_limit=10, person_cap=5, reduced_wip_limit=4, reduced_person_cap=1)
    bulk_orders(3)
    StageBreaker.objects.create(stage=S.PICKING, state="open")
    order_claim_next(stage=S.PICKING, user=picker)
    with pytest.raises(ClaimRefused) as refused:
        order_claim_next(stage=S.PICKING, user=picker)
    assert refused.value.code == "person_cap"


def test_completing_the_stage_ends_the_claim_and_frees_the_slot(supervisor):
    set_limits(S.SALES_REVIEW, wip_limit=1, person_cap=1)
    first = make_order()
    second = make_order()
    assert first.status == S.SALES_REVIEW
    claimed = order_claim_next(stage=S.SALES_REVIEW, user=supervisor)
    assert claimed.pk == first.pk
    with pytest.raises(ClaimRefused):
        order_claim_next(stage=S.SALES_REVIEW, user=supervisor)

    order_complete_stage(claimed, by=supervisor)

    claimed.refresh_from_db()
    assert claimed.status == S.FINANCE_REVIEW
    assert claimed.claimed_by is None and not claimed.pinned
    assert workload_counts(queue_key(S.SALES_REVIEW), supervisor.pk) == (0, 0)
    assert order_claim_next(stage=S.SALES_REVIEW, user=supervisor).pk == second.pk


def test_a_transition_by_someone_else_still_frees_the_holders_slot(supervisor, sales_clerk):
    order = make_order()
    stale_copy = Order.objects.get(pk=order.pk)  # read before the claim
    order_claim(order, user=sales_clerk)

    order_complete_stage(stale_copy, by=supervisor)

    assert workload_counts(queue_key(S.SALES_REVIEW), sales_clerk.pk) == (0, 0)
    assert Order.objects.get(pk=order.pk).claimed_by is None


def test_release_returns_the_order_to_the_queue(picker, picker2):
    bulk_orders(1)
    order = order_claim_next(stage=S.PICKING, user=picker)
    with pytest.raises(ActionForbidden):
        order_claim_release(order, by=picker2)

    order_claim_release(order, by=picker, reason="wrong warehouse")

    assert order.claimed_by is None
    assert order_claim_next(stage=S.PICKING, user=picker2).pk == order.pk
    assert AuditEvent.objects.filter(verb="order.claim_released", actor=picker).exists()


def test_idle_claims_expire_back_to_the_queue(picker):
    set_limits(claim_idle_minutes=30)
    bulk_orders(2)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        stale = order_claim_next(stage=S.PICKING, user=picker)
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        fresh = order_claim_next(stage=S.PICKING, user=picker)
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert orders_claims_expire() == 1

    assert Order.objects.get(pk=stale.pk).claimed_by is None
    assert Order.objects.get(pk=fresh.pk).claimed_by == picker
    assert workload_counts(PICKING, picker.pk) == (1, 1)
    assert AuditEvent.objects.filter(
        verb="order.claim_released", payload__why="expired", actor=None
    ).exists()


def test_reconcile_rebuilds_drifted_counters(picker):
    bulk_orders(2)
    order_claim_next(stage=S.PICKING, user=picker)
    WorkLoad.objects.filter(key=PICKING).update(in_progress=7)
    WorkLoad.objects.create(key=f"{PICKING}@999", in_progress=3)

    orders_claims_reconcile()

    assert workload_counts(PICKING, picker.pk) == (1, 1)
    assert WorkLoad.objects.get(key=f"{PICKING}@999").in_progress == 0


WORKERS, ORDERS = 16, 1000
WIP_LIMIT, PERSON_CAP = 700, 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_claimers_never_double_claim_nor_exceed_limits():
    set_limits(wip_limit=WIP_LIMIT, person_cap=PERSON_CAP)
    ids = set(bulk_orders(ORDERS))
    people = [UserFactory(username=f"claimer{i}", groups=[teams.WAREHOUSE]) for i in range(WORKERS)]
    claimed: dict[int, list[int]] = {p.pk: [] for p in people}
    refusals: Counter = Counter()
    errors: list[str] = []
    barrier = threading.Barrier(WORKERS)

    def worker(person):
        try:
            barrier.wait()
            for _ in range(ORDERS):
                try:
                    order = order_claim_next(stage=S.PICKING, user=person)
                except ClaimRefused as exc:
                    refusals[exc.code] += 1
                    break
                if order is None:
                    break
                claimed[person.pk].append(order.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    handed_out = [pk for pks in claimed.values() for pk in pks]
    assert len(handed_out) == len(set(handed_out)), "an order was claimed twice"
    in_db = dict(Order.objects.filter(claimed_by__isnull=False).values_list("pk", "claimed_by_id"))
    assert set(in_db) == set(handed_out)
    assert all(in_db[pk] == person for person, pks in claimed.items() for pk in pks)
    unclaimed = Order.objects.filter(pk__in=ids, claimed_by__isnull=True).count()
    assert len(in_db) + unclaimed == ORDERS, "no order lost"
    assert len(in_db) <= WIP_LIMIT
    assert max(len(pks) for pks in claimed.values()) <= PERSON_CAP
    # 16 x 60 = 960 > 700: the WIP limit is what stopped them.
    assert len(in_db) == WIP_LIMIT
    assert refusals["wip_limit"] >= 1
    assert workload_counts(PICKING)[0] == WIP_LIMIT
