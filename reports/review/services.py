"""Writing reviews: generate (an episode or a window), regenerate a draft, keep the
supervisor's notes, finalise; and the nightly job.

A final review is never regenerated: its numbers are what the supervisor signed off.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backoffice.audit.services import audit_actor, audit_record
from orders.models import AlarmEpisode
from orders.services.errors import ActionForbidden, OrderActionError, permission_require
from reports.baseline import baseline_windows
from reports.models import IncidentReview
from reports.review import events
from reports.review.sections import (
    iso,
    measures_section,
    stages_section,
    timeline_section,
    volume_section,
)
from reports.review.suggestions import suggestions_derive
from reports.review.windows import EpisodeGroup, episode_groups
from reports.rollups import local_midnight, timeline_start

DATA_VERSION = 1
FINALIZE_PERMISSION = "reports.finalize_incidentreview"
GENERATE_PERMISSION = "reports.add_incidentreview"
# How far back the nightly job looks for episodes still without a review.
NIGHTLY_LOOKBACK_DAYS = 7
MAX_WINDOW = timedelta(days=31)


class ReviewRefused(OrderActionError):
    code = "review_refused"
    default_message = gettext_lazy("The review cannot be changed.")


def review_data_build(
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    episodes: list[AlarmEpisode] = (),
) -> dict:
    """Every number of the review of [start, end), as plain JSON."""
    baseline_kind, baseline = baseline_windows(start, end, history_from=timeline_start())
    volume = volume_section(start=start, end=end, baseline=baseline)
    stages = stages_section(start=start, end=end, baseline=baseline)
    measures = measures_section(start=start, end=end, now=now)
    suggestions = suggestions_derive(start=start, end=end, now=now)
    timeline = timeline_section(start=start, end=end)
    return {
        "version": DATA_VERSION,
        "window": {
            "start": iso(start),
            "end": iso(end),
            "minutes": round((end - start).total_seconds() / 60),
        },
        "episodes": [
            {
                "id": e.pk,
                "kind": e.kind,
                "stage": e.stage,
                "started_at": iso(e.started_at),
                "ended_at": iso(e.ended_at),
                "peak_count": e.peak_count,
            }
            for e in episodes
        ],
        "baseline": {
            "kind": baseline_kind,
            "windows": [[iso(s), iso(e)] for s, e in baseline],
        },
        "volume": volume,
        "stages": stages,
        "measures": measures,
        "suggestions": suggestions,
        "timeline": timeline,
        "headline": {
            "orders": volume["orders"],
            "baseline_orders": volume["baseline_orders"],
            "change_pct": volume["change_pct"],
            "extra_min_total": stages["extra_min_total"],
            "top_stage": stages["top_stage"],
            "top_share": stages["top_share"],
            "measures": len(measures),
            "suggestions": len(suggestions),
            "peak_count": max((e.peak_count for e in episodes), default=None),
        },
    }


def _data_timed(*, start, end, now, episodes) -> tuple[dict, int]:
    """The review's data and how long it took to compute (ms)."""
    started = time.monotonic()
    data = review_data_build(start=start, end=end, now=now, episodes=episodes)
    return data, int((time.monotonic() - started) * 1000)


def _window_check(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ReviewRefused(_("The window must end after it starts."))
    if end - start > MAX_WINDOW:
        raise ReviewRefused(_("A review covers at most 31 days."))


def review_generate(
    *,
    window_start: datetime,
    window_end: datetime,
    title: str = "",
    episodes: list[AlarmEpisode] = (),
    by=None,
    now: datetime | None = None,
) -> IncidentReview:
    """Create the review of [window_start, window_end) (of `episodes` when given; the
    first one keys it, so an episode is reviewed once)."""
    permission_require(by, GENERATE_PERMISSION)
    _window_check(window_start, window_end)
    now = now or timezone.now()
    data, elapsed = _data_timed(start=window_start, end=window_end, now=now, episodes=episodes)
    with transaction.atomic():
        review = IncidentReview.objects.create(
            title=title[:200],
            episode=episodes[0] if episodes else None,
            window_start=window_start,
            window_end=window_end,
            data=data,
            generated_at=now,
            generation_ms=elapsed,
            created_by=audit_actor(by),
        )
        audit_record(
            verb=events.REVIEW_GENERATED,
            actor=by,
            subject=review,
            at=now,
            payload={
                "window_start": window_start,
                "window_end": window_end,
                "episodes": [e.pk for e in episodes],
                "generation_ms": elapsed,
            },
        )
    return review


def review_regenerate(*, review: IncidentReview, by=None, now=None) -> IncidentReview:
    """Recompute a draft's numbers from what the system recorded now."""
    permission_require(by, GENERATE_PERMISSION)
    now = now or timezone.now()
    episodes = []
    ids = [e["id"] for e in review.data.get("episodes", [])]
    if ids:
        found = AlarmEpisode.objects.in_bulk(ids)
        episodes = [found[i] for i in ids if i in found]
    data, elapsed = _data_timed(
        start=review.window_start, end=review.window_end, now=now, episodes=episodes
    )
    with transaction.atomic():
        locked = IncidentReview.objects.select_for_update().get(pk=review.pk)
        if locked.status == IncidentReview.Status.FINAL:
            raise ReviewRefused(_("A final review is never regenerated."))
        locked.data, locked.generated_at, locked.generation_ms = data, now, elapsed
        locked.save(update_fields=["data", "generated_at", "generation_ms"])
        audit_record(
            verb=events.REVIEW_REGENERATED,
            actor=by,
            subject=locked,
            at=now,
            payload={"generation_ms": elapsed},
        )
    return locked


def review_notes_save(*, review: IncidentReview, by, notes: str) -> IncidentReview:
    """The supervisor's own notes on a draft."""
    permission_require(by, "reports.change_incidentreview")
    with transaction.atomic():
        locked = IncidentReview.objects.select_for_update().get(pk=review.pk)
        if locked.status == IncidentReview.Status.FINAL:
            raise ReviewRefused(_("A final review cannot be changed."))
        if locked.notes == notes:
            return locked
        locked.notes = notes
        locked.save(update_fields=["notes"])
        audit_record(
            verb=events.REVIEW_NOTES_CHANGED,
            actor=by,
            subject=locked,
            payload={"length": len(notes)},
        )
    return locked


def review_finalize(*, review: IncidentReview, by, notes: str | None = None) -> IncidentReview:
    """Sign the review off with the supervisor's notes: final, never regenerated."""
    if by is None or not by.has_perm(FINALIZE_PERMISSION):
        raise ActionForbidden()
    now = timezone.now()
    with transaction.atomic():
        locked = IncidentReview.objects.select_for_update().get(pk=review.pk)
        if locked.status == IncidentReview.Status.FINAL:
            raise ReviewRefused(_("The review is final already."))
        if notes is not None:
            locked.notes = notes
        locked.status = IncidentReview.Status.FINAL
        locked.finalized_by, locked.finalized_at = by, now
        locked.save(update_fields=["notes", "status", "finalized_by", "finalized_at"])
        audit_record(
            verb=events.REVIEW_FINALIZED,
            actor=by,
            subject=locked,
            reason=locked.notes,
            at=now,
            payload={"window_start": locked.window_start, "window_end": locked.window_end},
        )
    return locked


def reviews_nightly(*, now: datetime | None = None) -> list[int]:
    """Review every finished backlog episode that started before today (local time) in
    the last NIGHTLY_LOOKBACK_DAYS and has no review yet. Idempotent: an episode group
    whose first episode (or any member) has a review is skipped, and the one-to-one
    key refuses a second review of the same episode when two runs race.
    Returns the ids of the reviews created.
    """
    now = now or timezone.now()
    today = local_midnight(now)
    created = []
    groups: list[EpisodeGroup] = episode_groups(
        since=today - timedelta(days=NIGHTLY_LOOKBACK_DAYS), until=today
    )
    reviewed = set(
        IncidentReview.objects.filter(
            episode_id__in=[i for g in groups for i in g.ids]
        ).values_list("episode_id", flat=True)
    )
    for group in groups:
        if group.end is None or reviewed.intersection(group.ids):
            continue
        try:
            review = review_generate(
                window_start=group.start, window_end=group.end, episodes=group.episodes, now=now
            )
        except IntegrityError:  # another run reviewed it a moment ago
            continue
        created.append(review.pk)
    return created
