"""Shared helpers of the review sections: ISO timestamps, rounding, shares, dwell minutes
and the indexed window filter."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from orders.states import OrderStatus

S = OrderStatus


# --- Small helpers ---------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def from_iso(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def r1(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def share(part: int | float, whole: int | float) -> float | None:
    """A percentage with one decimal (None when there is no whole)."""
    return r1(100.0 * part / whole) if whole else None


def minutes(seconds: float) -> float:
    return seconds / 60.0


def median_minutes(values: list[float]) -> float | None:
    return r1(statistics.median(values)) if values else None


def mean_minutes(values: list[float]) -> float | None:
    return r1(statistics.fmean(values)) if values else None


def in_windows(field: str, windows: Iterable[tuple[datetime, datetime]]) -> Q:
    condition = Q(pk__in=[])
    for start, end in windows:
        condition |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return condition


def _dwell(entered_at: datetime, left_at: datetime) -> float:
    return minutes((left_at - entered_at).total_seconds())
