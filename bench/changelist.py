"""Benchmark 1: server time of the admin order list, in-process.

A logged-in superuser GETs the changelist (unfiltered and filtered) through
`django.test.Client`: URL resolution, middleware, the admin's queries, template
rendering. Medians and p95 over N requests after a warm-up, requests of the views
interleaved so that noise on this shared machine spreads evenly.

One extra request per view runs with query capture: the query count, the database
share of the time, and EXPLAIN ANALYZE of the slowest queries, for diagnosis.
"""

from __future__ import annotations

import statistics
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

VIEWS = {
    "all": "/admin/orders/order/",
    "status=picking": "/admin/orders/order/?status=picking",
    "age=gt3": "/admin/orders/order/?age=gt3",
}
WARMUP = 3


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def _client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def _rows_shown(content: bytes) -> int:
    return content.count(b'class="action-select"')


def views_time(client: Client, views: dict[str, str], *, requests: int, warmup: int) -> dict:
    """Milliseconds per request of each view: warmed up, then interleaved."""
    for url in views.values():
        for _ in range(warmup):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}")
    timings: dict[str, list[float]] = {name: [] for name in views}
    for _ in range(requests):
        for name, url in views.items():
            started = time.perf_counter()
            client.get(url)
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def changelist_run(*, requests: int = 20, explain: bool = True) -> dict:
    client = _client()
    timings = views_time(client, VIEWS, requests=requests, warmup=WARMUP)
    results = {}
    for name, url in VIEWS.items():
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            total_ms = (time.perf_counter() - started) * 1000
        queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
        slowest = sorted(queries, reverse=True)[:3]
        results[name] = {
            "url": url,
            "median_ms": round(statistics.median(timings[name]), 2),
            "p95_ms": round(percentile(timings[name], 0.95), 2),
            "min_ms": round(min(timings[name]), 2),
            "samples_ms": [round(t, 2) for t in timings[name]],
            "rows_shown": _rows_shown(response.content),
            "queries": len(queries),
            "db_ms": round(sum(q[0] for q in queries), 2),
            "captured_request_ms": round(total_ms, 2),
            "slowest_queries": [
                {
                    "ms": round(ms, 2),
                    "sql": sql,
                    "plan": _explain(sql) if explain and _is_select(sql) else "",
                }
                for ms, sql in slowest
            ],
        }
    return results


def _is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")


def _explain(sql: str) -> str:
    """EXPLAIN ANALYZE of a captured query (its parameters are inlined by Django)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
    except Exception as exc:  # a plan is a diagnostic, never a reason to fail the run
        return f"(no plan: {exc})"
