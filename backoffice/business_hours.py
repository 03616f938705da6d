"""Business time: how much working time lies between two instants, and the reverse.

A calendar is a set of weekly working periods with special days (holidays closed,
make-up days open) overriding the week. `None` stands for "around the clock".
Times of day are read in the project's time zone (TIME_ZONE).

The two questions the product asks:
- `business_seconds(calendar, start, end)`: the SLA clock of a visit or an order.
- `business_cutoff(calendar, now, seconds)`: the latest instant T such that the
  working time in [T, now] is `seconds`; anything that started before T is late.
  One indexed `WHERE entered_at < T` then counts the late orders without scanning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from backoffice.models import BusinessCalendar, SpecialDay, WorkingPeriod

# How far back `business_cutoff` looks before deciding nothing can be that late
# (a calendar with almost no open time).
_MAX_DAYS_BACK = 120


@dataclass(frozen=True)
class LoadedCalendar:
    """A calendar's rows read once: weekday -> periods, date -> special day."""

    week: dict[int, list[tuple[time, time]]]
    special: dict[date, list[tuple[time, time]]]

    def periods_on(self, day: date) -> list[tuple[time, time]]:
        if day in self.special:
            return self.special[day]
        return self.week.get(day.weekday(), [])

    @property
    def ever_open(self) -> bool:
        return any(self.week.values()) or any(self.special.values())


def calendar_load(calendar: BusinessCalendar | int | None) -> LoadedCalendar | None:
    """Read a calendar's periods and special days (two queries); None stays None."""
    if calendar is None:
        return None
    calendar_id = calendar if isinstance(calendar, int) else calendar.pk
    week: dict[int, list[tuple[time, time]]] = {}
    periods = WorkingPeriod.objects.filter(calendar_id=calendar_id)
    for weekday, start, end in periods.values_list("weekday", "start", "end"):
        week.setdefault(weekday, []).append((start, end))
    special: dict[date, list[tuple[time, time]]] = {}
    days = SpecialDay.objects.filter(calendar_id=calendar_id)
    for row in days.values("date", "is_open", "start", "end"):
        opened = row["is_open"] and row["start"] is not None and row["end"] is not None
        special[row["date"]] = [(row["start"], row["end"])] if opened else []
    for periods in week.values():
        periods.sort()
    return LoadedCalendar(week=week, special=special)


def _open_intervals(calendar: LoadedCalendar, day: date) -> list[tuple[datetime, datetime]]:
    tz = timezone.get_current_timezone()
    return [
        (
            datetime.combine(day, start, tzinfo=tz),
            datetime.combine(day, end, tzinfo=tz),
        )
        for start, end in calendar.periods_on(day)
    ]


def business_seconds(calendar: LoadedCalendar | None, start: datetime, end: datetime) -> float:
    """Working seconds in [start, end]."""
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    local_start = timezone.localtime(start)
    local_end = timezone.localtime(end)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        for opens, closes in _open_intervals(calendar, day):
            overlap = min(closes, local_end) - max(opens, local_start)
            if overlap > timedelta(0):
                total += overlap.total_seconds()
        day += timedelta(days=1)
    return total


def business_cutoff(
    calendar: LoadedCalendar | None, now: datetime, seconds: float
) -> datetime | None:
    """The instant T with `seconds` of working time in [T, now]; None if none exists
    within the look-back (so nothing counts as late)."""
    if calendar is None:
        return now - timedelta(seconds=seconds)
    if not calendar.ever_open:
        return None
    remaining = timedelta(seconds=seconds)
    local_now = timezone.localtime(now)
    day = local_now.date()
    for _ in range(_MAX_DAYS_BACK):
        for opens, closes in reversed(_open_intervals(calendar, day)):
            closes = min(closes, local_now)
            if closes <= opens:
                continue
            span = closes - opens
            if span >= remaining:
                return closes - remaining
            remaining -= span
        day -= timedelta(days=1)
    return None


def is_open_at(calendar: LoadedCalendar | None, at: datetime) -> bool:
    if calendar is None:
        return True
    local = timezone.localtime(at)
    return any(opens <= local < closes for opens, closes in _open_intervals(calendar, local.date()))
