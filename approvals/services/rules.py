"""Routing rules: saving with version history, deciding at routing time, dry runs."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals import events
from approvals.conditions import Predicate, condition_compile, condition_errors
from approvals.facts import facts_for_orders, order_facts
from approvals.models import RoutingRule, RoutingRuleVersion, RuleTarget
from backoffice.audit.services import audit_actor, audit_record
from orders.models import Order, StageVisit
from orders.routing import StageDecision
from orders.services.errors import OrderActionError
from orders.states import OrderStatus, Via

VERSIONED_FIELDS = (
    "name",
    "target",
    "condition",
    "priority",
    "enabled",
    "effective_from",
    "effective_until",
)
AUTO_VIAS = (Via.RULE, Via.BYPASS, Via.SYSTEM)


# --- Saving ------------------------------------------------------------------------


def rule_clean(rule: RoutingRule) -> None:
    """Validation on save: a condition tree of known facts and operators, a sane window."""
    errors: dict[str, list[str]] = {}
    problems = condition_errors(rule.condition)
    if problems:
        errors["condition"] = problems
    if rule.effective_from and rule.effective_until and rule.effective_until <= rule.effective_from:
        errors["effective_until"] = [str(_("The end of the window must be after its start."))]
    if errors:
        raise ValidationError(errors)


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in VERSIONED_FIELDS}


@transaction.atomic
def rule_save(rule: RoutingRule, *, by=None, reason: str = "") -> RoutingRule:
    """Create or change a rule: validated, versioned (a new version row per change), audited.

    History is never rewritten: orders passed by an earlier version keep that
    version's number on their timeline, and the version row keeps its text.
    """
    rule_clean(rule)
    now = timezone.now()
    actor = audit_actor(by)
    creating = rule.pk is None
    if creating:
        rule.version = 1
        rule.created_at = now
        changes = {k: [None, v] for k, v in _snapshot(rule).items()}
    else:
        before = RoutingRule.objects.select_for_update().get(pk=rule.pk)
        changes = {
            k: [getattr(before, k), v]
            for k, v in _snapshot(rule).items()
            if getattr(before, k) != v
        }
        if not changes:
            return rule
        rule.version = before.version + 1
    rule.updated_at = now
    rule.updated_by = actor
    rule.save()
    RoutingRuleVersion.objects.create(
        rule=rule,
        version=rule.version,
        changed_at=now,
        changed_by=actor,
        change_reason=reason[:300],
        **_snapshot(rule),
    )
    audit_record(
        verb=events.RULE_CREATED if creating else events.RULE_CHANGED,
        actor=actor,
        subject=rule,
        reason=reason,
        at=now,
        payload={"version": rule.version, "changes": changes},
    )
    rules_cache_clear()
    transaction.on_commit(rules_cache_clear)
    return rule


# --- Deciding ----------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    version: int
    target: str
    priority: int
    effective_from: datetime | None
    effective_until: datetime | None
    test: Predicate

    def effective(self, at: datetime) -> bool:
        return (self.effective_from is None or self.effective_from <= at) and (
            self.effective_until is None or at < self.effective_until
        )


_cache: dict[str, Any] = {"loaded": None, "rules": {}}


def rules_cache_clear() -> None:
    _cache["loaded"] = None


def _compiled_rules() -> dict[str, list[CompiledRule]]:
    """Enabled rules per target, compiled, in priority order.

    Cached per process for APPROVALS_RULE_CACHE_SECONDS (a change made in another
    process applies within that time; the admin's own process at once).
    """
    ttl = getattr(settings, "APPROVALS_RULE_CACHE_SECONDS", 5)
    loaded = _cache["loaded"]
    if loaded is not None and time.monotonic() - loaded < ttl:
        return _cache["rules"]
    by_target: dict[str, list[CompiledRule]] = {}
    for rule in RoutingRule.objects.filter(enabled=True).order_by("priority", "id"):
        try:
            test = condition_compile(rule.condition)
        except ValueError:
            continue  # an invalid tree (written around the service) never passes anything
        by_target.setdefault(rule.target, []).append(
            CompiledRule(
                id=rule.pk,
                name=rule.name,
                version=rule.version,
                target=rule.target,
                priority=rule.priority,
                effective_from=rule.effective_from,
                effective_until=rule.effective_until,
                test=test,
            )
        )
    _cache["rules"], _cache["loaded"] = by_target, time.monotonic()
    return by_target


def cached_order_facts(order: Order) -> dict[str, Any]:
    """The order's facts, read once per routing pass (keyed by what changes them)."""
    key = (order.pk, order.version, order.total_amount, order.coupon_id, order.customer_id)
    cached = order.__dict__.get("_approval_facts")
    if cached is not None and cached[0] == key:
        return cached[1]
    facts = order_facts(order)
    order.__dict__["_approval_facts"] = (key, facts)
    return facts


def first_matching_rule(
    rules: list[CompiledRule], facts: dict[str, Any], at: datetime
) -> CompiledRule | None:
    for rule in rules:
        if rule.effective(at) and rule.test(facts):
            return rule
    return None


def rule_decision(order: Order, target: str, *, at: datetime | None = None) -> StageDecision | None:
    """The first enabled, effective rule for `target` whose condition the order meets."""
    rules = _compiled_rules().get(target)
    if not rules:
        return None
    rule = first_matching_rule(rules, cached_order_facts(order), at or timezone.now())
    if rule is None:
        return None
    return StageDecision(
        via=Via.RULE,
        reason=str(_("Routing rule “%(name)s” (v%(version)s)"))
        % {"name": rule.name, "version": rule.version},
        detail={"rule_id": rule.id, "rule_version": rule.version, "rule_name": rule.name},
    )


# --- Dry run -----------------------------------------------------------------------


def target_stage(target: str) -> str:
    """The stage whose visits a rule for `target` acts on."""
    return OrderStatus.SALES_REVIEW if target == RuleTarget.COUPON_CHECK else target


@dataclass
class DryRunResult:
    target: str
    stage: str
    days: int
    since: datetime
    visits: int = 0
    matched: int = 0
    already_auto: int = 0
    waiting_now: int = 0
    waiting_matched: int = 0
    manual_matched: int = 0
    saved_seconds_total: float = 0.0
    saved_seconds_median: float | None = None
    examples: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def share(self) -> float:
        return self.matched / self.visits if self.visits else 0.0

    @property
    def saved_hours_total(self) -> float:
        return self.saved_seconds_total / 3600

    @property
    def saved_minutes_median(self) -> float | None:
        if self.saved_seconds_median is None:
            return None
        return self.saved_seconds_median / 60


def rule_dry_run(
    *,
    target: str,
    condition: dict,
    days: int = 7,
    now: datetime | None = None,
    examples: int = 10,
) -> DryRunResult:
    """What a rule would have done to the orders that entered its stage in the last `days`.

    Every visit of the stage in the window is tested with the order's facts, the same
    facts routing reads. `matched` counts visits whose order meets the condition;
    the dwell it would have saved is the time those visits spent waiting for a person
    (visits already passed automatically saved nothing more). Orders still waiting
    are counted apart: applying the rule now would pass them (stage checks such as
    the credit limit still apply).
    """
    started = time.monotonic()
    test = condition_compile(condition)
    now = now or timezone.now()
    since = now - timedelta(days=days)
    stage = target_stage(target)
    result = DryRunResult(target=target, stage=stage, days=days, since=since)
    visits = StageVisit.objects.filter(stage=stage, entered_at__gte=since, entered_at__lt=now)
    orders = Order.objects.filter(Exists(visits.filter(order=OuterRef("pk"))))
    if target == RuleTarget.COUPON_CHECK:
        orders = orders.exclude(coupon=None)
    facts = facts_for_orders(orders)
    matched_dwell: list[float] = []
    # The dwell is computed by the database: parsing two timestamps per visit would
    # cost more than the whole query over tens of thousands of visits.
    rows = visits.annotate(
        dwell=ExpressionWrapper(F("left_at") - F("entered_at"), output_field=DurationField())
    ).values_list("pk", "order_id", "via", "dwell")
    for visit_id, order_id, via, dwell in rows.iterator(5000):
        order_facts_ = facts.get(order_id)
        if order_facts_ is None:
            continue
        result.visits += 1
        is_open = dwell is None
        automatic = not is_open and via in AUTO_VIAS
        if automatic:
            result.already_auto += 1
        if is_open:
            result.waiting_now += 1
        if not test(order_facts_):
            continue
        result.matched += 1
        if is_open:
            result.waiting_matched += 1
        elif not automatic:
            result.manual_matched += 1
            matched_dwell.append(dwell.total_seconds())
        if len(result.examples) < examples:
            result.examples.append(
                {
                    "visit_id": visit_id,
                    "order_id": order_id,
                    "dwell_seconds": None if is_open else dwell.total_seconds(),
                    "via": via,
                    "facts": order_facts_,
                }
            )
    if target != RuleTarget.COUPON_CHECK and matched_dwell:
        result.saved_seconds_total = sum(matched_dwell)
        result.saved_seconds_median = statistics.median(matched_dwell)
    if result.examples:
        numbers = dict(
            Order.objects.filter(pk__in=[e["order_id"] for e in result.examples]).values_list(
                "pk", "number"
            )
        )
        entered = dict(
            StageVisit.objects.filter(pk__in=[e["visit_id"] for e in result.examples]).values_list(
                "pk", "entered_at"
            )
        )
        for example in result.examples:
            example["number"] = numbers.get(example["order_id"], "")
            example["entered_at"] = entered.get(example["visit_id"])
    result.seconds = time.monotonic() - started
    return result


# --- Applying to the orders already waiting -------------------------------------


def rule_apply_to_waiting(rule: RoutingRule, *, by=None, limit: int = 500) -> int:
    """Route the unclaimed orders waiting in the rule's stage again (e.g. right after
    enabling a rule during a backlog). Returns how many left the stage."""
    from orders.services.lifecycle import order_lock, order_route_forward

    stage = target_stage(rule.target)
    rules_cache_clear()
    moved = 0
    waiting = list(
        Order.objects.filter(status=stage, claimed_by=None)
        .select_related("customer")
        .order_by("placed_at")[:limit]
    )
    for order in waiting:
        try:
            with transaction.atomic():
                order_lock(order)
                order_route_forward(order)
        except OrderActionError:
            order.refresh_from_db()
            continue
        if order.status != stage:
            moved += 1
    actor = audit_actor(by)
    audit_record(
        verb=events.RULE_APPLIED_TO_WAITING,
        actor=actor,
        subject=rule,
        payload={"stage": stage, "waiting": len(waiting), "moved": moved},
    )
    return moved
