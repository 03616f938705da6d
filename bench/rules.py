"""Benchmark 6: routing rules. Evaluation cost per order with 50 enabled rules, and the
dry run of one rule over 60,000 orders.

Evaluation: 50 enabled rules on sales and finance review (conditions of 2-6 leaves
over the documented facts, none matching, so every rule is tried: the worst case),
then for `orders` orders of the database: `rule_decision()` as routing calls it
(facts read with one query, the compiled rules from the process cache), timed per
order. Baseline: the facts query alone; the evaluation itself is the difference.

Dry run: the issue's volume is 30 days x 2,000 orders a day = 60,000 orders. The
generated history has 600 orders a day, so the dry run covers the last 100 days of
it (60,000 finance-review visits and their orders). Baseline: a raw count of the same
visits joined with their orders. Rules written are deleted afterwards.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta

from django.db import connection
from django.db.models import Max

from approvals.demo import FINANCE_RULE
from approvals.facts import order_facts
from approvals.models import RoutingRule, RuleTarget
from approvals.services import rules as rules_service
from orders.models import Order, StageVisit

FACT_LEAVES = [
    {"fact": "amount", "op": ">", "value": 900000},
    {"fact": "credit_rating", "op": "=", "value": "blocked"},
    {"fact": "customer_tier", "op": "in", "value": ["vip"]},
    {"fact": "item_count", "op": "between", "value": [500, 900]},
    {"fact": "payment_method", "op": "=", "value": "credit"},
    {"fact": "coupon_type", "op": "=", "value": "limited"},
    {"fact": "price_deviation_pct", "op": ">=", "value": 90},
    {"fact": "channel", "op": "=", "value": "nowhere"},
    {"fact": "presale", "op": "=", "value": True},
]


def _conditions(count: int, rng: random.Random) -> list[dict]:
    """Conditions that never hold: every rule of the stage is tried for every order."""
    conditions = []
    for _ in range(count):
        leaves = rng.sample(FACT_LEAVES, rng.randint(2, 6))
        conditions.append({"all": [*leaves[:1], {"any": leaves[1:]}]})
    return conditions


def _percentile(values: list[float], share: float) -> float:
    from bench.changelist import percentile

    return percentile(values, share)


def _stats(values: list[float]) -> dict:
    return {
        "median_ms": statistics.median(values) * 1000,
        "p95_ms": _percentile(values, 0.95) * 1000,
    }


def rules_run(*, orders: int = 2000, rules: int = 50, dry_runs: int = 3, seed: int = 42) -> dict:
    rng = random.Random(seed)
    created: list[int] = []
    try:
        for index, condition in enumerate(_conditions(rules, rng)):
            rule = RoutingRule.objects.create(
                name=f"bench rule {index}",
                target=RuleTarget.FINANCE_REVIEW if index % 2 else RuleTarget.SALES_REVIEW,
                condition=condition,
                priority=index,
                enabled=True,
            )
            created.append(rule.pk)
        rules_service.rules_cache_clear()
        ids = list(Order.objects.order_by("-id").values_list("id", flat=True)[:orders])
        sample = list(Order.objects.filter(pk__in=ids))
        rules_service.rule_decision(sample[0], "finance_review")  # warm the rule cache
        service, facts_only, evaluate_only = [], [], []
        compiled = rules_service._compiled_rules()
        all_rules = compiled.get("finance_review", []) + compiled.get("sales_review", [])
        for order in sample:
            started = time.perf_counter()
            facts = order_facts(order)
            facts_only.append(time.perf_counter() - started)
            started = time.perf_counter()
            now = order.updated_at
            rules_service.first_matching_rule(all_rules, facts, now)
            evaluate_only.append(time.perf_counter() - started)
            order.__dict__.pop("_approval_facts", None)
            started = time.perf_counter()
            rules_service.rule_decision(order, "finance_review")
            rules_service.rule_decision(order, "sales_review")
            service.append(time.perf_counter() - started)
        evaluation = {
            "orders": len(sample),
            "rules": len(all_rules),
            "decision": _stats(service),
            "facts_query": _stats(facts_only),
            "evaluate_50_rules": _stats(evaluate_only),
        }
    finally:
        RoutingRule.objects.filter(pk__in=created).delete()
        rules_service.rules_cache_clear()

    # Dry run: 60,000 orders' worth of finance-review visits.
    newest = StageVisit.objects.filter(stage="finance_review").aggregate(t=Max("entered_at"))["t"]
    per_day = (
        StageVisit.objects.filter(
            stage="finance_review", entered_at__gte=newest - timedelta(days=7)
        ).count()
        / 7
    )
    days = max(1, round(60_000 / per_day)) if per_day else 30
    now = newest + timedelta(seconds=1)
    dry, raw = [], []
    result = None
    for _ in range(dry_runs):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), sum(o.total_amount) FROM orders_stagevisit v "
                "JOIN orders_order o ON o.id = v.order_id "
                "JOIN orders_customer c ON c.id = o.customer_id "
                "WHERE v.stage = 'finance_review' AND v.entered_at >= %s AND v.entered_at < %s",
                [now - timedelta(days=days), now],
            )
            cursor.fetchall()
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = rules_service.rule_dry_run(
            target=RuleTarget.FINANCE_REVIEW, condition=FINANCE_RULE, days=days, now=now
        )
        dry.append(time.perf_counter() - started)
    return {
        "evaluation": evaluation,
        "dry_run": {
            "days": days,
            "visits": result.visits if result else 0,
            "matched": result.matched if result else 0,
            "median_s": statistics.median(dry),
            "baseline_median_s": statistics.median(raw),
            "runs": dry_runs,
        },
    }
