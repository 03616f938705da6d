"""A constructed episode gives exactly the expected numbers in every section.

The world (reports.tests.factories.episode_world): 14:00-18:00 on a Tuesday, three
orders received (two through the shop "Shop A", one direct; fast, normal and watch
lane; one with an address-change case); sales review 10/20/30 min, picking 60 and
100 min and one still waiting, one quality check of 10 min. Each of the four
Tuesdays before: two orders with 10 min of sales review and 20 min of picking.
"""

from __future__ import annotations

import pytest
from django.utils import translation

from backoffice.audit.models import AuditEvent
from orders.states import Lane, OrderStatus
from reports.models import IncidentReview
from reports.review.services import review_generate
from reports.tests import factories
from reports.tests.factories import END, START, minutes

S = OrderStatus
pytestmark = pytest.mark.django_db
# The constructed episode's fixtures (shared with the other review tests).
travel = factories.travel
review_supervisor = factories.review_supervisor
episode_world = factories.episode_world


@pytest.fixture
def review(episode_world):
    return review_generate(window_start=START, window_end=END, episodes=[episode_world["episode"]])


def stage_row(review, stage):
    return next(r for r in review.data["stages"]["rows"] if r["stage"] == stage)


def test_the_review_is_a_draft_keyed_by_its_episode(review, episode_world):
    assert review.status == IncidentReview.Status.DRAFT
    assert review.episode == episode_world["episode"]
    # Named after its window in the reader's language, not the generating job's.
    assert review.title == ""
    with translation.override("en"):
        assert str(review) == "Backlog 2026-11-24 14:00–18:00"
    with translation.override("zh-hans"):
        assert str(review) == "订单积压 2026-11-24 14:00–18:00"
    assert review.data["window"] == {
        "start": START.isoformat(),
        "end": END.isoformat(),
        "minutes": 240,
    }
    assert review.data["baseline"]["kind"] == "weekday_4w"
    assert len(review.data["baseline"]["windows"]) == 4
    assert AuditEvent.objects.filter(verb="review.generated", subject_id=str(review.pk)).exists()


def test_volume_against_the_same_hours_of_the_four_weeks_before(review):
    volume = review.data["volume"]
    assert volume["orders"] == 3
    assert volume["baseline_windows"] == [2, 2, 2, 2]
    assert volume["baseline_orders"] == 2.0
    assert volume["change_pct"] == 50.0
    assert volume["bucket_minutes"] == 60
    assert [(b["orders"], b["baseline"]) for b in volume["buckets"]] == [
        (2, 1.0),
        (1, 1.0),
        (0, 0.0),
        (0, 0.0),
    ]


def test_shares_by_category(review):
    categories = review.data["volume"]["categories"]
    assert categories["normal"] == {"orders": 2, "share": 66.7}
    assert [(t["code"], t["orders"], t["share"]) for t in categories["exception_types"]] == [
        ("address_test", 1, 33.3)
    ]
    assert [(c["code"], c["orders"], c["share"]) for c in categories["channels"]] == [
        ("shop-a", 2, 66.7),
        ("direct", 1, 33.3),
    ]
    assert [(row["lane"], row["orders"], row["share"]) for row in categories["lanes"]] == [
        (Lane.FAST, 1, 33.3),
        (Lane.NORMAL, 1, 33.3),
        (Lane.WATCH, 1, 33.3),
    ]


def test_time_per_stage_normal_vs_episode_and_where_the_extra_time_went(review):
    sales = stage_row(review, S.SALES_REVIEW)
    assert (sales["entered"], sales["auto"], sales["manual"], sales["open"]) == (3, 0, 3, 0)
    assert (sales["median_min"], sales["mean_min"]) == (20.0, 20.0)
    assert (sales["baseline_manual"], sales["baseline_median_min"]) == (2.0, 10.0)
    assert (sales["extra_min"], sales["extra_share"]) == (30.0, 20.0)

    picking = stage_row(review, S.PICKING)
    assert (picking["entered"], picking["manual"], picking["open"]) == (3, 2, 1)
    assert (picking["median_min"], picking["mean_min"]) == (80.0, 80.0)
    assert (picking["baseline_median_min"], picking["baseline_mean_min"]) == (20.0, 20.0)
    assert (picking["extra_min"], picking["extra_share"]) == (120.0, 80.0)

    quality = stage_row(review, S.QUALITY_CHECK)
    assert (quality["manual"], quality["median_min"], quality["baseline_mean_min"]) == (
        1,
        10.0,
        None,
    )
    assert quality["extra_min"] == 0.0

    received = stage_row(review, S.RECEIVED)
    assert (received["entered"], received["auto"], received["manual"]) == (3, 3, 0)
    assert stage_row(review, S.FINANCE_REVIEW)["entered"] == 0

    stages = review.data["stages"]
    assert (stages["extra_min_total"], stages["top_stage"], stages["top_share"]) == (
        150.0,
        S.PICKING,
        80.0,
    )


def test_each_temporary_measure_with_its_orders_dwell_and_obligations(review):
    measures = review.data["measures"]
    assert [(m["kind"], m["from"]) for m in measures] == [
        ("breaker", (START + minutes(30)).isoformat()),
        ("surge", (START + minutes(30)).isoformat()),
        ("bypass", (START + minutes(60)).isoformat()),
        ("breaker", (START + minutes(190)).isoformat()),
    ]
    first_trip, surge, bypass, second_trip = measures

    assert first_trip["until"] == (START + minutes(180)).isoformat()
    assert (first_trip["orders"], first_trip["backlog"], first_trip["threshold"]) == (10, 50, 50)
    assert (first_trip["with_n"], first_trip["with_median_min"]) == (2, 80.0)
    assert (first_trip["without_n"], first_trip["without_median_min"]) == (0, None)
    assert (second_trip["with_n"], second_trip["without_n"]) == (0, 2)
    assert second_trip["without_median_min"] == 80.0

    assert (surge["person"], surge["by"], surge["stage"], surge["orders"]) == (
        "helper",
        "supervisor",
        S.PICKING,
        1,
    )
    assert (surge["with_median_min"], surge["without_median_min"]) == (60.0, 100.0)

    assert (bypass["what"], bypass["by"], bypass["reason"]) == (
        "urgent_dispatch",
        "supervisor",
        "printer down",
    )
    assert bypass["until"] == (START + minutes(120)).isoformat()
    assert (bypass["orders"], bypass["uses"], bypass["stage"]) == (1, 1, S.QUALITY_CHECK)
    assert (bypass["with_n"], bypass["with_median_min"], bypass["without_n"]) == (1, 10.0, 0)
    assert (bypass["obligations"], bypass["obligations_open"]) == (1, 1)
    assert bypass["obligations_overdue"] == 1


def test_an_authorization_code_used_in_the_episode_with_its_orders_dwell(
    episode_world, review_supervisor
):
    """A price-deviation code used on the first order (10 min of sales review) while the
    others took 20 and 30 min: the measure says who issued it, its uses, and both medians."""
    from approvals.models import AuthorizationCode, AuthorizationCodeUse

    supervisor = review_supervisor
    code = AuthorizationCode.objects.create(
        label="Peak price override",
        prefix="PX7Q2M4A",
        code_hash="-",
        max_deviation_pct=15,
        valid_from=START,
        valid_until=START + minutes(240),
        max_uses=5,
        uses=2,
        holder=supervisor,
        issued_at=START,
        issued_by=supervisor,
    )
    for at, deviation in ((15, 4), (18, 9)):
        AuthorizationCodeUse.objects.create(
            code=code,
            order=episode_world["first"],
            used_by=supervisor,
            used_at=START + minutes(at),
            deviation_pct=deviation,
            reason="matched a competitor",
        )
    review = review_generate(
        window_start=START, window_end=END, episodes=[episode_world["episode"]]
    )
    (measure,) = [m for m in review.data["measures"] if m["kind"] == "auth_code"]
    assert (measure["what"], measure["prefix"], measure["by"]) == (
        "Peak price override",
        "PX7Q2M4A",
        "supervisor",
    )
    assert (measure["stage"], measure["orders"], measure["uses"]) == (S.SALES_REVIEW, 1, 2)
    assert measure["max_deviation_pct"] == 9.0
    assert measure["from"] == START.isoformat()
    assert measure["until"] == (START + minutes(240)).isoformat()
    assert (measure["with_n"], measure["with_median_min"]) == (1, 10.0)
    assert (measure["without_n"], measure["without_median_min"]) == (2, 25.0)


def test_suggestions_of_the_constructed_episode(review):
    assert review.data["suggestions"] == [
        {
            "code": "breaker",
            "minutes": 180.0,
            "params": {
                "stage": S.PICKING,
                "trips": 2,
                "trips_week": 2,
                "open_min": 180.0,
                "threshold": 50,
                "wip_limit": 30,
            },
        }
    ]


def test_the_timeline_shows_alarms_and_switches_with_who_did_it(review):
    assert [(t["at"], t["verb"], t["who"]) for t in review.data["timeline"]] == [
        (START.isoformat(), "alarm.started", "system"),
        ((START + minutes(60)).isoformat(), "bypass.on", "supervisor"),
        (END.isoformat(), "alarm.ended", "system"),
    ]
    assert review.data["timeline"][1]["reason"] == "printer down"


def test_the_headline(review):
    assert review.data["headline"] == {
        "orders": 3,
        "baseline_orders": 2.0,
        "change_pct": 50.0,
        "extra_min_total": 150.0,
        "top_stage": S.PICKING,
        "top_share": 80.0,
        "measures": 4,
        "suggestions": 1,
        "peak_count": 12,
    }


def test_a_short_history_falls_back_to_the_previous_seven_days(episode_world):
    from orders.models import StageVisit

    # Drop the oldest order: the history now starts inside the fourth week back.
    oldest = StageVisit.objects.order_by("entered_at").first()
    StageVisit.objects.filter(order_id=oldest.order_id).delete()
    StageVisit.objects.filter(entered_at__lt=START - minutes(7 * 24 * 60 * 3)).delete()
    review = review_generate(window_start=START, window_end=END)
    baseline = review.data["baseline"]
    assert baseline["kind"] == "previous_7d"
    # Only the days whose hours the history covers: 7 days back is covered (a Tuesday).
    assert [w[0] for w in baseline["windows"]] == [
        (START - minutes(24 * 60 * k)).isoformat() for k in range(1, 8)
    ]
    assert review.data["volume"]["baseline_windows"] == [0, 0, 0, 0, 0, 0, 2]
