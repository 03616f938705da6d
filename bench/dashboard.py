"""Benchmark: the bottleneck dashboard and its hourly rollups.

1. A full rebuild of the stage-hour rollups from the whole timeline
   (`rollups_rebuild`), then the incremental update the schedule runs after one
   more hour of work (`rollups_update` with the watermark one hour back: the new
   hour plus the overlap hour it always redoes). Goal: incremental <= 1 % of full.
2. Server time of the dashboard page (`/admin/dashboard/`, a supervisor, in-process
   through django.test.Client: middleware, every query, template rendering) for
   the three dwell windows and both heatmap modes, requests interleaved, after a
   warm-up; p95 over all of them. Run on the small and the large database in the
   same session, so the ratio compares like with like. Goals: p95 <= 300 ms on
   the large one and <= 1.5 x the small one's.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.changelist import percentile, views_time
from orders.models import StageVisit
from reports.models import RollupWatermark
from reports.rollups import WATERMARK, rollups_rebuild, rollups_update

VIEWS = {
    "today/arrivals": "/admin/dashboard/?window=today&mode=arrivals",
    "1h/dwell": "/admin/dashboard/?window=1h&mode=dwell",
    "7d/arrivals": "/admin/dashboard/?window=7d&mode=arrivals",
}
WARMUP = 2


def _client() -> Client:
    from django.conf import settings

    user, _ = get_user_model().objects.get_or_create(
        username="bench-supervisor", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=settings.SUPERVISORS_GROUP))
    client = Client()
    client.force_login(user)
    return client


def _rollups() -> dict:
    full = rollups_rebuild()
    # One more hour of work since the last run: put the watermark an hour back.
    RollupWatermark.objects.filter(name=WATERMARK).update(until=full.end - timedelta(hours=1))
    started = time.perf_counter()
    incremental = rollups_update(now=full.end + timedelta(minutes=1))
    incremental_s = time.perf_counter() - started
    return {
        "visits": StageVisit.objects.count(),
        "hours": int((full.end - full.start).total_seconds() // 3600) if full.start else 0,
        "rows": full.rows,
        "full_s": round(full.seconds, 3),
        "incremental_s": round(incremental_s, 4),
        "incremental_hours": int((incremental.end - incremental.start).total_seconds() // 3600),
        "ratio": incremental_s / full.seconds if full.seconds else 0.0,
    }


def dashboard_run(*, requests: int = 20) -> dict:
    result = {"rollups": _rollups()}
    client = _client()
    timings = views_time(client, VIEWS, requests=requests, warmup=WARMUP)
    every = [t for samples in timings.values() for t in samples]
    with CaptureQueriesContext(connection) as captured:
        client.get(VIEWS["today/arrivals"])
    queries = [(float(q["time"]) * 1000, q["sql"][:200]) for q in captured.captured_queries]
    result["page"] = {
        "requests": len(every),
        "median_ms": round(statistics.median(every), 2),
        "p95_ms": round(percentile(every, 0.95), 2),
        "views": {
            name: {
                "median_ms": round(statistics.median(samples), 2),
                "p95_ms": round(percentile(samples, 0.95), 2),
            }
            for name, samples in timings.items()
        },
        "queries": len(queries),
        "db_ms": round(sum(q[0] for q in queries), 2),
        "slowest_queries": sorted(queries, reverse=True)[:3],
    }
    return result
