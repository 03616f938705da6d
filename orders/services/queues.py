"""Work queues per stage: claim next, release, pin, and claim expiry.

The claiming itself is `backoffice.claims` (generic, shared with the exception
pool); this module knows the orders' queue order, the stage limits (lowered while
the stage's breaker is open) and who may work which stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_record
from backoffice.claims import (
    ClaimLimits,
    ClaimRefused,
    claim_next,
    claim_release_counters,
    claims_reconcile,
)
from orders import events
from orders.models import STAGE_PERMISSIONS, BreakerState, Order, StageSetting
from orders.services.errors import ActionForbidden, TransitionRefused
from orders.signals import order_claimed
from orders.states import MAIN_LINE

# What a claim reads of the order it hands out (the caller reloads what else it needs).
_CLAIM_COLUMNS = ("id", "number", "status", "pinned", "lane", "placed_at", "stage_entered_at")
# Queue order of a stage (matches the partial index `order_queue`).
QUEUE_ORDER = ("-pinned", "lane", "placed_at")

__all__ = [
    "QUEUE_ORDER",
    "ClaimRefused",
    "order_claim",
    "order_claim_next",
    "order_claim_release",
    "order_pin",
    "orders_claims_expire",
    "orders_claims_reconcile",
    "queue_key",
    "stage_limits",
    "stage_settings",
]


def queue_key(stage: str) -> str:
    return f"orders:{stage}"


def stage_settings() -> dict[str, StageSetting]:
    """Every main-line stage's settings, creating missing rows with the defaults."""
    found = {s.stage: s for s in StageSetting.objects.select_related("calendar")}
    missing = [StageSetting(stage=stage) for stage in MAIN_LINE if stage not in found]
    if missing:
        StageSetting.objects.bulk_create(missing, ignore_conflicts=True)
        found = {s.stage: s for s in StageSetting.objects.select_related("calendar")}
    return found


def stage_limits(setting: StageSetting, *, breaker_open: bool) -> ClaimLimits:
    if breaker_open:
        return ClaimLimits(
            wip_limit=setting.reduced_wip_limit
            if setting.reduced_wip_limit is not None
            else setting.wip_limit,
            person_cap=setting.reduced_person_cap
            if setting.reduced_person_cap is not None
            else setting.person_cap,
        )
    return ClaimLimits(wip_limit=setting.wip_limit, person_cap=setting.person_cap)


_LIMITS_SQL = """
    SELECT s.wip_limit, s.person_cap, s.reduced_wip_limit, s.reduced_person_cap,
           COALESCE(b.state, 'closed')
    FROM orders_stagesetting s LEFT JOIN orders_stagebreaker b ON b.stage = s.stage
    WHERE s.stage = %s
"""


def _stage_limits_now(stage: str) -> ClaimLimits:
    """The stage's limits in force now (settings and breaker state), one small query
    run on every claim."""
    with connection.cursor() as cursor:
        cursor.execute(_LIMITS_SQL, [stage])
        row = cursor.fetchone()
    if row is None:
        return stage_limits(stage_settings()[stage], breaker_open=False)
    wip, cap, reduced_wip, reduced_cap, state = row
    if state == BreakerState.CLOSED:
        return ClaimLimits(wip_limit=wip, person_cap=cap)
    return ClaimLimits(
        wip_limit=reduced_wip if reduced_wip is not None else wip,
        person_cap=reduced_cap if reduced_cap is not None else cap,
    )


def _check_may_work(user, stage: str) -> None:
    if stage not in MAIN_LINE:
        raise TransitionRefused(_("Orders in this stage are not claimed."), code="not_claimable")
    if not user.has_perm(STAGE_PERMISSIONS[stage]):
        raise ActionForbidden()


def _claim_audited(user, stage: str, now: datetime):
    def record(order: Order) -> None:
        audit_record(
            verb=events.ORDER_CLAIMED,
            actor=user,
            subject=order,
            at=now,
            payload={"stage": stage, "pinned": order.pinned},
        )
        transaction.on_commit(
            lambda: order_claimed.send(sender=Order, order=order, user=user, stage=stage, at=now)
        )

    return record


def order_claim_next(*, stage: str, user, now: datetime | None = None) -> Order | None:
    """Give `user` the next order of `stage` (pinned, fast lane, oldest). None if empty.

    Raises ActionForbidden if the user may not work the stage, ClaimRefused at a limit.
    """
    _check_may_work(user, stage)
    now = now or timezone.now()
    return claim_next(
        Order.objects.filter(status=stage).order_by(*QUEUE_ORDER).only(*_CLAIM_COLUMNS),
        user=user,
        queue=queue_key(stage),
        limits=_stage_limits_now(stage),
        now=now,
        on_claimed=_claim_audited(user, stage, now),
    )


def order_claim(order: Order, *, user, now: datetime | None = None) -> Order:
    """Claim one given order (from its page), within the same limits."""
    _check_may_work(user, order.status)
    now = now or timezone.now()
    stage = order.status
    claimed = claim_next(
        Order.objects.filter(pk=order.pk, status=stage),
        user=user,
        queue=queue_key(stage),
        limits=_stage_limits_now(stage),
        now=now,
        on_claimed=_claim_audited(user, stage, now),
    )
    order.refresh_from_db()
    if claimed is None:
        raise TransitionRefused(
            _("This order is already claimed or has left the stage."), code="not_claimable"
        )
    return order


def _release(order_pk: int, *, stage: str, claimant_id: int) -> bool:
    cleared = Order.objects.filter(pk=order_pk, status=stage, claimed_by_id=claimant_id).update(
        claimed_by=None, claimed_at=None, claim_touched_at=None
    )
    if cleared:
        claim_release_counters(queue=queue_key(stage), user_id=claimant_id)
    return bool(cleared)


def order_claim_release(order: Order, *, by, reason: str = "") -> Order:
    """Give the order back to its stage's queue (its holder, or a supervisor)."""
    if order.claimed_by_id is None:
        raise TransitionRefused(_("This order is not claimed."), code="not_claimed")
    if order.claimed_by_id != by.pk and not by.has_perm("orders.release_order"):
        raise ActionForbidden()
    now = timezone.now()
    with transaction.atomic():
        claimant = order.claimed_by_id
        if not _release(order.pk, stage=order.status, claimant_id=claimant):
            raise TransitionRefused(_("The claim changed meanwhile: reload the page."))
        audit_record(
            verb=events.ORDER_CLAIM_RELEASED,
            actor=by,
            subject=order,
            reason=reason,
            at=now,
            payload={"stage": order.status, "claimed_by": claimant, "why": "released"},
        )
    order.refresh_from_db()
    return order


def order_claim_touch(order: Order, *, user) -> None:
    """The holder is active on the order: push back its idle expiry (one UPDATE)."""
    if order.claimed_by_id == user.pk:
        Order.objects.filter(pk=order.pk, claimed_by=user).update(claim_touched_at=timezone.now())


def order_pin(order: Order, *, by, pinned: bool, reason: str = "") -> Order:
    """Pin an order to the top of its stage's queue (or unpin it)."""
    if not by.has_perm("orders.release_order"):
        raise ActionForbidden()
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(pinned=pinned)
        order.pinned = pinned
        audit_record(
            verb=events.ORDER_PINNED,
            actor=by,
            subject=order,
            reason=reason,
            payload={"pinned": pinned, "stage": order.status},
        )
    return order


def orders_claims_expire(*, now: datetime | None = None) -> int:
    """Return idle claims to their queues (the schedule runs this every minute)."""
    now = now or timezone.now()
    expired = 0
    for stage, setting in stage_settings().items():
        cutoff = now - timedelta(minutes=setting.claim_idle_minutes)
        idle = Order.objects.filter(
            status=stage, claimed_by__isnull=False, claim_touched_at__lt=cutoff
        ).values_list("pk", "claimed_by_id", "number")[:500]
        for pk, claimant, number in idle:
            with transaction.atomic():
                if not _release(pk, stage=stage, claimant_id=claimant):
                    continue
                audit_record(
                    verb=events.ORDER_CLAIM_RELEASED,
                    actor=None,
                    subject=Order(pk=pk, number=number),
                    reason=str(_("Claim expired after %(minutes)s idle minutes."))
                    % {"minutes": setting.claim_idle_minutes},
                    at=now,
                    payload={"stage": stage, "claimed_by": claimant, "why": "expired"},
                )
                expired += 1
    return expired


def orders_claims_reconcile() -> dict[str, int]:
    """Rebuild every stage's WIP counters from the claimed orders (self-healing)."""
    changed: dict[str, int] = {}
    for stage in MAIN_LINE:
        changed.update(
            claims_reconcile(
                queue=queue_key(stage),
                claimed=Order.objects.filter(status=stage, claimed_by__isnull=False),
            )
        )
    return changed
