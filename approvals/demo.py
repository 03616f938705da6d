"""Demo data of the approvals app: the source's routing rules and the bypass switches."""

from __future__ import annotations

from approvals.models import BypassSwitch, RoutingRule, RuleTarget, SwitchKind
from approvals.services.rules import rule_save

FINANCE_RULE = {
    "all": [
        {"fact": "amount", "op": "<", "value": 5000},
        {"fact": "credit_rating", "op": "=", "value": "good"},
    ]
}
# Simple orders: a few items at list price, no limited coupon, not a presale.
SALES_RULE = {
    "all": [
        {"fact": "item_count", "op": "<=", "value": 3},
        {"fact": "price_deviation_pct", "op": "<=", "value": 0},
        {"fact": "coupon_type", "op": "!=", "value": "limited"},
        {"fact": "presale", "op": "=", "value": False},
        {"fact": "credit_rating", "op": "in", "value": ["good", "fair"]},
    ]
}


def approvals_demo_seed(*, now=None) -> None:
    """Create the demo rules (enabled) and the three switches (off), if missing."""
    for kind in SwitchKind.values:
        BypassSwitch.objects.get_or_create(kind=kind)
    if RoutingRule.objects.exists():
        return
    rule_save(
        RoutingRule(
            name="金额<5000且信用良好免财务审核 / Amount < 5,000, good credit: skip finance",
            target=RuleTarget.FINANCE_REVIEW,
            condition=FINANCE_RULE,
            priority=10,
            enabled=True,
            description="The source's rule: safe orders go straight to the warehouse.",
        ),
        reason=DEMO_REASON,
    )
    rule_save(
        RoutingRule(
            name="简单订单免销售确认 / Simple orders skip sales review",
            target=RuleTarget.SALES_REVIEW,
            condition=SALES_RULE,
            priority=10,
            enabled=True,
            description="Up to 3 items at list price, no limited coupon, not a presale.",
        ),
        reason=DEMO_REASON,
    )


DEMO_REASON = "demo data"


def approvals_demo_reset() -> None:
    """Remove the demo's own rules (those created by the demo and never edited since)."""
    from django.contrib.contenttypes.models import ContentType

    from backoffice.audit.models import AuditEvent

    demo_rules = RoutingRule.objects.filter(version=1, versions__change_reason=DEMO_REASON)
    AuditEvent.objects.filter(
        subject_type=ContentType.objects.get_for_model(RoutingRule),
        subject_id__in=[str(pk) for pk in demo_rules.values_list("pk", flat=True)],
    ).delete()
    demo_rules.delete()
