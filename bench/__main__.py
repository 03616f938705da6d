"""Benchmarks on PostgreSQL: `python -m bench [changelist] [transitions] [claims] [breakers]
[rules] [exceptions] [intake] [rescoring] [card] [review]`.

  changelist   admin order list server time at --small (10k) vs --orders (1M) orders;
               goal: median(1M) / median(10k) <= 1.5 for every view
  transitions  order_complete_stage per second vs raw SQL, on the --orders database;
               goal: >= 200 transitions/s through the service
  claims       claim-next per second (order_claim_next, picking) vs raw SKIP LOCKED SQL,
               on the --orders database, on one connection, then 1 vs --claimers at once;
               goals: service >= 25% of raw on one connection, --claimers claimers at
               least as fast as 1 claimer, no order claimed twice
  breakers     breakers_evaluate() (every stage's circuit breaker) on the --orders
               database, --evaluations times, vs the raw grouped count;
               goal: median < 50 ms
  intake       POST /api/v1/orders/ (partner intake, the full stack) per second vs a
               bare DRF ModelSerializer create view of the same table, over real HTTP
               (gunicorn 2 workers x 4 threads started by the worker, load from
               keep-alive http.client threads), on the --orders database: peak with
               --intake-clients closed-loop clients, then latency in an open loop at
               80 % of each peak for --intake-seconds; goals: intake >= 60 % of bare,
               p99 <= 3 x p50 at 80 % load (within 5-s segments, the
               median), no error responses
  rules        routing-rule decision per order with 50 enabled rules (facts query +
               evaluation) on the --orders database, and the dry run of the seed rule
               over 60,000 orders of finance-review history; goals: evaluation of 50
               rules < 1 ms median per order, dry run < 2 s
  exceptions   the exception pool (/admin/exceptions/exceptioncase/) over
               --exception-cases (100,000) open cases inserted on the --orders database
               (deleted afterwards), as a supervisor and as a team member, vs a raw
               SQL first page of the same rows; goals: median < 300 ms for both,
               queries per page the same for 50 rows as for 1
  rescoring    health_rescore_open() over 100,000 open orders with evaluation cards
               (made open inside a transaction rolled back afterwards) on the --orders
               database, vs a save() loop over a 2,000-order sample computing the same
               values; goals (steady-state run): <= 10 s, >= 10x the save() loop's rows/s,
               same results
  card         card_fetch() (the evaluation card) for 50 orders of the --orders
               database against three local HTTP sources each answering in 100 ms,
               vs one source call alone and the three called one after the other;
               goals: median <= 150 ms (the three at once), no part unavailable
  review       review_generate() of the post-incident review of a 4-hour episode
               (yesterday's slow picking of the generated story) on the --orders
               database, inside a transaction rolled back afterwards, vs the raw
               grouped SQL of its main aggregates over the same five windows;
               goal: median <= 10 s (charts and PDF timed too, info)
  dashboard    the bottleneck dashboard (/admin/dashboard/, three views) server time
               on --small and --orders, after a full rebuild of the hourly rollups and
               an incremental update of one hour; goals: p95 <= 300 ms on the large
               database and <= 1.5 x the small one's, incremental <= 1 % of the rebuild
  generate     only make sure the databases exist and hold their data

Each size has its own database (bench_backoffice_10k, bench_backoffice_1m, ...) next
to DATABASE_URL's, generated once and reused (--regenerate forces it). Prints a table
and writes JSON to bench/results/. Exit status 1 when a goal is missed.

Examples:
  make bench
  make bench BENCH_ARGS="--quick"                  # 100k instead of 1M: a smoke run
  make bench BENCH_ARGS="transitions --transitions 5000"
  make bench BENCH_ARGS="claims breakers --quick"
  make bench BENCH_ARGS="intake --quick --intake-profile"
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m bench changelist --orders 250000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.databases import base_url, database_ensure, database_for, size_label, url_for

RESULTS = Path(__file__).resolve().parent / "results"
CHANGELIST_GOAL = 1.5
TRANSITIONS_GOAL = 200.0
CLAIMS_RAW_SHARE_GOAL = 0.25  # service claims/s >= 25 % of raw SQL's, one connection
CLAIMS_SCALING_GOAL = 1.0  # service claims/s with --claimers at once >= with 1
BREAKERS_GOAL_MS = 50.0
INTAKE_RATIO_GOAL = 0.6  # intake requests/s >= 60 % of the bare create view's
INTAKE_TAIL_GOAL = 3.0  # intake p99 <= 3 x p50 at 80 % of its peak
RULES_EVAL_GOAL_MS = 1.0
RULES_DRY_RUN_GOAL_S = 2.0
EXCEPTIONS_POOL_GOAL_MS = 300.0
RESCORING_GOAL_S = 10.0
RESCORING_RATIO_GOAL = 10.0
CARD_GOAL_MS = 150.0  # card_fetch median with three sources answering in 100 ms each
DASHBOARD_GOAL_MS = 300.0  # dashboard p95 on the large database
DASHBOARD_RATIO_GOAL = 1.5  # dashboard p95 large / small
ROLLUP_SHARE_GOAL = 0.01  # incremental rollup of one hour <= 1 % of a full rebuild
REVIEW_GOAL_S = 10.0  # post-incident review of a 4-hour episode on the 1M database
DEFAULT_BENCHMARKS = [
    "changelist",
    "transitions",
    "claims",
    "breakers",
    "rules",
    "exceptions",
    "intake",
    "rescoring",
    "card",
    "review",
    "dashboard",
]
BENCHMARKS = (*DEFAULT_BENCHMARKS, "generate")


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("benchmarks", nargs="*", choices=[*BENCHMARKS, []], metavar="BENCHMARK")
    parser.add_argument("--orders", type=int, default=None, help="large size (default 1,000,000)")
    parser.add_argument("--small", type=int, default=10_000, help="small size (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="large size 100,000: a smoke run")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the databases")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per view")
    parser.add_argument(
        "--rounds", type=int, default=2, help="changelist rounds, sizes alternating (default 2)"
    )
    parser.add_argument("--transitions", type=int, default=3000, help="transitions each way")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="connections for the extra concurrent transitions run (1: skip it)",
    )
    parser.add_argument("--claims", type=int, default=3000, help="claims each way (default 3000)")
    parser.add_argument(
        "--claimers", type=int, default=16, help="claimers at once in the claims run (default 16)"
    )
    parser.add_argument(
        "--evaluations", type=int, default=20, help="timed breaker evaluations (default 20)"
    )
    parser.add_argument(
        "--intake-requests",
        type=int,
        default=2000,
        help="intake: requests of each kind in the peak rounds (default 2000)",
    )
    parser.add_argument(
        "--intake-clients", type=int, default=8, help="intake: concurrent clients (default 8)"
    )
    parser.add_argument(
        "--intake-seconds",
        type=float,
        default=40.0,
        help="intake: open-loop seconds of each kind at 80 %% load (default 40)",
    )
    parser.add_argument(
        "--intake-profile", action="store_true", help="intake: print a cProfile of the view"
    )
    parser.add_argument(
        "--exception-cases",
        type=int,
        default=100_000,
        help="exceptions: open cases inserted for the pool benchmark (default 100,000)",
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.benchmarks = args.benchmarks or list(DEFAULT_BENCHMARKS)
    if args.orders is None:
        args.orders = 100_000 if args.quick else 1_000_000
    return args


def _run_worker(size: int, tasks: list[str], args) -> dict:
    database = database_for(size)
    created = database_ensure(database)
    print(f"== {size_label(size)} orders: database {database}{' (created)' if created else ''}")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    command = [
        sys.executable,
        "-m",
        "bench.worker",
        "--size",
        str(size),
        "--tasks",
        ",".join(tasks),
        "--requests",
        str(args.requests),
        "--transitions",
        str(args.transitions),
        "--concurrency",
        str(args.concurrency),
        "--claims",
        str(args.claims),
        "--claimers",
        str(args.claimers),
        "--evaluations",
        str(args.evaluations),
        "--intake-requests",
        str(args.intake_requests),
        "--intake-clients",
        str(args.intake_clients),
        "--intake-seconds",
        str(args.intake_seconds),
        "--exception-cases",
        str(args.exception_cases),
        "--seed",
        str(args.seed),
        "--out",
        out,
    ]
    if args.regenerate:
        command.append("--regenerate")
    if args.intake_profile:
        command.append("--intake-profile")
    env = {**os.environ, "DATABASE_URL": url_for(database)}
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, cwd=Path(__file__).resolve().parent.parent)
    result = json.loads(Path(out).read_text(encoding="utf-8"))
    Path(out).unlink()
    result["database"] = database
    result["worker_seconds"] = round(time.monotonic() - started, 1)
    data = result["data"]
    how = "reused" if data.get("reused") else "generated"
    print(
        f"   {data['orders']:,} orders ({how}; generation took {data['seconds']:.0f} s), "
        f"worker {result['worker_seconds']:.0f} s"
    )
    return result


def _merge_changelist(into: dict, more: dict) -> None:
    """Pool the request timings of two rounds and recompute the statistics."""
    import statistics

    from bench.changelist import percentile

    for view, stats in more.items():
        samples = into[view]["samples_ms"] + stats["samples_ms"]
        into[view].update(
            samples_ms=samples,
            median_ms=round(statistics.median(samples), 2),
            p95_ms=round(percentile(samples, 0.95), 2),
            min_ms=round(min(samples), 2),
        )


def _table(rows: list[list[str]]) -> str:
    header = ["benchmark", "value", "baseline", "ratio", "goal", "result"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)), line]
    for row in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(out)


def _claims_rows(rows: list, c: dict, label: str) -> bool:
    """Add the claims rows; True when a goal is missed."""
    failed = False
    share = c["service_per_second"] / c["baseline_per_second"]
    ok = share >= CLAIMS_RAW_SHARE_GOAL
    failed |= not ok
    rows.append(
        [
            f"claims/s service vs raw SQL, 1 connection ({c['claims']:,}, {label} db)",
            f"{c['service_per_second']:.0f}/s",
            f"{c['baseline_per_second']:.0f}/s",
            f"{share:.2f}",
            f">= {CLAIMS_RAW_SHARE_GOAL:.2f}",
            "pass" if ok else "FAIL",
        ]
    )
    k = c["concurrent"]
    many = k["claimers"]
    if many > 1:
        scaling = k["service_many_per_second"] / k["service_1_per_second"]
        ok = scaling >= CLAIMS_SCALING_GOAL
        failed |= not ok
        rows.append(
            [
                f"claims/s service, {many} claimers at once vs 1",
                f"{k['service_many_per_second']:.0f}/s",
                f"{k['service_1_per_second']:.0f}/s",
                f"{scaling:.2f}",
                f">= {CLAIMS_SCALING_GOAL:.2f}",
                "pass" if ok else "FAIL",
            ]
        )
        rows.append(
            [
                f"claims/s raw SQL, {many} connections at once vs 1 (info)",
                f"{k['baseline_many_per_second']:.0f}/s",
                f"{k['baseline_1_per_second']:.0f}/s",
                f"{k['baseline_many_per_second'] / k['baseline_1_per_second']:.2f}",
                "(info)",
                "info",
            ]
        )
        rows.append(
            [
                f"claims/s service vs raw SQL, {many} at once (info)",
                f"{k['service_many_per_second']:.0f}/s",
                f"{k['baseline_many_per_second']:.0f}/s",
                f"{k['service_many_per_second'] / k['baseline_many_per_second']:.2f}",
                "(info)",
                "info",
            ]
        )
    ok = c["double_claims"] == 0
    failed |= not ok
    rows.append(
        [
            "claims: orders claimed twice or unconfirmed (all runs)",
            str(c["double_claims"]),
            "-",
            "-",
            "0",
            "pass" if ok else "FAIL",
        ]
    )
    drift = c.get("counter_drift", 0)
    rows.append(["claims: WorkLoad counter drift (info)", str(drift), "-", "-", "0", "info"])
    return failed


def _rules_rows(rows: list, r: dict, label: str) -> bool:
    """Add the routing-rule rows; True when a goal is missed."""
    e, d = r["evaluation"], r["dry_run"]
    ok_eval = e["evaluate_50_rules"]["median_ms"] < RULES_EVAL_GOAL_MS
    ok_dry = d["median_s"] < RULES_DRY_RUN_GOAL_S
    rows.append(
        [
            f"evaluate {e['rules']} rules per order, median ({e['orders']} orders, {label} db)",
            f"{e['evaluate_50_rules']['median_ms']:.3f} ms",
            f"{e['facts_query']['median_ms']:.3f} ms (facts query)",
            f"{e['evaluate_50_rules']['median_ms'] / e['facts_query']['median_ms']:.2f}",
            f"< {RULES_EVAL_GOAL_MS:.0f} ms",
            "pass" if ok_eval else "FAIL",
        ]
    )
    rows.append(
        [
            "rule_decision() sales+finance per order incl. facts query, median (info)",
            f"{e['decision']['median_ms']:.2f} ms",
            f"{e['facts_query']['median_ms']:.2f} ms",
            f"{e['decision']['median_ms'] / e['facts_query']['median_ms']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            f"dry run seed rule, {d['visits']:,} visits over {d['days']} days ({label} db)",
            f"{d['median_s']:.2f} s",
            f"{d['baseline_median_s']:.2f} s (raw count)",
            f"{d['median_s'] / d['baseline_median_s']:.1f}",
            f"< {RULES_DRY_RUN_GOAL_S:.0f} s",
            "pass" if ok_dry else "FAIL",
        ]
    )
    return not (ok_eval and ok_dry)


def _exceptions_rows(rows: list, e: dict, label: str) -> bool:
    """Add the exception-pool rows; True when a goal is missed."""
    failed = False
    baseline = e["baseline"]
    for who, view in e["views"].items():
        ok = view["median_ms"] < EXCEPTIONS_POOL_GOAL_MS
        failed |= not ok
        for stat, has_goal in (("median_ms", True), ("p95_ms", False)):
            rows.append(
                [
                    f"exception pool as {who} {stat[:-3]} vs raw first page "
                    f"({e['cases']:,} open cases, {label} db)",
                    f"{view[stat]:.1f} ms",
                    f"{baseline[stat]:.1f} ms",
                    f"{view[stat] / baseline[stat]:.1f}",
                    f"< {EXCEPTIONS_POOL_GOAL_MS:.0f} ms" if has_goal else "(info)",
                    ("pass" if ok else "FAIL") if has_goal else "info",
                ]
            )
        bounded = view["queries_bounded"]
        if who == next(iter(e["views"])):
            joined = e["baseline_joined"]
            rows.append(
                [
                    "exception pool: raw first page joined with type, order, team (info)",
                    f"{joined['median_ms']:.1f} ms",
                    f"{baseline['median_ms']:.1f} ms",
                    f"{joined['median_ms'] / baseline['median_ms']:.1f}",
                    "(info)",
                    "info",
                ]
            )
        failed |= not bounded
        rows.append(
            [
                f"exception pool as {who}: queries, {view['rows_shown']} rows vs "
                f"{view['one_row_page']['rows_shown']} row",
                str(view["queries"]),
                str(view["one_row_page"]["queries"]),
                "-",
                "equal",
                "pass" if bounded else "FAIL",
            ]
        )
    return failed


def _rescoring_rows(rows: list, r: dict, label: str) -> bool:
    """Add the health rescoring rows; True when a goal is missed.

    The goal is read on the second run, the schedule's steady state (every open order
    has its health row, few lanes move); the first run also inserts every health row
    and moves about half the lanes off the default, and is shown beside it."""
    first, steady = r["runs"][0], r["runs"][-1]
    ok_time = steady["seconds"] <= RESCORING_GOAL_S
    ok_ratio = r["ratio"] >= RESCORING_RATIO_GOAL
    ok_same = r["mismatches"] == 0
    rows.append(
        [
            f"health_rescore_open, {r['open_orders']:,} open orders, steady state ({label} db)",
            f"{steady['seconds']:.2f} s",
            "-",
            "-",
            f"<= {RESCORING_GOAL_S:.0f} s",
            "pass" if ok_time else "FAIL",
        ]
    )
    for name, run in (("first run: inserts, lanes moved", first), ("steady state", steady)):
        rows.append(
            [
                f"rescoring {name}: {run['lanes_changed']:,} lanes changed; "
                "read / compute / write (info)",
                f"{run['seconds']:.2f} s",
                f"{run['read_seconds']:.1f} / {run['compute_seconds']:.1f} / "
                f"{run['write_seconds']:.1f} s",
                "-",
                "(info)",
                "info",
            ]
        )
    rows.append(
        [
            f"rescoring rows/s set-based (steady) vs save() loop "
            f"({r['baseline_orders']:,} sample, same values)",
            f"{r['service_per_second']:,.0f}/s",
            f"{r['baseline_per_second']:,.0f}/s",
            f"{r['ratio']:.1f}",
            f">= {RESCORING_RATIO_GOAL:.0f}",
            "pass" if ok_ratio else "FAIL",
        ]
    )
    rows.append(
        [
            "rescoring: save() loop results differing from the set-based run",
            str(r["mismatches"]),
            "-",
            "-",
            "0",
            "pass" if ok_same else "FAIL",
        ]
    )
    return not (ok_time and ok_ratio and ok_same)


def _card_rows(rows: list, c: dict, label: str) -> bool:
    """Add the evaluation card rows; True when a goal is missed."""
    card, single, sequential = c["card"], c["single"], c["sequential"]
    ok_time = card["median_ms"] <= CARD_GOAL_MS
    ok_parts = c["unavailable_parts"] == 0
    sources = f"3 HTTP sources at {c['delay_ms']} ms"
    rows.append(
        [
            f"card_fetch median vs one source call alone ({sources}, "
            f"{c['orders']} orders, {label} db)",
            f"{card['median_ms']:.1f} ms",
            f"{single['median_ms']:.1f} ms",
            f"{c['ratio_single']:.2f}",
            f"<= {CARD_GOAL_MS:.0f} ms",
            "pass" if ok_time else "FAIL",
        ]
    )
    rows.append(
        [
            "card_fetch p95 vs one source call alone (info)",
            f"{card['p95_ms']:.1f} ms",
            f"{single['p95_ms']:.1f} ms",
            f"{card['p95_ms'] / single['p95_ms']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            "card_fetch median vs the 3 sources one after the other (info)",
            f"{card['median_ms']:.1f} ms",
            f"{sequential['median_ms']:.1f} ms",
            f"{c['ratio_sequential']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            "card_fetch p95 vs the 3 sources one after the other (info)",
            f"{card['p95_ms']:.1f} ms",
            f"{sequential['p95_ms']:.1f} ms",
            f"{card['p95_ms'] / sequential['p95_ms']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            f"card parts unavailable in the timed fetches (budget {c['budget_ms']} ms)",
            str(c["unavailable_parts"]),
            "-",
            "-",
            "0",
            "pass" if ok_parts else "FAIL",
        ]
    )
    return not (ok_time and ok_parts)


def _breakers_rows(rows: list, b: dict, label: str) -> bool:
    """Add the breakers rows; True when a goal is missed."""
    if "missing" in b:
        rows.append(["breakers_evaluate: not available", b["missing"], "-", "-", "-", "FAIL"])
        return True
    runs = f"{b['evaluations']} runs, {label} db"
    service, baseline = b["service"], b["baseline"]
    ok = service["median_ms"] < BREAKERS_GOAL_MS
    for stat, has_goal in (("median_ms", True), ("p95_ms", False)):
        rows.append(
            [
                f"breakers_evaluate {stat[:-3]} vs raw grouped count ({runs})",
                f"{service[stat]:.1f} ms",
                f"{baseline[stat]:.1f} ms",
                f"{service[stat] / baseline[stat]:.1f}",
                f"< {BREAKERS_GOAL_MS:.0f} ms" if has_goal else "(info)",
                ("pass" if ok else "FAIL") if has_goal else "info",
            ]
        )
    changes = ", ".join(f"{s} {v}" for s, v in b["first_changes"].items()) or "no change"
    rows.append(
        [
            f"breakers_evaluate first call ({changes}) (info)",
            f"{b['first_ms']:.1f} ms",
            "-",
            "-",
            "(info)",
            "info",
        ]
    )
    return not ok


def _intake_rows(rows: list, i: dict, label: str) -> bool:
    """Add the intake rows; True when a goal is missed."""
    peak, latency = i["peak"], i["latency"]
    intake, bare = latency["intake"], latency["bare"]
    ok_ratio = i["ratio"] >= INTAKE_RATIO_GOAL
    ok_tail = i["tail_ratio"] <= INTAKE_TAIL_GOAL
    ok_errors = i["errors"] == 0
    rows.append(
        [
            f"intake POST /api/v1/orders/ req/s vs bare DRF create, HTTP, "
            f"{peak['clients']} clients ({peak['requests_each']:,} each, {label} db)",
            f"{i['intake_per_second']:.0f}/s",
            f"{i['bare_per_second']:.0f}/s",
            f"{i['ratio']:.2f}",
            f">= {INTAKE_RATIO_GOAL:.2f}",
            "pass" if ok_ratio else "FAIL",
        ]
    )
    rows.append(
        [
            "intake vs bare req/s, each round's pair (info: the spread is the machine's noise)",
            " ".join(f"{r:.2f}" for r in peak["round_ratios"]),
            "-",
            f"{min(peak['round_ratios']):.2f}-{max(peak['round_ratios']):.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            "intake vs bare gunicorn CPU ms/request, peak runs (info; bare/intake as ratio)",
            f"{peak['intake']['server_cpu_ms_each']:.1f} ms",
            f"{peak['bare']['server_cpu_ms_each']:.1f} ms",
            f"{peak['bare']['server_cpu_ms_each'] / peak['intake']['server_cpu_ms_each']:.2f}",
            "(info)",
            "info",
        ]
    )
    segments = len(intake["segment_tail_ratios"])
    rows.append(
        [
            f"intake p99 / p50 within each {intake['seconds'] / segments:.0f}-s segment, "
            f"median of {segments}, open loop at {intake['rate_per_second']:.0f}/s (80 % of peak)",
            " ".join(f"{r:.1f}" for r in intake["segment_tail_ratios"]),
            "-",
            f"{i['tail_ratio']:.2f}",
            f"<= {INTAKE_TAIL_GOAL:.1f}",
            "pass" if ok_tail else "FAIL",
        ]
    )
    bare_median = statistics.median(bare["segment_tail_ratios"])
    rows.append(
        [
            "bare p99 / p50 within each segment, median, at 80 % of its peak (info)",
            " ".join(f"{r:.1f}" for r in bare["segment_tail_ratios"]),
            "-",
            f"{bare_median:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            f"intake p99 vs p50 pooled over all segments ({intake['seconds']:.0f} s; "
            f"segment p50s {min(intake['segment_p50_ms']):.0f}-"
            f"{max(intake['segment_p50_ms']):.0f} ms) (info)",
            f"{intake['p99_ms']:.1f} ms",
            f"{intake['p50_ms']:.1f} ms",
            f"{i['tail_ratio_pooled']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            f"bare p99 vs p50 pooled (segment p50s {min(bare['segment_p50_ms']):.0f}-"
            f"{max(bare['segment_p50_ms']):.0f} ms) (info)",
            f"{bare['p99_ms']:.1f} ms",
            f"{bare['p50_ms']:.1f} ms",
            f"{bare['p99_ms'] / bare['p50_ms']:.2f}",
            "(info)",
            "info",
        ]
    )
    process = i["in_process"]
    rows.append(
        [
            "intake vs bare in-process ms/request, no HTTP (info; SQL ms, statements)",
            f"{process['intake']['ms_each']:.1f} ms "
            f"({process['intake']['sql_ms_each']:.1f}, {process['intake']['statements_each']:.0f})",
            f"{process['bare']['ms_each']:.1f} ms "
            f"({process['bare']['sql_ms_each']:.1f}, {process['bare']['statements_each']:.0f})",
            f"{process['intake']['ms_each'] / process['bare']['ms_each']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            "intake: error responses (all runs, both kinds)",
            str(i["errors"]),
            "-",
            "-",
            "0",
            "pass" if ok_errors else "FAIL",
        ]
    )
    load = i["load_average"]
    rows.append(
        [
            "intake: machine load average 1 min (start / after peak / after latency) (info)",
            " / ".join(
                f"{x[0]:.1f}" for x in (load["start"], load["after_peak"], load["after_latency"])
            ),
            "-",
            "-",
            "(info)",
            "info",
        ]
    )
    return not (ok_ratio and ok_tail and ok_errors)


def _review_rows(rows: list, r: dict, label: str) -> bool:
    """Add the post-incident review rows; True when the goal is missed."""
    ok = r["median_s"] <= REVIEW_GOAL_S
    rows.append(
        [
            f"review_generate, 4-hour episode, {r['orders_in_window']:,} orders in it "
            f"({label} db), median of {len(r['seconds'])}",
            f"{r['median_s']:.2f} s",
            f"{r['baseline_median_s']:.3f} s (raw grouped SQL)",
            f"{r['median_s'] / r['baseline_median_s']:.1f}",
            f"<= {REVIEW_GOAL_S:.0f} s",
            "pass" if ok else "FAIL",
        ]
    )
    rows.append(
        [
            "review: first (cold) generation / charts / PDF (info)",
            f"{r['first_s']:.2f} s / {r['charts_seconds']:.2f} s / {r['pdf_seconds']:.2f} s",
            "-",
            "-",
            "(info)",
            "info",
        ]
    )
    return not ok


def _dashboard_rows(rows: list, big: dict, little: dict, large: int, small: int) -> bool:
    """Add the dashboard and rollup rows; True when a goal is missed."""
    page, small_page, roll = big["page"], little["page"], big["rollups"]
    ratio = page["p95_ms"] / small_page["p95_ms"]
    ok_time = page["p95_ms"] <= DASHBOARD_GOAL_MS
    ok_ratio = ratio <= DASHBOARD_RATIO_GOAL
    ok_roll = roll["ratio"] <= ROLLUP_SHARE_GOAL
    rows.append(
        [
            f"dashboard p95 ({page['requests']} requests, 3 views, {size_label(large)} db)",
            f"{page['p95_ms']:.1f} ms",
            "-",
            "-",
            f"<= {DASHBOARD_GOAL_MS:.0f} ms",
            "pass" if ok_time else "FAIL",
        ]
    )
    rows.append(
        [
            f"dashboard p95 ({size_label(large)} vs {size_label(small)})",
            f"{page['p95_ms']:.1f} ms",
            f"{small_page['p95_ms']:.1f} ms",
            f"{ratio:.2f}",
            f"<= {DASHBOARD_RATIO_GOAL}",
            "pass" if ok_ratio else "FAIL",
        ]
    )
    rows.append(
        [
            f"dashboard median ({size_label(large)} vs {size_label(small)}); queries (info)",
            f"{page['median_ms']:.1f} ms, {page['queries']} q",
            f"{small_page['median_ms']:.1f} ms, {small_page['queries']} q",
            f"{page['median_ms'] / small_page['median_ms']:.2f}",
            "(info)",
            "info",
        ]
    )
    rows.append(
        [
            f"rollup update of one hour ({roll['incremental_hours']} h redone) vs full rebuild "
            f"({roll['visits']:,} visits, {roll['hours']:,} h, {size_label(large)} db)",
            f"{roll['incremental_s']:.3f} s",
            f"{roll['full_s']:.1f} s",
            f"{100 * roll['ratio']:.2f} %",
            f"<= {100 * ROLLUP_SHARE_GOAL:.0f} %",
            "pass" if ok_roll else "FAIL",
        ]
    )
    return not (ok_time and ok_ratio and ok_roll)


def main(argv=None) -> int:
    args = _parse(argv)
    base_url()  # fails loudly without PostgreSQL
    large, small = args.orders, args.small
    plan: dict[int, list[str]] = {}
    if "changelist" in args.benchmarks:
        plan.setdefault(small, []).extend(["changelist", "check"])
        plan.setdefault(large, []).append("changelist")
    if "dashboard" in args.benchmarks:
        plan.setdefault(small, []).append("dashboard")
        plan.setdefault(large, []).append("dashboard")
    for name in DEFAULT_BENCHMARKS:  # the others run on the large database only
        if name in args.benchmarks and name not in ("changelist", "dashboard"):
            plan.setdefault(large, []).append(name)
    if "generate" in args.benchmarks:
        plan.setdefault(small, [])
        plan.setdefault(large, [])

    started = datetime.now(UTC)
    results: dict[int, dict] = {}
    # Sizes alternate over the rounds (10k, 1M, 10k, 1M...): drifts in the machine's
    # speed then hit both sizes alike. Other work runs once, in the last round.
    for round_index in range(args.rounds):
        last = round_index == args.rounds - 1
        for size, tasks in sorted(plan.items()):
            wanted = [t for t in tasks if t == "changelist" or last]
            if not wanted and not last:
                continue
            result = _run_worker(size, wanted, args)
            if size in results and "changelist" in result:
                _merge_changelist(results[size]["changelist"], result.pop("changelist"))
            results.setdefault(size, {}).update(result)

    rows, failed = [], False
    for size, result in sorted(results.items()):
        data = result["data"]
        rows.append(
            [
                f"generate {size_label(size)} ({data['orders']:,} orders, {data['rows']:,} rows)",
                f"{data['seconds']:.0f} s" + (" (reused)" if data.get("reused") else ""),
                "-",
                "-",
                "-",
                "info",
            ]
        )
        problems = result.get("check", {}).get("problems")
        if problems:
            failed = True
            label = f"data check {size_label(size)}"
            rows.append([label, f"{len(problems)} problems", "-", "-", "0", "FAIL"])
    if "changelist" in args.benchmarks:
        big, little = results[large]["changelist"], results[small]["changelist"]
        sizes = f"{size_label(large)} vs {size_label(small)}"
        for view in big:
            for stat, has_goal in (("median_ms", True), ("p95_ms", False)):
                ratio = big[view][stat] / little[view][stat]
                ok = ratio <= CHANGELIST_GOAL
                failed |= has_goal and not ok
                rows.append(
                    [
                        f"changelist {view} {stat[:-3]} ({sizes})",
                        f"{big[view][stat]:.1f} ms",
                        f"{little[view][stat]:.1f} ms",
                        f"{ratio:.2f}",
                        f"<= {CHANGELIST_GOAL}" if has_goal else "(info)",
                        ("pass" if ok else "FAIL") if has_goal else "info",
                    ]
                )
    if "transitions" in args.benchmarks:
        t = results[large]["transitions"]
        ok = t["service_per_second"] >= TRANSITIONS_GOAL
        failed |= not ok
        rows.append(
            [
                f"transitions/s service vs raw SQL ({t['transitions']:,}, {size_label(large)} db)",
                f"{t['service_per_second']:.0f}/s",
                f"{t['baseline_per_second']:.0f}/s",
                f"{t['ratio']:.2f}",
                f">= {TRANSITIONS_GOAL:.0f}/s",
                "pass" if ok else "FAIL",
            ]
        )
        if "concurrent" in t:
            c = t["concurrent"]
            rows.append(
                [
                    f"transitions/s, {c['connections']} connections at once (info)",
                    f"{c['service_per_second']:.0f}/s",
                    f"{c['baseline_per_second']:.0f}/s",
                    f"{c['ratio']:.2f}",
                    "(info)",
                    "info",
                ]
            )
    if "claims" in args.benchmarks:
        failed |= _claims_rows(rows, results[large]["claims"], size_label(large))
    if "breakers" in args.benchmarks:
        failed |= _breakers_rows(rows, results[large]["breakers"], size_label(large))
    if "rules" in args.benchmarks:
        failed |= _rules_rows(rows, results[large]["rules"], size_label(large))
    if "exceptions" in args.benchmarks:
        failed |= _exceptions_rows(rows, results[large]["exceptions"], size_label(large))
    if "intake" in args.benchmarks:
        failed |= _intake_rows(rows, results[large]["intake"], size_label(large))
    if "rescoring" in args.benchmarks:
        failed |= _rescoring_rows(rows, results[large]["rescoring"], size_label(large))
    if "card" in args.benchmarks:
        failed |= _card_rows(rows, results[large]["card"], size_label(large))
    if "review" in args.benchmarks:
        failed |= _review_rows(rows, results[large]["review"], size_label(large))
    if "dashboard" in args.benchmarks:
        failed |= _dashboard_rows(
            rows, results[large]["dashboard"], results[small]["dashboard"], large, small
        )
    print()
    print(_table(rows))

    RESULTS.mkdir(exist_ok=True)
    report = {
        "started_at": started.isoformat(),
        "arguments": dict(vars(args)),
        "results": {size_label(size): result for size, result in results.items()},
        "table": rows,
        "passed": not failed,
    }
    path = RESULTS / f"bench-{started:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (RESULTS / "latest.json").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"\nresults: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
