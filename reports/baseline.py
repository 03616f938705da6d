"""What "a normal day" is, for the dashboard's heatmap and flags and for the reviews.

The same hours on the same weekday over the previous four weeks; when the history
does not reach back four weeks, the same hours on each of the previous seven days it
covers (an empty day before the history began is not "normal").
"""

from __future__ import annotations

from datetime import datetime, timedelta

BASELINE_WEEKS = 4
BASELINE_DAYS = 7


class BaselineKind:
    WEEKDAYS = "weekday_4w"  # the same weekday, previous four weeks
    DAYS = "previous_7d"  # the previous seven days (short history)
    NONE = "none"  # no history before the window


def baseline_windows(
    start: datetime, end: datetime, *, history_from: datetime | None
) -> tuple[str, list[tuple[datetime, datetime]]]:
    """(kind, windows): the windows whose numbers make "normal" for [start, end), given
    when the recorded history begins."""
    if history_from is None or history_from >= start:
        return BaselineKind.NONE, []
    weekly = [
        (start - timedelta(weeks=k), end - timedelta(weeks=k)) for k in range(1, BASELINE_WEEKS + 1)
    ]
    if history_from <= weekly[-1][0]:
        return BaselineKind.WEEKDAYS, weekly
    daily = [
        (start - timedelta(days=k), end - timedelta(days=k)) for k in range(1, BASELINE_DAYS + 1)
    ]
    daily = [w for w in daily if w[0] >= history_from]
    if not daily:
        return BaselineKind.NONE, []
    return BaselineKind.DAYS, daily
