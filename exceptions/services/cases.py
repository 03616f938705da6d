"""Exception cases: open (idempotent per order and type), claim, assign, resolve, reject,
reopen; a blocking case holds the order and the last one to close releases it.

Every change is audited on the order (so it shows in the order's process audit) and
on the case.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from backoffice.audit.services import audit_actor, audit_record
from backoffice.claims import ClaimLimits, claim_next, claim_release_counters, person_key
from backoffice.claims import _raise as _claim_counter_raise
from exceptions import events
from exceptions.models import CaseSource, CaseStatus, ExceptionCase, ExceptionType
from exceptions.models.cases import OPEN_STATUSES
from orders.models import Order, StageVisit
from orders.services.errors import ActionForbidden, InvalidOrderInput, TransitionRefused
from orders.services.lifecycle import order_hold, order_release
from orders.states import MAIN_LINE, OrderStatus, Via

S = OrderStatus
SYSTEM_LABEL = "exceptions"


def queue_name(team_id: int) -> str:
    return f"exceptions:{team_id}"


def _audit(
    verb, case: ExceptionCase, *, by=None, reason: str = "", at=None, actor_label="", **payload
):
    at = at or timezone.now()
    payload = {
        "case": case.pk,
        "type": case.type.code,
        "tag": case.type.tag_zh,
        "status": case.status,
        **payload,
    }
    audit_record(
        verb=verb,
        actor=audit_actor(by),
        actor_label=actor_label or ("" if by else SYSTEM_LABEL),
        subject=case.order,
        reason=reason,
        payload=payload,
        at=at,
    )


def _fsm_step(locked: ExceptionCase, name: str, refusal) -> str:
    """Run the django-fsm-2 transition `name` on the locked row: the state machine says
    which moves exist (a refused one is a TransitionRefused). Returns the new status,
    written by the caller's UPDATE together with the other columns."""
    method = getattr(locked, name)
    if not can_proceed(method):
        raise TransitionRefused(refusal)
    method()
    return locked.status


def may_work(user, case: ExceptionCase) -> bool:
    """Members of the case's team work it; people who may assign cases work any."""
    if user.has_perm("exceptions.assign_exceptioncase"):
        return True
    if not user.has_perm("exceptions.work_exceptioncase"):
        return False
    return user.groups.filter(pk=case.team_id).exists()


def _require_worker(user, case: ExceptionCase) -> None:
    if user is not None and not may_work(user, case):
        raise ActionForbidden()


# --- Opening -----------------------------------------------------------------------


def case_open(
    order: Order,
    *,
    type: ExceptionType | str,
    source: str,
    description: str = "",
    payload: dict | None = None,
    by=None,
    actor_label: str = "",
    now=None,
) -> tuple[ExceptionCase, bool]:
    """Open a case of `type` on `order`, or return the one already open (created=False).

    A blocking type puts an order that is on the main line on hold, remembering its
    stage. Refused for a dispatched or cancelled order.
    """
    if isinstance(type, str):
        found = ExceptionType.objects.filter(code=type, is_active=True).first()
        if found is None:
            raise InvalidOrderInput(
                _("Unknown exception type “%(code)s”.") % {"code": type},
                code="unknown_exception_type",
            )
        type = found
    if source not in CaseSource.values:
        raise InvalidOrderInput(_("Unknown case source."))
    now = now or timezone.now()
    existing = ExceptionCase.objects.open().filter(order=order, type=type).first()
    if existing is not None:
        return existing, False
    if order.status not in (*MAIN_LINE, S.ON_HOLD):
        raise TransitionRefused(
            _("The order is already %(stage)s: no exception case can be opened.")
            % {"stage": order.get_status_display()},
            code="order_closed",
        )
    try:
        with transaction.atomic():
            case = ExceptionCase.objects.create(
                order=order,
                type=type,
                team_id=type.team_id,
                blocking=type.blocks_dispatch,
                source=source,
                description=description.strip()[:2000],
                payload=payload or {},
                opened_at=now,
                opened_by=audit_actor(by),
                sla_due_at=now + timedelta(minutes=type.sla_minutes),
            )
            _audit(
                events.CASE_OPENED,
                case,
                by=by,
                at=now,
                actor_label=actor_label,
                source=source,
                blocking=case.blocking,
                reason=description[:300],
            )
            if case.blocking:
                _hold_for(case, order, by=by)
    except IntegrityError:
        # Opened by someone else in the meantime: one case per order and type.
        existing = ExceptionCase.objects.open().filter(order=order, type=type).first()
        if existing is None:
            raise
        return existing, False
    _notify_team(case)
    return case, True


def _hold_for(case: ExceptionCase, order: Order, *, by=None) -> None:
    order.refresh_from_db()
    if order.status not in MAIN_LINE:
        return  # already on hold (by a person or another case): nothing to park
    order_hold(
        order,
        by=None,
        actor_label=SYSTEM_LABEL,
        via=Via.SYSTEM,
        reason=str(_("Exception case %(tag)s #%(id)s") % {"tag": case.type.tag, "id": case.pk}),
        detail={"exception_case": case.pk},
    )
    ExceptionCase.objects.filter(pk=case.pk).update(held_order=True)
    case.held_order = True


def _notify_team(case: ExceptionCase) -> None:
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from backoffice.notifications.services import notify

    members = list(get_user_model().objects.filter(groups=case.team_id, is_active=True)[:50])
    if not members:
        return
    notify(
        recipients=members,
        subject=_("New exception case %(tag)s on order %(number)s")
        % {"tag": case.type.tag, "number": case.order.number},
        text=case.description[:200],
        link=reverse("admin:exceptions_exceptioncase_change", args=[case.pk]),
        event="exception.opened",
    )


# --- Working ------------------------------------------------------------------------


def case_claim_next(*, user, team_id: int | None = None) -> ExceptionCase | None:
    """Hand the next open case of the user's teams (or of `team_id`) to `user`:
    blocking first, then the earliest due. Two people never get the same case."""
    if not user.has_perm("exceptions.work_exceptioncase"):
        raise ActionForbidden()
    teams = [team_id] if team_id else list(user.groups.values_list("pk", flat=True))
    if not teams:
        return None
    queryset = (
        ExceptionCase.objects.filter(status=CaseStatus.OPEN, team_id__in=teams)
        .select_related("type", "order")
        .order_by("-blocking", "sla_due_at", "id")
    )

    def claimed(case):
        ExceptionCase.objects.filter(pk=case.pk).update(status=CaseStatus.CLAIMED)
        case.__dict__["status"] = CaseStatus.CLAIMED
        _audit(events.CASE_CLAIMED, case, by=user)

    # Each team is its own queue (its own counters): claim in the team whose next case
    # comes first over all the user's teams, so one team's blocking case is not left
    # behind another team's routine one.
    remaining = set(teams)
    while remaining:
        team = (
            queryset.filter(team_id__in=remaining, claimed_by__isnull=True)
            .values_list("team_id", flat=True)
            .first()
        )
        if team is None:
            return None
        case = claim_next(
            queryset.filter(team_id=team),
            user=user,
            queue=queue_name(team),
            limits=ClaimLimits(),
            on_claimed=claimed,
        )
        if case is not None:
            return case
        remaining.discard(team)  # its last cases were taken meanwhile
    return None


def _set_claim(case: ExceptionCase, user, *, verb, by, now) -> None:
    previous = case.claimed_by_id
    ExceptionCase.objects.filter(pk=case.pk).update(
        claimed_by=user, claimed_at=now, claim_touched_at=now, status=CaseStatus.CLAIMED
    )
    if previous:
        claim_release_counters(queue=queue_name(case.team_id), user_id=previous)
    _claim_counter_raise(queue_name(case.team_id), None)
    _claim_counter_raise(person_key(queue_name(case.team_id), user.pk), None)
    case.claimed_by, case.claimed_at, case.claim_touched_at = user, now, now
    case.__dict__["status"] = CaseStatus.CLAIMED
    _audit(verb, case, by=by, at=now, assignee=user.get_username())


def case_claim(case: ExceptionCase, *, by) -> ExceptionCase:
    """Take one case from the pool (it must be open and unclaimed)."""
    _require_worker(by, case)
    now = timezone.now()
    with transaction.atomic():
        locked = ExceptionCase.objects.select_for_update().get(pk=case.pk)
        if locked.status != CaseStatus.OPEN or locked.claimed_by_id:
            raise TransitionRefused(_("Someone else is already handling this case."))
        case.claimed_by_id = None  # a stale copy must not end someone else's claim
        _set_claim(case, by, verb=events.CASE_CLAIMED, by=by, now=now)
    return case


def case_assign(cases, *, user, by) -> int:
    """Give open cases to `user` (a member of each case's team). Returns how many."""
    if by is not None and not by.has_perm("exceptions.assign_exceptioncase"):
        raise ActionForbidden()
    now = timezone.now()
    cases = list(cases)
    # Checked for all cases first: a bulk assignment is refused whole, not half done.
    user_teams = set(user.groups.values_list("pk", flat=True))
    for case in cases:
        if case.is_open and case.team_id not in user_teams:
            raise InvalidOrderInput(
                _("%(user)s is not in the team that owns case #%(id)s.")
                % {"user": user.get_username(), "id": case.pk}
            )
    done = 0
    for case in cases:
        if not case.is_open:
            continue
        with transaction.atomic():
            locked = ExceptionCase.objects.select_for_update().get(pk=case.pk)
            if locked.status not in OPEN_STATUSES:
                continue
            case.claimed_by_id = locked.claimed_by_id
            _set_claim(case, user, verb=events.CASE_ASSIGNED, by=by, now=now)
        done += 1
    return done


def case_release(case: ExceptionCase, *, by) -> ExceptionCase:
    """Put a claimed case back in the pool."""
    if by is not None and by.pk != case.claimed_by_id:
        _require_worker(by, case)
    with transaction.atomic():
        locked = ExceptionCase.objects.select_for_update().get(pk=case.pk)
        status = _fsm_step(locked, "unclaim", _("The case is not being handled."))
        ExceptionCase.objects.filter(pk=case.pk).update(
            claimed_by=None, claimed_at=None, claim_touched_at=None, status=status
        )
        claim_release_counters(queue=queue_name(case.team_id), user_id=locked.claimed_by_id)
        case.claimed_by = None
        case.__dict__["status"] = CaseStatus.OPEN
        _audit(events.CASE_RELEASED, case, by=by)
    return case


def _close(case: ExceptionCase, *, transition: str, by, note: str, verb: str) -> ExceptionCase:
    if by is not None:
        _require_worker(by, case)
    if not note.strip():
        raise InvalidOrderInput(_("Write what was done (a resolution note is required)."))
    now = timezone.now()
    with transaction.atomic():
        locked = ExceptionCase.objects.select_for_update().get(pk=case.pk)
        claimant = locked.claimed_by_id
        target = _fsm_step(locked, transition, _("The case is already closed."))
        ExceptionCase.objects.filter(pk=case.pk).update(
            status=target,
            closed_at=now,
            closed_by=audit_actor(by),
            resolution_note=note.strip()[:4000],
            claimed_by=None,
            claimed_at=None,
            claim_touched_at=None,
        )
        if claimant:
            claim_release_counters(queue=queue_name(case.team_id), user_id=claimant)
        case.__dict__["status"] = target
        case.closed_at, case.resolution_note, case.claimed_by = now, note.strip(), None
        _audit(verb, case, by=by, reason=note[:300], at=now)
        if case.blocking:
            _release_if_last(case, by=by)
    return case


def _release_if_last(case: ExceptionCase, *, by=None) -> None:
    """The last open blocking case of the order closed: the order returns to its stage.
    Another blocking case still open takes over the hold."""
    held_by_case = ExceptionCase.objects.filter(pk=case.pk, held_order=True).exists()
    remaining = ExceptionCase.objects.blocking().filter(order_id=case.order_id).first()
    if remaining is not None:
        if held_by_case:
            ExceptionCase.objects.filter(pk=remaining.pk).update(held_order=True)
        return
    if not held_by_case:
        return
    order = Order.objects.get(pk=case.order_id)
    if order.status != S.ON_HOLD or not _hold_is_for_a_case(order):
        return
    order_release(
        order,
        by=None,
        actor_label=SYSTEM_LABEL,
        via=Via.SYSTEM,
        reason=str(
            _("Exception case %(tag)s #%(id)s closed") % {"tag": case.type.tag, "id": case.pk}
        ),
        detail={"exception_case": case.pk},
    )
    case.order = order


def _hold_is_for_a_case(order: Order) -> bool:
    """Whether the order's current hold was put on for an exception case. A person may
    have released the case's hold and put the order on hold again for their own reason:
    closing the case must not end that hold."""
    detail = (
        StageVisit.objects.filter(order_id=order.pk, left_at=order.stage_entered_at)
        .exclude(stage=S.ON_HOLD)
        .order_by("-id")
        .values_list("detail", flat=True)
        .first()
    )
    return isinstance(detail, dict) and "exception_case" in detail


def case_resolve(case: ExceptionCase, *, by, note: str) -> ExceptionCase:
    return _close(case, transition="resolve", by=by, note=note, verb=events.CASE_RESOLVED)


def case_reject(case: ExceptionCase, *, by, note: str) -> ExceptionCase:
    return _close(case, transition="reject", by=by, note=note, verb=events.CASE_REJECTED)


def case_reopen(case: ExceptionCase, *, by, reason: str) -> ExceptionCase:
    """Open a closed case again (a blocking one holds the order again)."""
    if by is not None:
        _require_worker(by, case)
    if not reason.strip():
        raise InvalidOrderInput(_("Say why the case is reopened."))
    order = Order.objects.get(pk=case.order_id)
    if order.status not in (*MAIN_LINE, S.ON_HOLD):
        # As for opening: a dispatched or cancelled order takes no open case.
        raise TransitionRefused(
            _("The order is already %(stage)s: no exception case can be opened.")
            % {"stage": order.get_status_display()},
            code="order_closed",
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = ExceptionCase.objects.select_for_update().get(pk=case.pk)
            status = _fsm_step(locked, "reopen", _("The case is already open."))
            ExceptionCase.objects.filter(pk=case.pk).update(
                status=status,
                closed_at=None,
                closed_by=None,
                held_order=False,
                sla_due_at=now + timedelta(minutes=case.type.sla_minutes),
            )
            case.__dict__["status"] = CaseStatus.OPEN
            case.held_order = False
            _audit(events.CASE_REOPENED, case, by=by, reason=reason[:300], at=now)
            order = Order.objects.get(pk=case.order_id)
            if case.blocking and order.status in MAIN_LINE:
                _hold_for(case, order, by=by)
    except IntegrityError as exc:
        raise TransitionRefused(
            _("Another case of this type is already open for the order."), code="duplicate_case"
        ) from exc
    return case


def order_blocking_reasons(order: Order) -> list[str]:
    """Why the order cannot be dispatched because of exception cases (one query)."""
    tags = list(
        ExceptionCase.objects.blocking()
        .filter(order_id=order.pk)
        .values_list("pk", "type__tag_zh", "type__tag_en")
    )
    from exceptions.models.types import _chinese

    return [
        str(_("Open exception case %(tag)s #%(id)s holds the order."))
        % {"tag": zh if _chinese() else en, "id": pk}
        for pk, zh, en in tags
    ]


def cases_close_for_cancelled(order: Order) -> int:
    """A cancelled order leaves nothing to handle: its open cases are rejected by the
    system (they would otherwise wait in the pool for good)."""
    closed = 0
    for case in ExceptionCase.objects.open().filter(order_id=order.pk).select_related("type"):
        try:
            case_reject(case, by=None, note=str(_("The order was cancelled.")))
        except TransitionRefused:
            continue  # closed by someone meanwhile
        closed += 1
    return closed
