"""Emergency bypass switches (BRIEF.md, step 2) and the obligations they leave behind.

A supervisor switches a bypass on for a limited time with a reason (and optionally a
scope: only orders meeting a condition). While it is on, the router asks
`bypass_waiver()` to satisfy a check without a person; each use is a `BypassUse` row
and an audit event on the order, and an urgent dispatch leaves an `Obligation` (the
QC photo is owed within the switch's `obligation_hours`). A window past its expiry
never applies, even before the every-minute schedule (`bypasses_expire`) closes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import BooleanField, Case, F, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import events
from approvals.conditions import condition_compile, condition_errors
from approvals.models import BypassSwitch, BypassUse, BypassWindow, Obligation, SwitchKind
from approvals.models.switches import MAX_DURATION
from approvals.services.rules import cached_order_facts
from backoffice.audit.services import audit_actor, audit_record
from backoffice.notifications.models import Notification
from backoffice.notifications.services import notify
from orders import teams
from orders.routing import StageDecision
from orders.services.errors import ActionForbidden, InvalidOrderInput
from orders.states import Via

OPERATE_PERMISSION = "approvals.operate_bypassswitch"
URGENT_DISPATCH_MAX_ITEMS = 3

_CHECK_SWITCH = {"coupon": SwitchKind.COUPON_CHECK, "qc_photo": SwitchKind.URGENT_DISPATCH}


def _fmt(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _switches_link() -> str:
    return reverse("admin:approvals_bypassswitch_changelist")


# --- Switching on and off ---------------------------------------------------------


def _hours_checked(hours) -> Decimal:
    try:
        value = Decimal(str(hours))
    except ArithmeticError:
        value = Decimal("NaN")
    limit = Decimal(int(MAX_DURATION.total_seconds() // 3600))
    if not value.is_finite() or value <= 0 or value > limit:
        raise InvalidOrderInput(
            _("A bypass is switched on for more than 0 and at most %(max)s hours.") % {"max": limit}
        )
    return value


def _locked_switches():
    # Lock the switch row only: PostgreSQL refuses FOR UPDATE on the nullable side of
    # the outer join to the current window.
    return BypassSwitch.objects.select_for_update(of=("self",)).select_related("current_window")


def _tell_supervisors(subject: str, text: str, level=Notification.Level.INFO) -> None:
    supervisors = (
        get_user_model().objects.filter(is_active=True, groups__name=teams.SUPERVISORS).distinct()
    )
    notify(recipients=supervisors, subject=subject, text=text, link=_switches_link(), level=level)


def _end(window: BypassWindow, *, now: datetime, by=None, reason: str = "", tell=True) -> bool:
    """Close `window`: switched off by `by`, or expired once past its expiry (then it
    ended at its expiry, by nobody). Clears the switch, audits, tells the supervisors.
    False when it was closed already (a concurrent run, or a person first)."""
    expired = not window.is_active(now)
    closed = {
        "closed_at": window.expires_at if expired else now,
        "closed_how": BypassWindow.Closed.EXPIRED if expired else BypassWindow.Closed.MANUAL,
        "closed_by": None if expired else by,
        "close_reason": "" if expired else reason[:300],
    }
    if not BypassWindow.objects.filter(pk=window.pk, closed_at=None).update(**closed):
        return False
    for name, value in closed.items():
        setattr(window, name, value)
    BypassSwitch.objects.filter(pk=window.switch_id, current_window=window.pk).update(
        current_window=None
    )
    audit_record(
        verb=events.BYPASS_EXPIRED if expired else events.BYPASS_OFF,
        actor=closed["closed_by"],
        subject=window.switch,
        reason=closed["close_reason"],
        at=now,
        payload={
            "kind": window.kind,
            "window_id": window.pk,
            "expires_at": window.expires_at,
            "uses": window.uses,
        },
    )
    if tell:
        values = {"kind": window.get_kind_display(), "uses": window.uses, "reason": reason}
        if expired:
            subject = _("Emergency bypass expired: %(kind)s") % values
            text = _("It ended at %(at)s after %(uses)s uses.") % {
                **values,
                "at": _fmt(window.expires_at),
            }
        else:
            subject = _("Emergency bypass off: %(kind)s") % values
            text = _("Switched off by %(who)s after %(uses)s uses: %(reason)s") % {
                **values,
                "who": by.get_username() if by else "–",
            }
        _tell_supervisors(subject, text)
    return True


def bypass_switch_on(
    kind: str,
    *,
    by,
    reason: str,
    hours: float | int | Decimal = 4,
    scope: dict | None = None,
    now: datetime | None = None,
) -> BypassWindow:
    """Switch the bypass `kind` on for `hours` (at most 24), for orders meeting `scope`
    (empty: all orders). Switching on a switch already on replaces its window (the old
    one is closed as switched off, reason "replaced")."""
    if by is None or not by.has_perm(OPERATE_PERMISSION):
        raise ActionForbidden()
    if kind not in SwitchKind.values:
        raise InvalidOrderInput(_("Unknown bypass “%(kind)s”.") % {"kind": kind})
    reason = (reason or "").strip()
    if not reason:
        raise InvalidOrderInput(_("A reason is required to switch a bypass on."))
    duration = timedelta(hours=float(_hours_checked(hours)))
    scope = scope or {}
    problems = condition_errors(scope, allow_empty=True)
    if problems:
        raise InvalidOrderInput(_("The scope is not a valid condition."), reasons=problems)
    now = now or timezone.now()
    with transaction.atomic():
        switch, _created = _locked_switches().get_or_create(kind=kind)
        replaced = switch.current_window
        if replaced is not None:
            replaced.switch = switch
            _end(replaced, now=now, by=by, reason="replaced", tell=False)
        window = BypassWindow.objects.create(
            switch=switch,
            kind=kind,
            reason=reason[:300],
            scope=scope,
            opened_at=now,
            opened_by=by,
            expires_at=now + duration,
        )
        switch.current_window = window
        switch.save(update_fields=["current_window"])
        audit_record(
            verb=events.BYPASS_ON,
            actor=by,
            subject=switch,
            reason=window.reason,
            at=now,
            payload={
                "kind": kind,
                "window_id": window.pk,
                "expires_at": window.expires_at,
                "hours": str(duration.total_seconds() / 3600),
                "scope": scope,
                "replaced_window_id": replaced.pk if replaced else None,
            },
        )
        _tell_supervisors(
            _("Emergency bypass on: %(kind)s") % {"kind": switch.get_kind_display()},
            _("Switched on by %(who)s until %(until)s: %(reason)s")
            % {"who": by.get_username(), "until": _fmt(window.expires_at), "reason": reason},
            level=Notification.Level.WARNING,
        )
    return window


def bypass_switch_off(kind: str, *, by, reason: str) -> BypassWindow:
    """Switch the bypass `kind` off now. Refused when it is not on; a window that ran
    out before the schedule closed it is closed as expired (see `closed_how`)."""
    if by is None or not by.has_perm(OPERATE_PERMISSION):
        raise ActionForbidden()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidOrderInput(_("A reason is required to switch a bypass off."))
    with transaction.atomic():
        switch = _locked_switches().filter(kind=kind).first()
        window = switch.current_window if switch else None
        if window is None or window.closed_at is not None:
            raise InvalidOrderInput(_("This bypass is not on."))
        window.switch = switch
        _end(window, now=timezone.now(), by=by, reason=reason)
    return window


def bypasses_expire(now: datetime | None = None) -> int:
    """Close every window past its expiry (idempotent: each is closed and audited once),
    then announce obligations that fell overdue. Returns how many windows closed."""
    now = now or timezone.now()
    closed = 0
    due = BypassWindow.objects.filter(closed_at=None, expires_at__lte=now).select_related("switch")
    for window in due.order_by("expires_at")[:500]:
        with transaction.atomic():
            closed += _end(window, now=now)
    obligations_overdue_notify(now=now)
    return closed


# --- Deciding ----------------------------------------------------------------------


def bypass_active_window(kind: str, now: datetime | None = None) -> BypassWindow | None:
    """The switch's window if it is on now (one query). Expired windows never apply."""
    switch = BypassSwitch.objects.select_related("current_window").filter(kind=kind).first()
    window = switch.current_window if switch else None
    if window is None or not window.is_active(now or timezone.now()):
        return None
    window.switch = switch  # no second query for the switch's settings
    return window


def _scope_holds(window: BypassWindow, order) -> bool:
    if not window.scope:
        return True
    try:
        test = condition_compile(window.scope, allow_empty=True)
    except ValueError:
        return False  # a scope written around the service never lets anything through
    return test(cached_order_facts(order))


def bypass_waiver(order, check: str) -> StageDecision | None:
    """A StageDecision satisfying `check` ("coupon" or "qc_photo") through an active bypass.

    Asked at every sales review completion: with the switch off it costs one query
    (none for an order without a coupon).
    """
    kind = _CHECK_SWITCH.get(check)
    if kind is None or (check == "coupon" and order.coupon_id is None):
        return None
    window = bypass_active_window(kind)
    if window is None:
        return None
    if check == "coupon":
        coupon = order.coupon
        if coupon.is_limited_quantity:
            return None  # limited-quantity coupons are always checked by staff
        if coupon.eligibility_problems(customer=order.customer, at=order.placed_at):
            return None
        if not _scope_holds(window, order):
            return None
        reason = _("System coupon check (emergency bypass): campaign period and eligibility met")
    else:
        facts = cached_order_facts(order)  # returning customer, item count: one query
        if not facts.get("returning_customer"):
            return None
        if (facts.get("item_count") or 0) > URGENT_DISPATCH_MAX_ITEMS:
            return None
        if not _scope_holds(window, order):
            return None
        reason = _("Urgent dispatch (emergency bypass): QC photo owed within %(hours)s h") % {
            "hours": window.switch.obligation_hours
        }
    detail = {"bypass": kind, "window_id": window.pk}

    def on_applied(applied_order, now) -> None:
        _bypass_use_record(window, applied_order, now=now, detail=detail)

    return StageDecision(via=Via.BYPASS, reason=reason, detail=detail, on_applied=on_applied)


def _bypass_use_record(window: BypassWindow, order, *, now: datetime, detail: dict) -> BypassUse:
    """Count the use, tie it to the order, and leave the obligation it creates."""
    use = BypassUse.objects.create(
        window=window, kind=window.kind, order=order, at=now, by=None, detail=detail
    )
    BypassWindow.objects.filter(pk=window.pk).update(uses=F("uses") + 1)
    obligation = None
    if window.kind == SwitchKind.URGENT_DISPATCH:
        obligation = Obligation.objects.create(
            kind=Obligation.Kind.QC_PHOTO,
            order=order,
            use=use,
            created_at=now,
            due_at=now + timedelta(hours=window.switch.obligation_hours),
        )
    audit_record(
        verb=events.BYPASS_USED,
        actor=None,
        actor_label=Via.BYPASS,
        subject=order,
        reason=window.reason,
        at=now,
        payload={
            "via": Via.BYPASS,
            "kind": window.kind,
            "window_id": window.pk,
            "use_id": use.pk,
            **({"obligation_due_at": obligation.due_at} if obligation else {}),
        },
    )
    return use


# --- Obligations --------------------------------------------------------------------


def obligations_open(now: datetime | None = None) -> QuerySet[Obligation]:
    """What is still owed, soonest due first, with `overdue` (due time passed)."""
    now = now or timezone.now()
    return (
        Obligation.objects.filter(fulfilled_at=None)
        .select_related("order", "use")
        .annotate(
            overdue=Case(
                When(due_at__lte=now, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("due_at", "pk")
    )


def obligations_fulfil(order, *, kind: str, by=None) -> int:
    """Mark the order's open obligations of `kind` fulfilled (e.g. the QC photo arrived
    after an urgent dispatch). Returns how many."""
    now = timezone.now()
    actor = audit_actor(by)
    with transaction.atomic():
        owed = list(
            Obligation.objects.select_for_update().filter(
                order_id=order.pk, kind=kind, fulfilled_at=None
            )
        )
        if not owed:
            return 0
        Obligation.objects.filter(pk__in=[o.pk for o in owed]).update(
            fulfilled_at=now, fulfilled_by=actor
        )
        for obligation in owed:
            audit_record(
                verb=events.OBLIGATION_FULFILLED,
                actor=actor,
                subject=order,
                at=now,
                payload={
                    "kind": kind,
                    "obligation_id": obligation.pk,
                    "due_at": obligation.due_at,
                    "late": obligation.due_at <= now,
                },
            )
    return len(owed)


def obligations_overdue_notify(now: datetime | None = None) -> int:
    """Tell the QC team and the supervisors, once, about obligations that fell overdue.
    Returns how many were announced. Each obligation is marked as told in the same
    transaction (rows locked with SKIP LOCKED on PostgreSQL), so two runs at once never
    announce one twice."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Obligation.objects.filter(
            fulfilled_at=None, overdue_notified_at=None, due_at__lte=now
        ).order_by("due_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        fell_due = list(due.select_related("order")[:200])
        if not fell_due:
            return 0
        Obligation.objects.filter(pk__in=[o.pk for o in fell_due]).update(overdue_notified_at=now)
        _overdue_announce(fell_due)
    return len(fell_due)


def _overdue_announce(fell_due: list[Obligation]) -> None:
    numbers = ", ".join(o.order.number for o in fell_due[:20])
    notify(
        recipients=get_user_model()
        .objects.filter(is_active=True, groups__name__in=[teams.QUALITY, teams.SUPERVISORS])
        .distinct(),
        subject=_("QC photos overdue after urgent dispatch: %(count)s") % {"count": len(fell_due)},
        text=_("Upload the photos now: %(orders)s") % {"orders": numbers},
        link=reverse("admin:approvals_obligation_changelist"),
        level=Notification.Level.WARNING,
        event="approvals.obligation_overdue",
    )
