"""The order health score: each factor by hand, the weighted score, missing inputs,
weights versions, lanes, and the set-based rescoring of open orders."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from orders.models import EvaluationCard, Order, OrderHealth, OrderLine, ScoreWeights
from orders.services.health import (
    HEALTH_WEIGHTS_CHANGED,
    Factor,
    TimeSlotPressure,
    complexity_factor,
    customer_history_factor,
    health_rescore_open,
    health_score_order,
    inventory_match_factor,
    lane_for,
    payment_method_factor,
    score_combine,
    time_slot_pressure_current,
    time_slot_pressure_factor,
    weights_change,
    weights_current,
)
from orders.states import Lane, OrderStatus, PaymentMethod, PaymentStatus
from orders.tests.factories import ProductFactory, bulk_waiting_orders, make_order

pytestmark = pytest.mark.django_db

OK, UNAVAILABLE = "ok", "unavailable"
QUIET = TimeSlotPressure(open_orders=10, normal=100)  # time-slot pressure 100


def card_for(order, *, customer=None, inventory=None, fulfilment=None, **statuses):
    """A complete card; a part given as None is marked unavailable."""
    now = timezone.now()
    parts = {"customer": customer, "inventory": inventory, "fulfilment": fulfilment}
    fields = {}
    for kind, data in parts.items():
        status = statuses.get(f"{kind}_status") or (OK if data is not None else UNAVAILABLE)
        fields[kind] = data or {}
        fields[f"{kind}_status"] = status
        fields[f"{kind}_fetched_at"] = now if status == OK else None
    return EvaluationCard.objects.update_or_create(
        order=order, defaults={**fields, "completed_at": now}
    )[0]


GOOD_HISTORY = {"orders": 12, "paid_on_time_rate": 0.9, "received_on_time_rate": 0.7}
ONE_WAREHOUSE = {"lines": [], "transfer_needed": False, "shortage": False}
CREDIT_OK = {"credit_limit": "10000.00", "exposure": "2000.00", "headroom": "8000.00"}


# --- Each factor by hand ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "value", "missing"),
    [
        (GOOD_HISTORY, 80, []),  # 100 x (0.9 + 0.7) / 2
        ({"orders": 3, "paid_on_time_rate": 1.0, "received_on_time_rate": 1.0}, 100, []),
        ({"orders": 3, "paid_on_time_rate": 0.0, "received_on_time_rate": 0.0}, 0, []),
        ({"orders": 3, "paid_on_time_rate": 0.825, "received_on_time_rate": 0.8}, 81, []),
        ({"orders": 0, "paid_on_time_rate": None, "received_on_time_rate": None}, 60, []),
        (
            {"orders": 4, "paid_on_time_rate": 0.5, "received_on_time_rate": None},
            50,
            ["fulfilment.received_on_time_rate"],
        ),
        (
            {"orders": 4, "paid_on_time_rate": None, "received_on_time_rate": None},
            None,
            ["fulfilment.paid_on_time_rate", "fulfilment.received_on_time_rate"],
        ),
    ],
)
def test_customer_history_is_the_mean_on_time_rate(data, value, missing):
    factor = customer_history_factor(OK, data)
    assert (factor.value, factor.missing) == (value, missing)


def test_customer_history_is_missing_when_the_fulfilment_part_is_unavailable():
    for status in (UNAVAILABLE, "pending", None):
        factor = customer_history_factor(status, None)
        assert factor.value is None
        assert factor.missing == ["fulfilment"]


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [
        ({}, 100),
        ({"lines": 3, "quantity": 10}, 100),  # boundaries: not beyond 3 lines / 10 units
        ({"lines": 4, "quantity": 11}, 90),  # one line beyond 3 (-5), more than 10 units (-5)
        ({"lines": 8, "quantity": 50}, 75),  # 5 extra lines -> -20 cap reached at 4 (-20), -5
        ({"quantity": 51}, 90),
        ({"customised": 1}, 85),
        ({"customised": 4}, 55),  # capped at -45
        ({"split": 2}, 80),
        ({"presale": True}, 85),
        ({"has_notes": True}, 90),
        # 5 lines, 12 units, one customised, notes: 100 - 10 - 5 - 15 - 10
        ({"lines": 5, "quantity": 12, "customised": 1, "has_notes": True}, 60),
        # everything: 45 + 20 + 20 + 10 + 15 + 10 = 120 -> floored at 0
        (
            {
                "lines": 9,
                "quantity": 80,
                "customised": 5,
                "split": 1,
                "presale": True,
                "has_notes": True,
            },
            0,
        ),
    ],
)
def test_complexity_loses_points_per_special_requirement(kwargs, value):
    plain = dict(lines=1, quantity=1, customised=0, split=0, presale=False, has_notes=False)
    assert complexity_factor(**{**plain, **kwargs}).value == value


@pytest.mark.parametrize(
    ("method", "paid", "due", "status", "headroom", "value"),
    [
        (PaymentMethod.PREPAID, True, "0", None, None, 100),
        (PaymentMethod.TRANSFER, True, "0", None, None, 100),
        (PaymentMethod.TRANSFER, False, "500", None, None, 70),
        (PaymentMethod.PREPAID, False, "500", None, None, 70),
        (PaymentMethod.COD, False, "500", None, None, 40),
        # the card's headroom already counts this order: >= 0 is within the limit
        (PaymentMethod.CREDIT, False, "500", OK, "0.00", 60),
        (PaymentMethod.CREDIT, False, "500", OK, "-0.01", 20),
        (PaymentMethod.CREDIT, False, "500", OK, 8000, 60),
        (PaymentMethod.CREDIT, False, "500", UNAVAILABLE, None, None),
        (PaymentMethod.CREDIT, False, "500", OK, None, None),
    ],
)
def test_payment_method_prepaid_ranks_above_cash_on_delivery(
    method, paid, due, status, headroom, value
):
    factor = payment_method_factor(
        method=method,
        paid=paid,
        amount_due=Decimal(due),
        customer_status=status,
        headroom=headroom,
    )
    assert factor.value == value
    assert factor.missing == ([] if value is not None else ["customer.headroom"])


@pytest.mark.parametrize(
    ("status", "transfer", "shortage", "value"),
    [
        (OK, False, False, 100),
        (OK, True, False, 50),
        (OK, True, True, 0),
        (OK, False, True, 0),
        (OK, None, None, None),
        (UNAVAILABLE, None, None, None),
        (None, None, None, None),
    ],
)
def test_inventory_match(status, transfer, shortage, value):
    assert inventory_match_factor(status, transfer, shortage).value == value


@pytest.mark.parametrize(
    ("open_orders", "normal", "value"),
    [
        (0, 200, 100),
        (200, 200, 100),  # load 1: still quiet
        (300, 200, 75),  # load 1.5: 100 x 1.5 / 2
        (400, 200, 50),
        (500, 200, 25),
        (590, 200, 3),  # load 2.95: 2.5 -> 3 (half up)
        (600, 200, 0),  # load 3
        (5000, 200, 0),
    ],
)
def test_time_slot_pressure_falls_as_load_rises(open_orders, normal, value):
    assert time_slot_pressure_factor(TimeSlotPressure(open_orders, normal)).value == value


def test_time_slot_pressure_counts_open_orders_against_the_weeks_intake(settings):
    now = timezone.now()
    bulk_waiting_orders(30, stage=OrderStatus.PICKING, start=now - timedelta(hours=1))
    bulk_waiting_orders(5, stage=OrderStatus.DISPATCHED, start=now - timedelta(days=2))
    pressure = time_slot_pressure_current(now=now)
    # 35 orders this week -> 0.21/h x 2 h: below the floor of 50
    assert (pressure.open_orders, pressure.normal) == (30, 50)
    settings.HEALTH_NORMAL_OPEN_ORDERS = 20
    pressure = time_slot_pressure_current(now=now)
    # load 30 / 20 = 1.5 -> 75
    assert (pressure.normal, time_slot_pressure_factor(pressure).value) == (20, 75)


# --- Combining ----------------------------------------------------------------------


def factors(**values):
    return {
        name: Factor(values.get(name), {}, [] if values.get(name) is not None else [name])
        for name in ScoreWeights.FACTORS
    }


def test_the_score_is_the_weighted_mean_by_hand():
    weights = ScoreWeights()  # 30/25/20/15/10
    # 80x30 + 60x25 + 70x20 + 50x15 + 75x10 = 2400+1500+1400+750+750 = 6800 -> 68
    all_five = factors(
        customer_history=80,
        complexity=60,
        payment_method=70,
        inventory_match=50,
        time_slot_pressure=75,
    )
    score, breakdown, missing, lane = score_combine(all_five, weights)
    assert (score, missing, lane) == (68, [], Lane.NORMAL)
    assert breakdown["complexity"] == {"value": 60, "weight": 25, "inputs": {}, "missing": []}


def test_missing_factors_are_left_out_not_scored():
    weights = ScoreWeights()
    # inventory missing: (80x30 + 60x25 + 70x20 + 75x10) / 85 = 6050 / 85 = 71.18 -> 71
    score, breakdown, missing, lane = score_combine(
        factors(customer_history=80, complexity=60, payment_method=70, time_slot_pressure=75),
        weights,
    )
    assert (score, missing, lane) == (71, ["inventory_match"], Lane.NORMAL)
    assert breakdown["inventory_match"]["value"] is None


def test_over_half_the_weight_missing_never_takes_the_fast_lane():
    weights = ScoreWeights()
    # history + payment + inventory missing = 65 of 100; complexity and pressure perfect
    score, _b, missing, lane = score_combine(
        factors(complexity=100, time_slot_pressure=100), weights
    )
    assert score == 100
    assert missing == ["customer_history", "payment_method", "inventory_match"]
    assert lane == Lane.NORMAL
    # exactly half missing is still allowed: history 30 + payment 20 = 50
    score, _b, _m, lane = score_combine(
        factors(complexity=100, inventory_match=100, time_slot_pressure=100), weights
    )
    assert (score, lane) == (100, Lane.FAST)


def test_a_low_score_over_few_inputs_still_goes_to_watch():
    _s, _b, _m, lane = score_combine(factors(complexity=10, time_slot_pressure=0), ScoreWeights())
    assert lane == Lane.WATCH


@pytest.mark.parametrize(
    ("score", "lane"),
    [(100, Lane.FAST), (80, Lane.FAST), (79, Lane.NORMAL), (50, Lane.NORMAL), (49, Lane.WATCH)],
)
def test_lanes_by_band(score, lane):
    assert lane_for(score, ScoreWeights()) == lane


# --- Scoring orders from their cards ---------------------------------------------------


def test_a_full_order_scored_by_hand():
    order = make_order(payment_method=PaymentMethod.TRANSFER, paid=False, notes="ring first")
    card_for(
        order,
        customer=CREDIT_OK,
        inventory={"lines": [], "transfer_needed": True, "shortage": False},
        fulfilment=GOOD_HISTORY,
    )
    health = health_score_order(order, pressure=TimeSlotPressure(300, 200))
    values = {name: part["value"] for name, part in health.breakdown.items()}
    assert values == {
        "customer_history": 80,
        "complexity": 90,  # notes
        "payment_method": 70,  # transfer, unpaid
        "inventory_match": 50,  # transfer needed
        "time_slot_pressure": 75,  # load 1.5
    }
    # 80x30 + 90x25 + 70x20 + 50x15 + 75x10 = 2400+2250+1400+750+750 = 7550 -> 75.5 -> 76
    assert health.score == 76
    assert health.missing == []
    assert health.breakdown["customer_history"]["inputs"] == GOOD_HISTORY
    assert health.weights == weights_current()
    order.refresh_from_db()
    assert order.lane == Lane.NORMAL


def test_an_unavailable_card_part_is_flagged_and_excluded():
    order = make_order(payment_method=PaymentMethod.CREDIT, paid=False)
    card_for(order, customer=None, inventory=ONE_WAREHOUSE, fulfilment=GOOD_HISTORY)
    health = health_score_order(order, pressure=QUIET)
    assert health.missing == ["payment_method"]
    assert health.breakdown["payment_method"]["value"] is None
    assert health.breakdown["payment_method"]["missing"] == ["customer.headroom"]
    # (80x30 + 100x25 + 100x15 + 100x10) / 80 = 7400 / 80 = 92.5 -> 93
    assert health.score == 93
    assert order.lane == Lane.FAST


def test_an_order_without_a_card_is_scored_on_its_own_data_but_not_fast():
    order = make_order(payment_method=PaymentMethod.COD, paid=False)
    EvaluationCard.objects.filter(order=order).delete()  # e.g. an order from before cards
    health = health_score_order(order, pressure=QUIET)
    # history 30 + inventory 15 missing = 45: under half; (100x25 + 40x20 + 100x10) / 55
    assert health.missing == ["customer_history", "inventory_match"]
    assert health.score == 78  # 4300 / 55 = 78.18
    card_for(order, customer=CREDIT_OK)  # inventory and fulfilment unavailable
    health = health_score_order(order, pressure=QUIET)
    assert health.score == 78
    order.refresh_from_db()
    assert order.lane == Lane.NORMAL


def test_mostly_missing_inputs_keep_a_perfect_order_out_of_the_fast_lane():
    order = make_order(payment_method=PaymentMethod.CREDIT, paid=False)
    card_for(order)  # every part unavailable: 30 + 20 + 15 = 65 missing
    health = health_score_order(order, pressure=QUIET)
    assert health.score == 100
    assert health.missing == ["customer_history", "payment_method", "inventory_match"]
    order.refresh_from_db()
    assert order.lane == Lane.NORMAL


# --- Weights -------------------------------------------------------------------------


def test_the_default_weights_are_the_briefs():
    weights = weights_current()
    assert weights.as_dict() == {
        "customer_history": 30,
        "complexity": 25,
        "payment_method": 20,
        "inventory_match": 15,
        "time_slot_pressure": 10,
    }
    assert (weights.fast_lane_min, weights.watch_below) == (80, 50)
    assert weights_current() == weights


def test_weights_must_sum_to_100(supervisor):
    with pytest.raises(ValidationError) as refused:
        weights_change(by=supervisor, reason="more history", customer_history=40)
    assert "add up to 100 (they add up to 110)" in str(refused.value)
    assert ScoreWeights.objects.count() == 1
    assert not AuditEvent.objects.filter(verb=HEALTH_WEIGHTS_CHANGED).exists()


def test_bands_must_keep_watch_below_fast(supervisor):
    with pytest.raises(ValidationError) as refused:
        weights_change(by=supervisor, reason="bands", watch_below=80)
    assert "watch_below" in refused.value.message_dict


def test_a_change_needs_a_reason(supervisor):
    with pytest.raises(ValidationError):
        weights_change(by=supervisor, reason=" ", customer_history=30)


def test_changing_weights_versions_audits_and_rescores(
    supervisor, django_capture_on_commit_callbacks
):
    order = make_order(payment_method=PaymentMethod.COD, paid=False)
    card_for(order, customer=CREDIT_OK, inventory=ONE_WAREHOUSE, fulfilment=GOOD_HISTORY)
    first = health_score_order(order, pressure=QUIET)
    # 80x30 + 100x25 + 40x20 + 100x15 + 100x10 = 8200 -> 82: fast lane
    assert first.score == 82
    assert order.lane == Lane.FAST
    before = weights_current()

    with django_capture_on_commit_callbacks(execute=True):
        new = weights_change(
            by=supervisor,
            reason="cash on delivery hurts more this season",
            customer_history=20,
            payment_method=40,
            inventory_match=5,
        )

    assert new.pk != before.pk
    assert weights_current() == new
    assert ScoreWeights.objects.count() == 2
    event = AuditEvent.objects.get(verb=HEALTH_WEIGHTS_CHANGED)
    assert event.actor == supervisor
    assert event.reason == "cash on delivery hurts more this season"
    assert event.payload["after"]["payment_method"] == 40
    assert event.payload["before"]["payment_method"] == 20
    health = OrderHealth.objects.get(order=order)
    # 80x20 + 100x25 + 40x40 + 100x5 + time-slot x10: the task computed the pressure itself
    pressure = health.breakdown["time_slot_pressure"]["value"]
    assert health.score == round((1600 + 2500 + 1600 + 500 + pressure * 10) / 100)
    assert health.score < 80
    assert health.weights == new
    order.refresh_from_db()
    assert order.lane == Lane.NORMAL


# --- Rescoring all open orders ------------------------------------------------------------


def random_orders(count: int, seed: int = 7) -> list[int]:
    """Open orders with random lines, payments and cards (some parts unavailable)."""
    rng = random.Random(seed)
    products = [ProductFactory() for _ in range(3)]
    start = timezone.now() - timedelta(hours=3)
    ids = []
    for method in PaymentMethod.values:
        ids += bulk_waiting_orders(
            count // 4,
            stage=OrderStatus.SALES_REVIEW,
            start=start,
            payment_method=method,
            total_amount=Decimal("800.00"),
        )
    lines, cards = [], []
    for order_id in ids:
        Order.objects.filter(pk=order_id).update(
            payment_status=rng.choice(PaymentStatus.values),
            is_presale=rng.random() < 0.2,
            notes=rng.choice(["", "", "gift wrap"]),
            lane=rng.choice(Lane.values),
        )
        for _ in range(rng.randint(0, 6)):
            lines.append(
                OrderLine(
                    order_id=order_id,
                    product=rng.choice(products),
                    sku="X",
                    name="X",
                    quantity=rng.randint(1, 20),
                    list_price=Decimal("10.00"),
                    unit_price=Decimal("10.00"),
                    is_customised=rng.random() < 0.2,
                    is_split_shipment=rng.random() < 0.1,
                )
            )
        if rng.random() < 0.15:
            continue  # no card yet
        part = lambda: OK if rng.random() < 0.8 else UNAVAILABLE  # noqa: E731
        cards.append(
            EvaluationCard(
                order_id=order_id,
                customer={"headroom": rng.choice([0, -500, "900.00", "-0.01"])},
                customer_status=part(),
                inventory={
                    "transfer_needed": rng.random() < 0.3,
                    "shortage": rng.random() < 0.1,
                },
                inventory_status=part(),
                fulfilment={
                    "orders": rng.choice([0, 1, 8]),
                    "paid_on_time_rate": rng.choice([None, 0.5, 0.95]),
                    "received_on_time_rate": rng.choice([None, 0.65, 1.0]),
                },
                fulfilment_status=part(),
            )
        )
    OrderLine.objects.bulk_create(lines)
    EvaluationCard.objects.bulk_create(cards)
    return ids


def snapshot(ids):
    health = {
        h.order_id: (h.score, h.breakdown, h.missing, h.weights_id)
        for h in OrderHealth.objects.filter(order_id__in=ids)
    }
    lanes = dict(Order.objects.filter(pk__in=ids).values_list("pk", "lane"))
    return {pk: (*health[pk], lanes[pk]) for pk in ids}


def test_rescoring_writes_what_scoring_one_by_one_writes():
    ids = random_orders(48)
    closed = bulk_waiting_orders(3, stage=OrderStatus.DISPATCHED, start=timezone.now())
    pressure = TimeSlotPressure(open_orders=130, normal=100)

    result = health_rescore_open(chunk=10, pressure=pressure)

    assert (result["scored"], result["chunks"]) == (48, 5)
    assert not OrderHealth.objects.filter(order_id__in=closed).exists()
    together = snapshot(ids)
    OrderHealth.objects.all().delete()
    Order.objects.filter(pk__in=ids).update(lane=Lane.NORMAL)
    weights = weights_current()
    for order in Order.objects.filter(pk__in=ids):
        health_score_order(order, weights=weights, pressure=pressure)
    assert snapshot(ids) == together
    lanes = {lane for *_rest, lane in together.values()}
    assert len(lanes) >= 2, "the random orders should spread over the lanes"
    assert any(missing for _s, _b, missing, *_ in together.values())


def test_rescoring_twice_is_idempotent():
    ids = random_orders(8, seed=3)
    health_rescore_open(pressure=QUIET)
    first = snapshot(ids)
    second = health_rescore_open(pressure=QUIET)
    assert second["lanes_changed"] == 0
    assert {k: v[:2] + v[3:] for k, v in snapshot(ids).items()} == {
        k: v[:2] + v[3:] for k, v in first.items()
    }


def test_rescoring_never_saves_orders_one_by_one():
    random_orders(24, seed=5)
    weights_current()
    with CaptureQueriesContext(connection) as queries:
        health_rescore_open(chunk=12, pressure=QUIET)
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    # per chunk: one health upsert, at most one UPDATE of lanes per lane
    assert len(writes) <= 2 * (1 + len(Lane.values))


@pytest.mark.postgres
def test_on_postgres_each_chunk_writes_with_one_statement_per_table():
    random_orders(36, seed=11)
    weights_current()
    with CaptureQueriesContext(connection) as queries:
        result = health_rescore_open(chunk=10, pressure=QUIET)
    assert result["chunks"] == 4
    sql = [q["sql"] for q in queries]
    upserts = [s for s in sql if "INSERT INTO orders_orderhealth" in s]
    lanes = [s for s in sql if s.lstrip().startswith("UPDATE orders_order ")]
    assert len(upserts) == 4 and all("ON CONFLICT (order_id)" in s for s in upserts)
    assert len(lanes) == 4 and all("unnest" in s for s in lanes)
    other_writes = [
        s
        for s in sql
        if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and s not in upserts
        and s not in lanes
    ]
    assert other_writes == []
    # reads: the open ids, two counts (pressure is passed: none), weights, 3 per chunk
    reads = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 2 + 3 * 4


@pytest.mark.postgres
def test_on_postgres_the_sql_read_gives_what_the_orm_read_gives():
    from orders.services import health

    ids = random_orders(40, seed=13)
    sql = {row[0]: row for row in health._inputs_read(ids)}
    orm = {row[0]: row for row in health._inputs_read_orm(ids)}
    assert sql.keys() == orm.keys() == set(ids)
    pressure = health.time_slot_pressure_factor(QUIET)
    weights = weights_current()
    for pk in ids:
        assert health.score_combine(health._factors(sql[pk], pressure), weights) == (
            health.score_combine(health._factors(orm[pk], pressure), weights)
        )
