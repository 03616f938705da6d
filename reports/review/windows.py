"""Which time a review covers, and which time it is compared with.

An episode is the union of the alarm episodes that overlap (an "orders too old" alarm
and a stage's SLA alarm usually run together): one review, keyed by its first episode
so the nightly job never reviews it twice. What it is compared with ("a normal day")
is reports.baseline's, as on the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orders.models import AlarmEpisode


@dataclass
class EpisodeGroup:
    """Overlapping alarm episodes, merged: the window from the first start to the last end."""

    episodes: list[AlarmEpisode] = field(default_factory=list)

    @property
    def first(self) -> AlarmEpisode:
        return self.episodes[0]

    @property
    def start(self) -> datetime:
        return min(e.started_at for e in self.episodes)

    @property
    def end(self) -> datetime | None:
        if any(e.ended_at is None for e in self.episodes):
            return None
        return max(e.ended_at for e in self.episodes)

    @property
    def ids(self) -> list[int]:
        return [e.pk for e in self.episodes]


def episode_groups(*, since: datetime, until: datetime) -> list[EpisodeGroup]:
    """The merged episodes that started in [since, until), oldest first.

    An episode still running at `until` stays in its group (the group then has no
    end); an episode that started earlier but overlaps the first one joins it.
    """
    rows = list(
        AlarmEpisode.objects.filter(started_at__lt=until)
        .filter(started_at__gte=since - timedelta(days=1))
        .order_by("started_at", "id")
    )
    groups: list[EpisodeGroup] = []
    current: EpisodeGroup | None = None
    current_end: datetime | None = None
    for episode in rows:
        ends = episode.ended_at
        if current is not None and (current_end is None or episode.started_at <= current_end):
            current.episodes.append(episode)
            current_end = None if (current_end is None or ends is None) else max(current_end, ends)
            continue
        current = EpisodeGroup(episodes=[episode])
        current_end = ends
        groups.append(current)
    return [g for g in groups if since <= g.start < until]
