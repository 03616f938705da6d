"""Benchmark 7: the exception pool (`/admin/exceptions/exceptioncase/`) over 100,000
open cases.

The run inserts `cases` open cases (bulk_create, untimed) on the database's orders:
across the six exception types and so across their teams (customer service and
finance), due times spread over three days before and after now, so part of the pool
is overdue. The table is analyzed, then the pool's changelist is requested in-process
through `django.test.Client` (URL resolution, middleware, the admin's queries, the
template), as

- a supervisor (Supervisors team: may assign, sees every team's cases ranked alike),
- a customer-service team member (their team's cases ranked first),

requests of the two interleaved after a warm-up; medians and p95. Goal: median
server time < 300 ms for both.

Baseline, timed in the same run next to each request: one raw SQL statement reading
the first page of the same rows (open cases ORDER BY sla_due_at LIMIT 50): what any
page of the pool must at least cost. For diagnosis also the same page joined with the
type, order and team each row shows (info).

Queries per page are counted with CaptureQueriesContext on a full page (50 rows) and
on a one-row page (a search for one order number and type): they must be the same
number (no query per row). EXPLAIN ANALYZE of the slowest queries goes into the JSON.

Every case the run inserted is deleted afterwards (the types and the two bench users
stay: they are reused by the next run).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.changelist import _explain, _is_select, _rows_shown, percentile
from exceptions.demo import exceptions_types_ensure
from exceptions.models import CaseSource, ExceptionCase
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams
from orders.models import Order

POOL = "/admin/exceptions/exceptioncase/"
WARMUP = 3
BATCH = 5_000
SUPERVISOR = "bench-pool-supervisor"
MEMBER = "bench-pool-member"
RAW_FIRST_PAGE = """
SELECT id, order_id, type_id, team_id, status, blocking, sla_due_at, source, description
FROM exceptions_exceptioncase
WHERE status IN ('open', 'claimed')
ORDER BY sla_due_at, id
LIMIT 50
"""
# For diagnosis (info): the same page joined with what the pool shows of each row.
RAW_FIRST_PAGE_JOINED = """
SELECT c.id, c.status, c.blocking, c.sla_due_at, c.source, c.description,
       t.code, t.tag_zh, t.tag_en, o.number, o.status, g.name
FROM exceptions_exceptioncase c
JOIN exceptions_exceptiontype t ON t.id = c.type_id
JOIN orders_order o ON o.id = c.order_id
JOIN auth_group g ON g.id = c.team_id
WHERE c.status IN ('open', 'claimed')
ORDER BY c.sla_due_at, c.id
LIMIT 50
"""
DESCRIPTIONS = [
    "客户来电改地址 / the customer called to change the address",
    "需要重开专票 / a VAT invoice is needed",
    "老客户加赠试用装 / add a sample for a loyal customer",
    "实付金额不符 / the amount paid differs",
    "上一单退货需同步 / sync the last return",
    "预售尾款未付 / presale balance due",
]


def _user(username: str, group_name: str):
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": False}
    )
    user.groups.add(Group.objects.get(name=group_name))
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cases_insert(count: int, *, seed: int) -> tuple[int, int]:
    """Insert `count` open cases on the database's orders, spread over the six types
    (one open case per order and type). Returns (first id, last id) of the rows."""
    types = list(exceptions_types_ensure().values())
    order_ids = list(Order.objects.order_by("-id").values_list("id", flat=True)[:count])
    if not order_ids or count > len(order_ids) * len(types):
        raise RuntimeError(f"{len(order_ids)} orders cannot hold {count} open cases")
    rng = random.Random(seed)
    now = timezone.now()
    sources = list(CaseSource.values)
    first = last = None
    batch: list[ExceptionCase] = []
    for index in range(count):
        kind = types[(index // len(order_ids) + index) % len(types)]
        opened = now - timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        batch.append(
            ExceptionCase(
                order_id=order_ids[index % len(order_ids)],
                type=kind,
                team_id=kind.team_id,
                blocking=kind.blocks_dispatch,
                source=rng.choice(sources),
                description=rng.choice(DESCRIPTIONS),
                opened_at=opened,
                sla_due_at=opened + timedelta(minutes=kind.sla_minutes * rng.randint(1, 30)),
            )
        )
        if len(batch) == BATCH or index == count - 1:
            made = ExceptionCase.objects.bulk_create(batch)
            first = first if first is not None else made[0].pk
            last = made[-1].pk
            batch = []
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE exceptions_exceptioncase")
    return first, last


def cases_delete(first: int, last: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM exceptions_exceptioncase WHERE id BETWEEN %s AND %s", [first, last]
        )
        deleted = cursor.rowcount
        cursor.execute("VACUUM (ANALYZE) exceptions_exceptioncase")
    return deleted


def _stats(samples: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
        "min_ms": round(min(samples), 2),
        "samples_ms": [round(s, 2) for s in samples],
    }


def _captured(client: Client, url: str, *, explain: bool) -> dict:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    slowest = sorted(queries, reverse=True)[:3]
    return {
        "url": url,
        "rows_shown": _rows_shown(response.content),
        "queries": len(queries),
        "db_ms": round(sum(q[0] for q in queries), 2),
        "slowest_queries": [
            {
                "ms": round(ms, 2),
                "sql": sql,
                "plan": _explain(sql) if explain and _is_select(sql) else "",
            }
            for ms, sql in slowest
        ],
    }


def _one_row_url(first: int) -> str:
    """A page showing one case: its order number and type (the same template, one row)."""
    case = ExceptionCase.objects.select_related("order").get(pk=first)
    return f"{POOL}?q={case.order.number}&type__id__exact={case.type_id}"


def exceptions_run(*, cases: int = 100_000, requests: int = 20, seed: int = 42) -> dict:
    people = {
        "supervisor": _user(SUPERVISOR, teams.SUPERVISORS),
        "team member": _user(MEMBER, CUSTOMER_SERVICE),
    }
    clients = {who: _client(user) for who, user in people.items()}
    started = time.perf_counter()
    first, last = cases_insert(cases, seed=seed)
    insert_seconds = time.perf_counter() - started
    try:
        open_by_team = dict(
            ExceptionCase.objects.open()
            .order_by()
            .values_list("team__name")
            .annotate(n=Count("id"))
        )
        for client in clients.values():
            for _ in range(WARMUP):
                if client.get(POOL).status_code != 200:
                    raise RuntimeError(f"GET {POOL} failed")
        timings: dict[str, list[float]] = {who: [] for who in clients}
        baseline: list[float] = []
        joined: list[float] = []
        with connection.cursor() as cursor:
            for _ in range(requests):
                for sql, samples in ((RAW_FIRST_PAGE, baseline), (RAW_FIRST_PAGE_JOINED, joined)):
                    began = time.perf_counter()
                    cursor.execute(sql)
                    cursor.fetchall()
                    samples.append((time.perf_counter() - began) * 1000)
                for who, client in clients.items():
                    began = time.perf_counter()
                    client.get(POOL)
                    timings[who].append((time.perf_counter() - began) * 1000)
        one_row = _one_row_url(first)
        views = {}
        for who, client in clients.items():
            full = _captured(client, POOL, explain=True)
            single = _captured(client, one_row, explain=False)
            views[who] = {
                **_stats(timings[who]),
                **full,
                "one_row_page": {k: single[k] for k in ("url", "rows_shown", "queries")},
                "queries_bounded": full["queries"] == single["queries"],
            }
        baseline_plan = _explain(RAW_FIRST_PAGE)
        joined_plan = _explain(RAW_FIRST_PAGE_JOINED)
    finally:
        deleted = cases_delete(first, last)
    return {
        "cases": cases,
        "open_by_team": open_by_team,
        "insert_seconds": round(insert_seconds, 1),
        "requests": requests,
        "views": views,
        "baseline": {
            "sql": " ".join(RAW_FIRST_PAGE.split()),
            "plan": baseline_plan,
            **_stats(baseline),
        },
        "baseline_joined": {
            "sql": " ".join(RAW_FIRST_PAGE_JOINED.split()),
            "plan": joined_plan,
            **_stats(joined),
        },
        "deleted": deleted,
    }
