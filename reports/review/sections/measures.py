"""Section 3: the temporary measures that overlapped the window (bypass windows,
authorization codes, peak-support grants, breaker openings), each with the dwell of the
stage it helps for the orders that used it vs the others."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q

from approvals.models import (
    AuthorizationCodeUse,
    BypassUse,
    BypassWindow,
    Obligation,
    SwitchKind,
)
from orders.models import BreakerEvent, StageSetting, StageVisit, SurgeGrant
from orders.states import MAIN_LINE
from reports.review.sections.common import S, _dwell, iso, median_minutes

# The stage whose dwell each bypass shortens.
BYPASS_STAGE = {
    SwitchKind.COUPON_CHECK: S.SALES_REVIEW,
    SwitchKind.PRICE_CHANGE_CODE: S.SALES_REVIEW,
    SwitchKind.URGENT_DISPATCH: S.QUALITY_CHECK,
}
CODE_STAGE = S.SALES_REVIEW
BREAKER_LOOKBACK = timedelta(days=1)


# --- 3. Temporary measures -------------------------------------------------------


def _dwell_split(stage: str, since: datetime, until: datetime, used: set[int], by=None) -> dict:
    """Median dwell of the manual visits of `stage` that left in [since, until]: for the
    orders that used the measure (`used`, or visits completed by `by`) vs the others."""
    with_, without = [], []
    rows = StageVisit.objects.filter(stage=stage, left_at__gte=since, left_at__lte=until)
    for order_id, actor_id, entered_at, left_at in rows.values_list(
        "order_id", "actor_id", "entered_at", "left_at"
    ).iterator(5000):
        if left_at == entered_at:
            continue
        hit = actor_id == by if by is not None else order_id in used
        (with_ if hit else without).append(_dwell(entered_at, left_at))
    return {
        "with_n": len(with_),
        "with_median_min": median_minutes(with_),
        "without_n": len(without),
        "without_median_min": median_minutes(without),
    }


def _who(user) -> str:
    return user.get_username() if user is not None else ""


def _bypass_measures(start: datetime, end: datetime, now: datetime) -> list[dict]:
    windows = (
        BypassWindow.objects.filter(opened_at__lt=end)
        .filter(Q(closed_at=None) | Q(closed_at__gt=start))
        .filter(expires_at__gt=start)
        .select_related("opened_by", "closed_by")
        .order_by("opened_at", "id")
    )
    measures = []
    for window in windows:
        until = window.closed_at or min(window.expires_at, now)
        uses = BypassUse.objects.filter(window=window)
        used = set(uses.values_list("order_id", flat=True))
        obligations = Obligation.objects.filter(use__window=window).aggregate(
            total=Count("pk"),
            open=Count("pk", filter=Q(fulfilled_at=None)),
            overdue=Count("pk", filter=Q(fulfilled_at=None, due_at__lte=now)),
        )
        stage = BYPASS_STAGE.get(window.kind, S.SALES_REVIEW)
        measures.append(
            {
                "kind": "bypass",
                "what": window.kind,
                "stage": stage,
                "from": iso(window.opened_at),
                "until": iso(until),
                "by": _who(window.opened_by),
                "ended_by": _who(window.closed_by),
                "reason": window.reason,
                "orders": len(used),
                "uses": uses.count(),
                "obligations": obligations["total"],
                "obligations_open": obligations["open"],
                "obligations_overdue": obligations["overdue"],
                **_dwell_split(stage, window.opened_at, until, used),
            }
        )
    return measures


def _code_measures(start: datetime, end: datetime) -> list[dict]:
    uses = list(
        AuthorizationCodeUse.objects.filter(used_at__gte=start, used_at__lt=end)
        .select_related("code", "code__issued_by")
        .order_by("used_at", "id")
    )
    if not uses:
        return []
    by_code: dict[int, list[AuthorizationCodeUse]] = defaultdict(list)
    for use in uses:
        by_code[use.code_id].append(use)
    measures = []
    for code_uses in by_code.values():
        code = code_uses[0].code
        used = {u.order_id for u in code_uses}
        measures.append(
            {
                "kind": "auth_code",
                "what": code.label,
                "prefix": code.prefix,
                "stage": CODE_STAGE,
                "from": iso(code.valid_from),
                "until": iso(code.revoked_at or code.valid_until),
                "by": _who(code.issued_by),
                "ended_by": "",
                "reason": code.label,
                "orders": len(used),
                "uses": len(code_uses),
                "max_deviation_pct": float(max(u.deviation_pct for u in code_uses)),
                "obligations": 0,
                "obligations_open": 0,
                "obligations_overdue": 0,
                **_dwell_split(CODE_STAGE, start, end, used),
            }
        )
    return measures


def _team_stages() -> dict[int, list[str]]:
    stages: dict[int, list[str]] = defaultdict(list)
    for stage, group_id in StageSetting.objects.exclude(owner_group=None).values_list(
        "stage", "owner_group_id"
    ):
        stages[group_id].append(stage)
    return stages


def _surge_measures(start: datetime, end: datetime, now: datetime) -> list[dict]:
    grants = list(
        SurgeGrant.objects.filter(granted_at__lt=end, until__gt=start)
        .filter(Q(revoked_at=None) | Q(revoked_at__gt=start))
        .select_related("user", "team", "granted_by", "revoked_by")
        .order_by("granted_at", "id")
    )
    if not grants:
        return []
    team_stages = _team_stages()
    measures = []
    for grant in grants:
        until = min(grant.revoked_at or grant.until, grant.until, now)
        stages = [s for s in MAIN_LINE if s in team_stages.get(grant.team_id, [])]
        rows = StageVisit.objects.filter(
            stage__in=stages or MAIN_LINE, left_at__gte=grant.granted_at, left_at__lte=until
        ).values_list("stage", "actor_id", "entered_at", "left_at")
        by_stage: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for stage, actor_id, entered_at, left_at in rows.iterator(5000):
            if left_at == entered_at:
                continue
            mine, others = by_stage[stage]
            (mine if actor_id == grant.user_id else others).append(_dwell(entered_at, left_at))
        # Compared within the stage the person worked most: dwell differs by stage.
        helped = max(by_stage, key=lambda s: len(by_stage[s][0]), default="")
        mine, others = by_stage[helped] if helped else ([], [])
        split = {
            "with_n": len(mine),
            "with_median_min": median_minutes(mine),
            "without_n": len(others),
            "without_median_min": median_minutes(others),
        }
        helped_total = sum(len(m) for m, _o in by_stage.values())
        measures.append(
            {
                "kind": "surge",
                "what": grant.team.name,
                "person": _who(grant.user),
                "stage": helped,
                "stages": stages,
                "from": iso(grant.granted_at),
                "until": iso(until),
                "by": _who(grant.granted_by),
                "ended_by": _who(grant.revoked_by),
                "reason": grant.reason,
                "orders": helped_total,
                "uses": helped_total,
                "obligations": 0,
                "obligations_open": 0,
                "obligations_overdue": 0,
                **split,
            }
        )
    return measures


def breaker_openings(start: datetime, end: datetime, now: datetime) -> list[dict]:
    """Trip -> reset pairs per stage that overlap [start, end) (reset None: still open)."""
    events = BreakerEvent.objects.filter(
        at__gte=start - BREAKER_LOOKBACK, at__lt=end, stage__in=MAIN_LINE
    ).order_by("stage", "at", "id")
    after = {
        (row["stage"]): row
        for row in BreakerEvent.objects.filter(
            kind=BreakerEvent.Kind.RESET, at__gte=end, at__lt=end + BREAKER_LOOKBACK
        )
        .order_by("-at")
        .values("stage", "at")
    }
    openings: list[dict] = []
    current: dict[str, dict] = {}
    for event in events:
        if event.kind == BreakerEvent.Kind.TRIP:
            current[event.stage] = {
                "stage": event.stage,
                "tripped_at": event.at,
                "reset_at": None,
                "backlog": event.backlog,
                "threshold": event.threshold,
                "pinned": event.pinned,
                "wip_limit": event.wip_limit,
            }
            openings.append(current[event.stage])
        elif event.kind == BreakerEvent.Kind.RESET and event.stage in current:
            current.pop(event.stage)["reset_at"] = event.at
    for stage, opening in current.items():
        if stage in after:
            opening["reset_at"] = after[stage]["at"]
    return [o for o in openings if o["reset_at"] is None or o["reset_at"] > start]


def _breaker_measures(start: datetime, end: datetime, now: datetime) -> list[dict]:
    measures = []
    for opening in breaker_openings(start, end, now):
        until = opening["reset_at"] or now
        # "With" = the stage's exits while the breaker was open, "without" = its exits
        # in the window while it was closed.
        inside = _stage_dwell(opening["stage"], opening["tripped_at"], until)
        outside = [
            d
            for left_at, d in _stage_dwell_rows(opening["stage"], start, end)
            if not opening["tripped_at"] <= left_at <= until
        ]
        split = {
            "with_n": len(inside),
            "with_median_min": median_minutes(inside),
            "without_n": len(outside),
            "without_median_min": median_minutes(outside),
        }
        measures.append(
            {
                "kind": "breaker",
                "what": opening["stage"],
                "stage": opening["stage"],
                "from": iso(opening["tripped_at"]),
                "until": iso(until),
                "still_open": opening["reset_at"] is None,
                "by": "",
                "ended_by": "",
                "reason": "",
                "backlog": opening["backlog"],
                "threshold": opening["threshold"],
                "orders": opening["pinned"],
                "uses": opening["pinned"],
                "obligations": 0,
                "obligations_open": 0,
                "obligations_overdue": 0,
                **split,
            }
        )
    return measures


def _stage_dwell_rows(stage: str, since: datetime, until: datetime) -> list[tuple]:
    rows = StageVisit.objects.filter(stage=stage, left_at__gte=since, left_at__lte=until)
    return [
        (left_at, _dwell(entered_at, left_at))
        for entered_at, left_at in rows.values_list("entered_at", "left_at")
        if left_at != entered_at
    ]


def _stage_dwell(stage: str, since: datetime, until: datetime) -> list[float]:
    return [d for _left, d in _stage_dwell_rows(stage, since, until)]


def measures_section(*, start: datetime, end: datetime, now: datetime) -> list[dict]:
    measures = [
        *_bypass_measures(start, end, now),
        *_code_measures(start, end),
        *_surge_measures(start, end, now),
        *_breaker_measures(start, end, now),
    ]
    measures.sort(key=lambda m: (m["from"] or "", m["kind"]))
    return measures
