"""The router: what happens when an order enters a stage, and what may block leaving it.

`orders` owns the lifecycle but not the business rules that shortcut it. Other apps
(approvals' routing rules and bypass switches, exceptions' holds, the evaluation
card) subclass `StageRouter` and register an instance in their `AppConfig.ready()`,
so `orders` never imports them (DESIGN.md: apps depend downward).

By default nothing is shortcut: every review stage waits for a person, except
`received`, which the system leaves as soon as intake is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orders.states import OrderStatus, Via

if TYPE_CHECKING:
    from orders.models import Order


@dataclass(frozen=True)
class StageDecision:
    """A router's permission to pass a stage (or satisfy a check) without a person."""

    via: str  # one of Via: rule, bypass, auth_code, system
    reason: str
    # Facts to keep on the timeline row, e.g. {"rule_id": 3, "rule_version": 2}.
    detail: dict[str, Any] = field(default_factory=dict)
    # Called inside the transaction once the decision has been applied to the order
    # (e.g. a bypass counts its use and leaves an obligation): on_applied(order, now).
    on_applied: Callable[[Order, Any], None] | None = field(default=None, compare=False)

    def applied(self, order: Order, now) -> None:
        if self.on_applied is not None:
            self.on_applied(order, now)


def is_being_created(order: Order) -> bool:
    """True while intake routes an order it has just inserted: nothing can refer to it
    yet (no price change, no exception case), so routers may skip looking for them."""
    return bool(order.__dict__.get("_routing_at_intake"))


class StageRouter:
    """Base class of routers; override only what you decide."""

    #: lower runs first; the first router to decide wins.
    priority: int = 100

    def hold_back(self, order: Order, stage: str) -> str | None:
        """A reason to keep `order` in `stage` for a person (vetoes any auto-pass)."""
        return None

    def auto_pass(self, order: Order, stage: str) -> StageDecision | None:
        """A decision to pass `stage` automatically as soon as the order enters it."""
        return None

    def completion_blockers(self, order: Order, stage: str) -> list[str]:
        """Reasons the stage cannot be completed yet (e.g. a pending price change)."""
        return []

    def waive_check(self, order: Order, check: str) -> StageDecision | None:
        """Satisfy a check inside a stage without a person (e.g. coupon, qc_photo).

        `coupon` is asked when sales review would complete; `qc_photo` only when a
        person asks for an urgent dispatch without the photo.
        """
        return None


class _IntakeRouter(StageRouter):
    """`received` is a system stage: leave it as soon as the order exists and its
    evaluation card is in (or its fetch budget has passed)."""

    priority = 1000

    def auto_pass(self, order, stage):
        from orders.services.evaluation import order_card_ready

        if stage == OrderStatus.RECEIVED and order_card_ready(order):
            return StageDecision(via=Via.SYSTEM, reason="intake complete")
        return None


_routers: list[StageRouter] = [_IntakeRouter()]


def register_router(router: StageRouter) -> None:
    """Add a router (idempotent per class: re-registering replaces the instance)."""
    _routers[:] = [r for r in _routers if type(r) is not type(router)]
    _routers.append(router)
    _routers.sort(key=lambda r: r.priority)


def unregister_router(router_class: type[StageRouter]) -> None:
    _routers[:] = [r for r in _routers if type(r) is not router_class]


def registered_routers() -> list[StageRouter]:
    return list(_routers)


def decide_auto_pass(order: Order, stage: str) -> StageDecision | None:
    """Ask the routers whether `order` may pass `stage` now. A hold-back wins."""
    for router in _routers:
        if router.hold_back(order, stage):
            return None
    for router in _routers:
        decision = router.auto_pass(order, stage)
        if decision is not None:
            return decision
    return None


def hold_back_reason(order: Order, stage: str) -> str | None:
    for router in _routers:
        reason = router.hold_back(order, stage)
        if reason:
            return reason
    return None


def completion_blockers(order: Order, stage: str) -> list[str]:
    reasons: list[str] = []
    for router in _routers:
        reasons.extend(router.completion_blockers(order, stage))
    return reasons


def decide_waiver(order: Order, check: str) -> StageDecision | None:
    for router in _routers:
        decision = router.waive_check(order, check)
        if decision is not None:
            return decision
    return None
