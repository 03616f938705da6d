"""The nightly job: one review per episode of the previous day, idempotent; and the
life of a review (regenerate while draft, finalise, never regenerate a final one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from backoffice.audit.models import AuditEvent
from backoffice.schedules import all_schedule_specs
from orders.models import AlarmEpisode
from orders.states import OrderStatus
from orders.tests.factories import UserFactory
from reports import tasks
from reports.models import IncidentReview
from reports.review.services import (
    ReviewRefused,
    review_finalize,
    review_generate,
    review_regenerate,
)
from reports.tests.factories import START, order_with_timeline

S = OrderStatus
pytestmark = pytest.mark.django_db
# Wednesday 25 Nov 2026, 02:00 in Shanghai: "yesterday" is Tuesday the 24th.
NIGHT = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 24, tzinfo=UTC) - timedelta(hours=8)  # 24 Nov 00:00 local


def episode(kind, stage, start_hour, end_hour, day=DAY):
    return AlarmEpisode.objects.create(
        kind=kind,
        stage=stage,
        started_at=day + timedelta(hours=start_hour),
        ended_at=day + timedelta(hours=end_hour) if end_hour is not None else None,
        peak_count=5,
    )


def run(at=NIGHT):
    with time_machine.travel(at, tick=False):
        return tasks.reviews_nightly()


def test_the_job_is_declared_in_the_schedules():
    (spec,) = [s for s in all_schedule_specs() if s.name == "reports.reviews_nightly"]
    assert spec.func == "reports.tasks.reviews_nightly"
    assert spec.minutes and not spec.cron


def test_overlapping_alarms_make_one_review_and_a_separate_one_its_own():
    order_with_timeline(placed_at=DAY + timedelta(hours=14), stages=[(S.PICKING, 30)])
    age = episode(AlarmEpisode.Kind.ORDER_AGE, "", 14, 17)
    sla = episode(AlarmEpisode.Kind.STAGE_SLA, S.PICKING, 15, 18)
    evening = episode(AlarmEpisode.Kind.STAGE_SLA, S.SALES_REVIEW, 20, 21)

    created = run()

    assert len(created) == 2
    first, second = IncidentReview.objects.order_by("window_start")
    assert first.episode == age
    assert (first.window_start, first.window_end) == (age.started_at, sla.ended_at)
    assert [e["id"] for e in first.data["episodes"]] == [age.pk, sla.pk]
    assert second.episode == evening
    assert (second.window_start, second.window_end) == (evening.started_at, evening.ended_at)


def test_running_the_job_again_creates_nothing_more():
    episode(AlarmEpisode.Kind.ORDER_AGE, "", 14, 17)
    assert len(run()) == 1
    assert run() == []
    assert run(NIGHT + timedelta(hours=3)) == []
    assert IncidentReview.objects.count() == 1
    assert AuditEvent.objects.filter(verb="review.generated").count() == 1


def test_a_day_without_episodes_creates_nothing():
    order_with_timeline(placed_at=DAY + timedelta(hours=14), stages=[(S.PICKING, 30)])
    assert run() == []
    assert not IncidentReview.objects.exists()


def test_an_episode_still_running_waits_and_todays_waits_for_tomorrow():
    running = episode(AlarmEpisode.Kind.ORDER_AGE, "", 22, None)
    episode(AlarmEpisode.Kind.STAGE_SLA, S.PICKING, 1, 2, day=DAY + timedelta(days=1))
    assert run() == []
    AlarmEpisode.objects.filter(pk=running.pk).update(ended_at=DAY + timedelta(hours=26))
    assert len(run(NIGHT + timedelta(hours=2))) == 1
    assert IncidentReview.objects.get().episode_id == running.pk


def test_a_draft_is_regenerated_and_a_final_review_never(supervisor):
    with time_machine.travel(NIGHT, tick=False):
        review = review_generate(window_start=START, window_end=START + timedelta(hours=4))
        order_with_timeline(placed_at=START + timedelta(minutes=5), stages=[(S.PICKING, 30)])
        review = review_regenerate(review=review, by=supervisor)
        assert review.data["volume"]["orders"] == 1

        review = review_finalize(review=review, by=supervisor, notes="Printer replaced.")
        assert review.status == IncidentReview.Status.FINAL
        assert (review.finalized_by, review.finalized_at) == (supervisor, NIGHT)
        event = AuditEvent.objects.get(verb="review.finalized")
        assert (event.actor, event.reason) == (supervisor, "Printer replaced.")

        with pytest.raises(ReviewRefused):
            review_regenerate(review=review, by=supervisor)
        with pytest.raises(ReviewRefused):
            review_finalize(review=review, by=supervisor)
    review.refresh_from_db()
    assert review.data["volume"]["orders"] == 1


def test_only_permitted_people_finalise(db):
    outsider = UserFactory(username="outsider")
    with time_machine.travel(NIGHT, tick=False):
        review = review_generate(window_start=START, window_end=START + timedelta(hours=1))
    from orders.services.errors import ActionForbidden

    with pytest.raises(ActionForbidden):
        review_finalize(review=review, by=outsider, notes="")
    review.refresh_from_db()
    assert review.status == IncidentReview.Status.DRAFT
