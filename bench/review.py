"""Benchmark: generating the post-incident review of a 4-hour episode on the --orders
database (`reports.review.services.review_generate`).

The generated history is the demo's shop: "yesterday" (relative to the generation
time kept in bench_meta) picking slowed down 14:00-18:00. Inside a transaction that
is rolled back at the end, an "orders too old" alarm episode covering those four hours
is recorded (with a picking breaker trip and reset, so section 3 has a measure), and
the review is generated `repeats` times (the first run cold), then rendered once as
charts and as a PDF (info).

Baseline: the floor of the same work in raw SQL, run on the same connection right
before: the per-stage visit aggregates (count, auto-passed, sum of manual dwell) of
the window and of its four baseline windows, one grouped range query per window.
Goal: median generation <= REVIEW_GOAL_S (10 s).
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orders.models import AlarmEpisode, BreakerEvent
from orders.states import OrderStatus

_RAW = """
    SELECT stage, count(*),
           count(*) FILTER (WHERE left_at = entered_at),
           sum(EXTRACT(EPOCH FROM left_at - entered_at)) FILTER (WHERE left_at > entered_at)
    FROM orders_stagevisit
    WHERE stage = ANY(%s::varchar[]) AND entered_at >= %s AND entered_at < %s
    GROUP BY stage
"""


def _window(generated_at: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(generated_at)
    yesterday = (local - timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)
    return yesterday, yesterday + timedelta(hours=4)


def _raw(start: datetime, end: datetime) -> float:
    windows = [(start, end)] + [
        (start - timedelta(weeks=k), end - timedelta(weeks=k)) for k in range(1, 5)
    ]
    stages = [str(s) for s in (*OrderStatus.values,)]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # One grouped range scan per window (the index on (stage, entered_at)).
        for window_start, window_end in windows:
            cursor.execute(_RAW, [stages, window_start, window_end])
            cursor.fetchall()
    return time.perf_counter() - started


def review_run(*, repeats: int = 3) -> dict:
    from bench.generate import meta_read
    from reports.review.charts import review_charts
    from reports.review.export import review_pdf
    from reports.review.present import review_present
    from reports.review.services import review_generate

    meta = meta_read() or {}
    generated_at = parse_datetime(meta["generated_at"]) if meta.get("generated_at") else None
    start, end = _window(generated_at or timezone.now())
    result: dict = {"window_start": start.isoformat(), "window_end": end.isoformat()}
    with transaction.atomic():
        try:
            episode = AlarmEpisode.objects.create(
                kind=AlarmEpisode.Kind.ORDER_AGE,
                started_at=start,
                ended_at=end,
                first_count=1,
                peak_count=1,
            )
            BreakerEvent.objects.create(
                stage=OrderStatus.PICKING,
                kind=BreakerEvent.Kind.TRIP,
                at=start + timedelta(minutes=40),
                backlog=50,
                threshold=50,
            )
            BreakerEvent.objects.create(
                stage=OrderStatus.PICKING,
                kind=BreakerEvent.Kind.RESET,
                at=end - timedelta(minutes=20),
                backlog=20,
                threshold=50,
            )
            raw = [_raw(start, end) for _ in range(repeats)]
            seconds, review = [], None
            for index in range(repeats):
                with transaction.atomic():
                    began = time.perf_counter()
                    review = review_generate(
                        window_start=start,
                        window_end=end,
                        episodes=[episode],
                        now=end + timedelta(hours=8),
                    )
                    seconds.append(time.perf_counter() - began)
                    if index < repeats - 1:
                        transaction.set_rollback(True)
            present = review_present(review)
            began = time.perf_counter()
            review_charts(present)
            result["charts_seconds"] = time.perf_counter() - began
            began = time.perf_counter()
            pdf = review_pdf(review)
            result["pdf_seconds"] = time.perf_counter() - began
            result["pdf_bytes"] = len(pdf)
            data = review.data
            result.update(
                seconds=seconds,
                median_s=statistics.median(seconds),
                first_s=seconds[0],
                baseline_seconds=raw,
                baseline_median_s=statistics.median(raw),
                orders_in_window=data["volume"]["orders"],
                baseline_orders=data["volume"]["baseline_orders"],
                stage_visits=sum(r["entered"] for r in data["stages"]["rows"]),
                measures=len(data["measures"]),
                suggestions=len(data["suggestions"]),
                generation_ms=review.generation_ms,
            )
        finally:
            transaction.set_rollback(True)  # leave the database as it was
    return result
