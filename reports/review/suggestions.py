"""Suggested permanent changes, derived from the window's data with their evidence.

Each suggestion is a code, its numbers (`params`) and `minutes`, the time at stake
(the chart of section 4); the sentence is written at display time in the reader's
language (reports.review.present). A suggestion fires only on evidence above its
threshold, so a quiet day suggests nothing:

- rule: a seed rule's condition (approvals.demo: finance "amount < 5,000 and credit
  good", sales "simple orders") evaluated, with the same facts routing reads, on the
  orders reviewed by hand in the window; fires when at least RULE_MIN_VISITS visits
  and RULE_MIN_SHARE of them met it, saving a median of RULE_MIN_MINUTES or more;
- no_exits: a worked stage in which nothing left for NO_EXIT_MINUTES or more while an
  order waited throughout and someone who works that stage was active (audit log or
  staff activity): a system or input problem (printer, template), not people;
- exception_sla: an exception type whose cases opened in the window took a median of
  EXCEPTION_SLA_RATIO x their SLA or more (at least EXCEPTION_MIN_CASES cases);
- breaker: a stage's breaker opened BREAKER_MIN_TRIPS times in the window, or
  BREAKER_MIN_TRIPS_WEEK times in the week up to its end.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from itertools import pairwise

from django.contrib.auth import get_user_model
from django.db.models import Q

from approvals.conditions import condition_compile
from approvals.demo import FINANCE_RULE, SALES_RULE
from approvals.facts import facts_for_orders
from approvals.models import RoutingRule
from backoffice.audit.models import AuditEvent
from exceptions.models import ExceptionCase
from orders.models import BreakerEvent, Order, StageSetting, StageVisit
from orders.states import OrderStatus
from reports.models import StaffActivity
from reports.review.sections import breaker_openings, minutes, r1, share

S = OrderStatus
RULE_CANDIDATES = [(S.FINANCE_REVIEW, FINANCE_RULE), (S.SALES_REVIEW, SALES_RULE)]
RULE_MIN_VISITS = 5
RULE_MIN_SHARE = 25.0  # percent
RULE_MIN_MINUTES = 5.0
NO_EXIT_MINUTES = 30
NO_EXIT_MIN_WAITING = 3  # orders waiting through the whole gap
NO_EXIT_STAGES = [
    S.SALES_REVIEW,
    S.FINANCE_REVIEW,
    S.STOCK_RESERVATION,
    S.PICKING,
    S.QUALITY_CHECK,
]
NO_EXIT_LOOKBACK = timedelta(days=1)
EXCEPTION_MIN_CASES = 3
EXCEPTION_SLA_RATIO = 1.5
BREAKER_MIN_TRIPS = 2
BREAKER_MIN_TRIPS_WEEK = 3


def suggestions_derive(*, start: datetime, end: datetime, now: datetime) -> list[dict]:
    found = [
        *rule_suggestions(start=start, end=end),
        *no_exit_suggestions(start=start, end=end),
        *exception_sla_suggestions(start=start, end=end, now=now),
        *breaker_suggestions(start=start, end=end, now=now),
    ]
    found.sort(key=lambda s: -(s["minutes"] or 0))
    return found


def _rule_enabled(target: str, condition: dict) -> bool:
    return any(
        rule.condition == condition
        for rule in RoutingRule.objects.filter(target=target, enabled=True).only("condition")
    )


def rule_suggestions(*, start: datetime, end: datetime) -> list[dict]:
    found = []
    for stage, condition in RULE_CANDIDATES:
        visits = [
            (order_id, minutes((left_at - entered_at).total_seconds()))
            for order_id, entered_at, left_at in StageVisit.objects.filter(
                stage=stage, entered_at__gte=start, entered_at__lt=end
            )
            .exclude(left_at=None)
            .values_list("order_id", "entered_at", "left_at")
            if left_at > entered_at
        ]
        if len(visits) < RULE_MIN_VISITS:
            continue
        facts = facts_for_orders(Order.objects.filter(pk__in={v[0] for v in visits}))
        test = condition_compile(condition)
        saved = [dwell for order_id, dwell in visits if test(facts.get(order_id, {}))]
        matched_share = share(len(saved), len(visits))
        if not saved or matched_share < RULE_MIN_SHARE:
            continue
        median = r1(statistics.median(saved))
        if median < RULE_MIN_MINUTES:
            continue
        found.append(
            {
                "code": "rule",
                "minutes": median,
                "params": {
                    "stage": stage,
                    "condition": condition,
                    "visits": len(visits),
                    "matched": len(saved),
                    "share": matched_share,
                    "median_saved_min": median,
                    "total_saved_h": r1(sum(saved) / 60),
                    "rule_enabled_now": _rule_enabled(stage, condition),
                },
            }
        )
    return found


def _stage_people(stage: str, actor_ids: set[int]) -> set[int]:
    """Who works `stage`: the people who completed it, and its owner team's members."""
    people = {a for a in actor_ids if a is not None}
    setting = StageSetting.objects.filter(stage=stage).values("owner_group_id").first()
    if setting and setting["owner_group_id"]:
        people |= set(
            get_user_model()
            .objects.filter(groups=setting["owner_group_id"], is_active=True)
            .values_list("pk", flat=True)
        )
    return people


def _longest_gap(visits: list[tuple], start: datetime, end: datetime, *, min_waiting: int):
    """The longest stretch in [start, end] without a manual exit while at least
    `min_waiting` orders waited throughout: (from, until, waiting) or None."""
    exits = sorted(
        left
        for entered, left, _actor in visits
        if left is not None and left > entered
        if start <= left <= end
    )
    marks = [start, *exits, end]
    best = None
    for before, after in pairwise(marks):
        if best is not None and after - before <= best[1] - best[0]:
            continue
        waiting = sum(
            1
            for entered, left, _actor in visits
            if entered <= before and (left is None or left >= after)
        )
        if waiting >= min_waiting:
            best = (before, after, waiting)
    return best


def no_exit_suggestions(*, start: datetime, end: datetime) -> list[dict]:
    found = []
    for stage in NO_EXIT_STAGES:
        visits = list(
            StageVisit.objects.filter(
                stage=stage, entered_at__gte=start - NO_EXIT_LOOKBACK, entered_at__lt=end
            )
            .filter(Q(left_at=None) | Q(left_at__gte=start))
            .values_list("entered_at", "left_at", "actor_id")
        )
        gap = _longest_gap(visits, start, end, min_waiting=NO_EXIT_MIN_WAITING)
        if gap is None:
            continue
        gap_from, gap_until, waiting = gap
        gap_minutes = minutes((gap_until - gap_from).total_seconds())
        if gap_minutes < NO_EXIT_MINUTES:
            continue
        people = _stage_people(stage, {v[2] for v in visits})
        active = set(
            AuditEvent.objects.filter(
                actor_id__in=people, at__gte=gap_from, at__lt=gap_until
            ).values_list("actor_id", flat=True)
        ) | set(
            StaffActivity.objects.filter(
                user_id__in=people, at__gte=gap_from, at__lt=gap_until
            ).values_list("user_id", flat=True)
        )
        if not active:
            continue
        found.append(
            {
                "code": "no_exits",
                "minutes": r1(gap_minutes),
                "params": {
                    "stage": stage,
                    "gap_min": r1(gap_minutes),
                    "from": gap_from.isoformat(),
                    "until": gap_until.isoformat(),
                    "waiting": waiting,
                    "active_people": len(active),
                },
            }
        )
    return found


def exception_sla_suggestions(*, start: datetime, end: datetime, now: datetime) -> list[dict]:
    cases = (
        ExceptionCase.objects.filter(opened_at__gte=start, opened_at__lt=end)
        .select_related("type", "team")
        .order_by("type_id", "id")
    )
    by_type: dict[int, list[ExceptionCase]] = {}
    for case in cases:
        by_type.setdefault(case.type_id, []).append(case)
    found = []
    for type_cases in by_type.values():
        kind = type_cases[0].type
        if len(type_cases) < EXCEPTION_MIN_CASES or not kind.sla_minutes:
            continue
        taken = [minutes(((c.closed_at or now) - c.opened_at).total_seconds()) for c in type_cases]
        over = sum(1 for c in type_cases if (c.closed_at or now) > c.sla_due_at)
        median = statistics.median(taken)
        ratio = median / kind.sla_minutes
        if ratio < EXCEPTION_SLA_RATIO:
            continue
        found.append(
            {
                "code": "exception_sla",
                "minutes": r1(median - kind.sla_minutes),
                "params": {
                    "type": kind.code,
                    "name_zh": kind.name_zh,
                    "name_en": kind.name_en,
                    "tag_zh": kind.tag_zh,
                    "tag_en": kind.tag_en,
                    "team": type_cases[0].team.name,
                    "cases": len(type_cases),
                    "over_sla": over,
                    "median_taken_min": r1(median),
                    "sla_min": kind.sla_minutes,
                    "ratio": r1(ratio),
                },
            }
        )
    return found


def breaker_suggestions(*, start: datetime, end: datetime, now: datetime) -> list[dict]:
    openings = breaker_openings(start, end, now)
    stages = sorted({o["stage"] for o in openings})
    found = []
    settings_by_stage = {s.stage: s for s in StageSetting.objects.filter(stage__in=stages)}
    for stage in stages:
        mine = [o for o in openings if o["stage"] == stage]
        in_window = sum(1 for o in mine if start <= o["tripped_at"] < end)
        week = BreakerEvent.objects.filter(
            stage=stage,
            kind=BreakerEvent.Kind.TRIP,
            at__gte=end - timedelta(days=7),
            at__lt=end,
        ).count()
        if in_window < BREAKER_MIN_TRIPS and week < BREAKER_MIN_TRIPS_WEEK:
            continue
        open_minutes = sum(
            minutes((min(o["reset_at"] or now, end) - max(o["tripped_at"], start)).total_seconds())
            for o in mine
        )
        setting = settings_by_stage.get(stage)
        found.append(
            {
                "code": "breaker",
                "minutes": r1(open_minutes),
                "params": {
                    "stage": stage,
                    "trips": in_window,
                    "trips_week": week,
                    "open_min": r1(open_minutes),
                    "threshold": mine[0]["threshold"],
                    "wip_limit": setting.wip_limit if setting else None,
                },
            }
        )
    return found
