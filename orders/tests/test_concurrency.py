"""Conflicting transitions from many threads at once (PostgreSQL: real row locks)."""

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.models import Order, StageVisit
from orders.services import (
    ConcurrentChange,
    OrderActionError,
    TransitionRefused,
    order_cancel,
    order_complete_stage,
    order_hold,
)
from orders.states import OrderStatus
from orders.tests.factories import CustomerFactory, ProductFactory, UserFactory, make_order

S = OrderStatus
ORDERS, THREADS = 100, 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_conflicting_transitions_have_exactly_one_winner_per_order():
    boss = UserFactory(username="race_supervisor", groups=[teams.SUPERVISORS])
    product, customer = ProductFactory(), CustomerFactory()
    orders = [make_order(customer=customer, products=[product]) for _ in range(ORDERS)]
    ids = [o.pk for o in orders]
    actions = [
        ("approve", lambda o: order_complete_stage(o, by=boss)),
        ("hold", lambda o: order_hold(o, by=boss, reason="race")),
        ("cancel", lambda o: order_cancel(o, by=boss, reason="race")),
    ]
    wins: Counter = Counter()
    losses: Counter = Counter()
    unexpected: list = []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        try:
            # Everyone reads every order before anyone writes: all copies are in sales_review.
            copies = {o.pk: o for o in Order.objects.filter(pk__in=ids)}
            barrier.wait()
            for pk in rng.sample(ids, len(ids)):
                _name, act = rng.choice(actions)
                try:
                    act(copies[pk])
                except (ConcurrentChange, TransitionRefused) as exc:
                    assert exc.code in ("concurrent_change", "transition_not_allowed")
                    assert str(exc)
                    with lock:
                        losses[pk] += 1
                except OrderActionError as exc:  # pragma: no cover - reported below
                    with lock:
                        unexpected.append(repr(exc))
                else:
                    with lock:
                        wins[pk] += 1
        except Exception as exc:  # pragma: no cover - reported below
            with lock:
                unexpected.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    assert all(wins[pk] == 1 for pk in ids), "every order has exactly one winner"
    assert all(losses[pk] == THREADS - 1 for pk in ids)
    for order in Order.objects.filter(pk__in=ids):
        visits = list(StageVisit.objects.filter(order=order).order_by("entered_at", "id"))
        stages = [v.stage for v in visits]
        open_visits = [v for v in visits if v.left_at is None]
        # received -> sales_review, then exactly one winning transition, nothing lost.
        if order.status == S.CANCELLED:
            assert stages == [S.RECEIVED, S.SALES_REVIEW] and open_visits == []
        else:
            assert order.status in (S.FINANCE_REVIEW, S.ON_HOLD)
            assert stages == [S.RECEIVED, S.SALES_REVIEW, order.status]
            assert [v.stage for v in open_visits] == [order.status]
        transitions = AuditEvent.objects.filter(subject_id=str(order.pk), verb="order.transition")
        assert transitions.count() == 2
