"""Rollups equal an exact recompute from the timeline; percentiles within one bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from orders.models import StageVisit
from orders.services.queues import stage_settings
from orders.states import MAIN_LINE, OrderStatus
from orders.tests.factories import bulk_waiting_orders
from reports.buckets import (
    BOUNDS_SECONDS,
    bucket_index,
    bucket_range,
    buckets_of,
    buckets_percentile,
)
from reports.models import RollupWatermark, StageHourRollup
from reports.rollups import (
    hour_floor,
    rollups_rebuild,
    rollups_update,
    stage_hours,
    stage_hours_compute,
    watermark_get,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=30, minutes=25)
STAGES = [s.value for s in MAIN_LINE]


def exact(visits, start, end):
    """The rollup numbers recomputed from visit tuples in Python."""
    sla = {stage: setting.sla_minutes * 60 for stage, setting in stage_settings().items()}
    cells: dict = {}

    def cell(key):
        return cells.setdefault(
            key,
            {"arrivals": 0, "exits": 0, "auto": 0, "dwell": 0.0, "breaches": 0, "dwells": []},
        )

    for stage, entered, left in visits:
        if start <= entered < end:
            cell((stage, hour_floor(entered)))["arrivals"] += 1
        if left is not None and start <= left < end:
            c = cell((stage, hour_floor(left)))
            c["exits"] += 1
            seconds = (left - entered).total_seconds()
            if seconds == 0:
                c["auto"] += 1
            else:
                c["dwell"] += seconds
                c["dwells"].append(seconds)
                c["breaches"] += seconds > sla.get(stage, float("inf"))
    return cells


def assert_matches(stats, cells):
    assert set(stats) == set(cells)
    for key, c in cells.items():
        got = stats[key]
        assert (got.arrivals, got.exits, got.auto_passed, got.sla_breaches) == (
            c["arrivals"],
            c["exits"],
            c["auto"],
            c["breaches"],
        ), key
        assert got.dwell_seconds == pytest.approx(c["dwell"], abs=1e-3 * (1 + got.exits))
        assert got.buckets == buckets_of(c["dwells"])


visit_strategy = st.tuples(
    st.sampled_from(STAGES),
    st.integers(min_value=0, max_value=30 * 60),  # entered, minutes after T0
    st.one_of(
        st.none(),  # still open
        st.just(0),  # passed automatically
        st.integers(min_value=1, max_value=600 * 60),  # dwell in seconds
    ),
)


@pytest.fixture
def order_ids():
    stage_settings()
    return bulk_waiting_orders(40, stage=OrderStatus.PICKING, start=T0)


def insert(order_ids, drawn):
    visits, rows = [], []
    for (stage, minute, dwell), order_id in zip(drawn, order_ids, strict=False):
        entered = T0 + timedelta(minutes=minute, seconds=minute % 7)
        left = None if dwell is None else entered + timedelta(seconds=dwell)
        if left is not None and left > NOW:
            left = None  # nothing leaves in the future
        visits.append((stage, entered, left))
        rows.append(StageVisit(order_id=order_id, stage=stage, entered_at=entered, left_at=left))
    StageVisit.objects.bulk_create(rows)
    return visits


class Rollback(Exception):
    pass


@given(drawn=st.lists(visit_strategy, max_size=40), cut=st.integers(0, 29 * 60))
def test_rollups_and_live_tail_equal_an_exact_recompute(order_ids, drawn, cut):
    try:
        with transaction.atomic():
            StageVisit.objects.all().delete()
            visits = insert(order_ids, drawn)
            # Rolled up to some hour in the middle: the rest is the live tail.
            rollups_update(now=T0 + timedelta(minutes=cut))
            rolled = {(r.stage, r.hour): r for r in StageHourRollup.objects.all()}
            upto = watermark_get()
            for key, c in exact(visits, T0 - timedelta(days=1), upto).items():
                row = rolled.pop(key)
                assert (row.arrivals, row.exits, row.auto_passed) == (
                    c["arrivals"],
                    c["exits"],
                    c["auto"],
                )
                assert row.dwell_seconds == pytest.approx(c["dwell"], abs=1e-3 * (1 + row.exits))
                assert row.dwell_buckets == buckets_of(c["dwells"])
            assert not rolled
            # A window starting mid-hour, across the watermark, up to now.
            start = T0 + timedelta(minutes=17)
            assert_matches(stage_hours(start=start, end=NOW), exact(visits, start, NOW))
            raise Rollback
    except Rollback:
        pass


def test_incremental_update_equals_a_full_rebuild(order_ids):
    drawn = [(STAGES[i % 5], i * 41, (i * 977) % 9000 if i % 6 else None) for i in range(40)]
    visits = insert(order_ids, drawn)
    for minutes in range(0, 31 * 60, 97):  # the schedule, running now and then
        rollups_update(now=T0 + timedelta(minutes=minutes))
    incremental = sorted(
        StageHourRollup.objects.values_list("stage", "hour", "arrivals", "exits", "dwell_buckets")
    )
    run = rollups_rebuild(now=T0 + timedelta(minutes=31 * 60 - 1))
    rebuilt = sorted(
        StageHourRollup.objects.values_list("stage", "hour", "arrivals", "exits", "dwell_buckets")
    )
    assert incremental == rebuilt
    assert run.end == RollupWatermark.objects.get().until == T0 + timedelta(hours=30)
    assert sum(row[2] for row in rebuilt) == sum(
        1 for _s, entered, _l in visits if entered < run.end
    )


def test_update_twice_in_an_hour_changes_nothing(order_ids):
    insert(order_ids, [(STAGES[0], m * 30, 600) for m in range(30)])
    rollups_update(now=NOW)
    before = sorted(StageHourRollup.objects.values_list("stage", "hour", "arrivals", "exits"))
    rollups_update(now=NOW + timedelta(minutes=20))
    after = sorted(StageHourRollup.objects.values_list("stage", "hour", "arrivals", "exits"))
    assert before == after


def test_a_window_with_no_rollups_at_all_is_computed_live(order_ids):
    visits = insert(order_ids, [(STAGES[1], m * 40, 900) for m in range(30)])
    assert watermark_get() is None
    assert_matches(stage_hours(start=T0, end=NOW), exact(visits, T0, NOW))
    assert stage_hours_compute(start=NOW, end=NOW) == {}


@given(dwells=st.lists(st.floats(min_value=1, max_value=2 * 86400), min_size=1, max_size=300))
def test_percentiles_from_buckets_are_within_one_bucket_of_the_exact_value(dwells):
    counts = buckets_of(dwells)
    ordered = sorted(dwells)
    for fraction in (0.5, 0.9):
        exact_value = ordered[max(0, int(-(-fraction * len(ordered) // 1)) - 1)]
        estimate = buckets_percentile(counts, fraction)
        low, high = bucket_range(bucket_index(exact_value))
        width = (high or low) - low if high is not None else 0
        if high is None:  # the open bucket: only its lower bound is known
            assert estimate == low
        else:
            assert abs(estimate - exact_value) <= width


def test_bucket_bounds_are_increasing_and_cover_the_targets():
    assert list(BOUNDS_SECONDS) == sorted(BOUNDS_SECONDS)
    assert bucket_index(0) == 0
    assert bucket_index(30 * 60) == BOUNDS_SECONDS.index(45 * 60)
    assert buckets_percentile([0] * len(BOUNDS_SECONDS), 0.5) is None
