"""The approvals app's router, registered into `orders.routing` in `ready()`.

- auto_pass: the first enabled routing rule for the stage whose condition holds;
- waive_check("coupon"): a coupon-check rule, else the system coupon check bypass;
- waive_check("qc_photo"): the urgent-dispatch bypass (asked only for urgent dispatch);
- completion_blockers / hold_back: a pending price change keeps sales review open.
"""

from __future__ import annotations

from orders.routing import StageDecision, StageRouter
from orders.states import OrderStatus


class ApprovalsRouter(StageRouter):
    priority = 50

    def hold_back(self, order, stage):
        from approvals.services.prices import price_change_blockers

        if stage == OrderStatus.SALES_REVIEW:
            blockers = price_change_blockers(order, stage)
            return blockers[0] if blockers else None
        return None

    def auto_pass(self, order, stage) -> StageDecision | None:
        from approvals.services.rules import rule_decision

        if stage in (OrderStatus.SALES_REVIEW, OrderStatus.FINANCE_REVIEW):
            return rule_decision(order, stage)
        return None

    def completion_blockers(self, order, stage):
        from approvals.services.prices import price_change_blockers

        return price_change_blockers(order, stage)

    def waive_check(self, order, check) -> StageDecision | None:
        from approvals.services.rules import rule_decision
        from approvals.services.switches import bypass_waiver

        if check == "coupon":
            decision = rule_decision(order, "coupon_check")
            if decision is not None:
                return decision
        return bypass_waiver(order, check)
