"""Section 1: volume (orders received in the window vs its baseline windows) and the
shares by exception type, channel and lane."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count

from exceptions.models import ExceptionCase
from orders.models import StageVisit
from reports.review.sections.common import S, in_windows, iso, r1, share

# --- 1. Volume and categories -----------------------------------------------------


def bucket_minutes_for(window_minutes: float) -> int:
    if window_minutes <= 180:
        return 15
    if window_minutes <= 48 * 60:
        return 60
    return 24 * 60


def volume_section(
    *, start: datetime, end: datetime, baseline: list[tuple[datetime, datetime]]
) -> dict:
    windows = [(start, end), *baseline]
    span = (end - start).total_seconds()
    bucket = bucket_minutes_for(span / 60) * 60
    count = int(-(-span // bucket))
    counts = [[0] * count for _ in windows]
    arrivals = StageVisit.objects.filter(stage=S.RECEIVED).filter(in_windows("entered_at", windows))
    for at in arrivals.values_list("entered_at", flat=True):
        for index, (w_start, w_end) in enumerate(windows):
            if w_start <= at < w_end:
                counts[index][int((at - w_start).total_seconds() // bucket)] += 1
    orders = sum(counts[0])
    used = len(baseline)
    baseline_orders = r1(sum(sum(c) for c in counts[1:]) / used) if used else None
    buckets = [
        {
            "start": iso(start + timedelta(seconds=bucket * i)),
            "orders": counts[0][i],
            "baseline": r1(sum(c[i] for c in counts[1:]) / used) if used else None,
        }
        for i in range(count)
    ]
    change = r1(100.0 * (orders - baseline_orders) / baseline_orders) if baseline_orders else None
    return {
        "orders": orders,
        "baseline_orders": baseline_orders,
        "baseline_windows": [sum(c) for c in counts[1:]],
        "change_pct": change,
        "bucket_minutes": bucket // 60,
        "buckets": buckets,
        "categories": _categories(start=start, end=end, orders=orders),
    }


def _categories(*, start: datetime, end: datetime, orders: int) -> dict:
    arrivals = StageVisit.objects.filter(
        stage=S.RECEIVED, entered_at__gte=start, entered_at__lt=end
    ).order_by()
    order_ids = arrivals.values("order_id")
    cases = ExceptionCase.objects.filter(order_id__in=order_ids).order_by()
    by_type = list(
        cases.values(
            "type__code", "type__name_zh", "type__name_en", "type__tag_zh", "type__tag_en"
        ).annotate(n=Count("order_id", distinct=True))
    )
    with_cases = cases.values("order_id").distinct().count()
    exception_rows = sorted(
        (
            {
                "code": row["type__code"],
                "name_zh": row["type__name_zh"],
                "name_en": row["type__name_en"],
                "tag_zh": row["type__tag_zh"],
                "tag_en": row["type__tag_en"],
                "orders": row["n"],
                "share": share(row["n"], orders),
            }
            for row in by_type
        ),
        key=lambda r: (-r["orders"], r["code"]),
    )
    channels = sorted(
        (
            {
                "code": row["order__partner__code"] or "direct",
                "name": row["order__partner__name"] or "",
                "orders": row["n"],
                "share": share(row["n"], orders),
            }
            for row in arrivals.values("order__partner__code", "order__partner__name").annotate(
                n=Count("id")
            )
        ),
        key=lambda r: (-r["orders"], r["code"]),
    )
    lanes = sorted(
        (
            {"lane": row["order__lane"], "orders": row["n"], "share": share(row["n"], orders)}
            for row in arrivals.values("order__lane").annotate(n=Count("id"))
        ),
        key=lambda r: r["lane"],
    )
    return {
        "normal": {"orders": orders - with_cases, "share": share(orders - with_cases, orders)},
        "exception_orders": with_cases,
        "exception_types": exception_rows,
        "channels": channels,
        "lanes": lanes,
    }
