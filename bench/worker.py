"""One benchmark database, in its own process: `python -m bench.worker ...`.

The runner starts one worker per data size, with DATABASE_URL pointing at that
size's database, so every size is measured in a fresh process with cold caches of
the same kind. The worker migrates, makes sure the data is there, runs the asked
benchmarks and writes its results as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--tasks", default="changelist", help="comma-separated")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--transitions", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--claimers", type=int, default=16)
    parser.add_argument("--evaluations", type=int, default=20)
    parser.add_argument("--intake-requests", type=int, default=2000)
    parser.add_argument("--intake-clients", type=int, default=8)
    parser.add_argument("--intake-seconds", type=float, default=40.0)
    parser.add_argument("--intake-profile", action="store_true")
    parser.add_argument("--exception-cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from bench.generate import data_ensure

    def log(message: str) -> None:
        print(message, flush=True)

    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    result: dict = {"size": args.size, "migrate_seconds": round(time.monotonic() - started, 1)}
    result["data"] = data_ensure(args.size, seed=args.seed, regenerate=args.regenerate, log=log)
    tasks = [t for t in args.tasks.split(",") if t]
    if "check" in tasks:
        from orders.demo.checks import order_data_problems, stock_totals_match

        result["check"] = {
            "problems": order_data_problems(limit=20) if args.size <= 100_000 else [],
            "stock_totals_match": stock_totals_match(),
        }
    if "changelist" in tasks:
        from bench.changelist import changelist_run

        log("  changelist ...")
        result["changelist"] = changelist_run(requests=args.requests)
    if "transitions" in tasks:
        from bench.transitions import transitions_run

        log(f"  transitions ({args.transitions:,} each way) ...")
        result["transitions"] = transitions_run(
            count=args.transitions, concurrency=args.concurrency
        )
    if "claims" in tasks:
        from bench.claims import claims_run

        log(f"  claims ({args.claims:,} each way, then 1 and {args.claimers} claimers) ...")
        result["claims"] = claims_run(count=args.claims, claimers=args.claimers, log=log)
    if "rules" in tasks:
        from bench.rules import rules_run

        log("  rules (50 rules x 2000 orders, dry run over 60,000 orders) ...")
        result["rules"] = rules_run()
    if "rescoring" in tasks:
        from bench.rescoring import rescoring_run

        log("  rescoring (100,000 open orders, set-based vs a save() loop on 2,000) ...")
        result["rescoring"] = rescoring_run(seed=args.seed)
    if "breakers" in tasks:
        from bench.breakers import breakers_run

        log(f"  breakers ({args.evaluations} evaluations) ...")
        result["breakers"] = breakers_run(evaluations=args.evaluations)
    if "exceptions" in tasks:
        from bench.exceptions import exceptions_run

        log(
            f"  exceptions (the pool over {args.exception_cases:,} open cases, "
            "supervisor and team member) ..."
        )
        result["exceptions"] = exceptions_run(
            cases=args.exception_cases, requests=args.requests, seed=args.seed
        )
    if "intake" in tasks:
        from bench.intake import intake_run

        log(
            f"  intake ({args.intake_requests:,} requests each way, "
            f"{args.intake_clients} clients; then {args.intake_seconds:.0f} s each at 80 % load) "
            "..."
        )
        result["intake"] = intake_run(
            count=args.intake_requests,
            clients=args.intake_clients,
            seconds=args.intake_seconds,
            profile=args.intake_profile,
            seed=args.seed,
            log=log,
        )
    if "card" in tasks:
        from bench.card import card_run

        log("  card (50 orders, 3 HTTP sources answering in 100 ms: at once vs one by one) ...")
        result["card"] = card_run(seed=args.seed)
    if "dashboard" in tasks:
        from bench.dashboard import dashboard_run

        log("  dashboard (rollup rebuild and update, page server time) ...")
        result["dashboard"] = dashboard_run(requests=args.requests)
    if "review" in tasks:
        from bench.review import review_run

        log("  review (post-incident review of a 4-hour episode, 3 generations) ...")
        result["review"] = review_run()
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
