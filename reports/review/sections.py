"""The numbers of a review, section by section (stored as JSON in IncidentReview.data).

Every query reads an indexed range: the timeline by (stage, entered_at) or
(stage, left_at) over the window and its baseline windows, the audit log by
(verb, at), breaker events by (stage, at). Python only ever sees the rows of those
windows (a few thousand at most for a day), never the whole order table.

Definitions (the tests hold these exact numbers):
- volume: orders received in the window (their zero-length `received` visit);
  baseline = mean over the baseline windows; shares by exception type (orders with a
  case of that type; an order with two types counts in both), channel, lane;
- stage time: visits that ENTERED the stage in the window; "auto" = zero-length
  (passed automatically), "manual" = closed with a dwell, "open" = still waiting;
  median and mean of the manual dwell (minutes); extra time of a stage = (mean -
  baseline mean) x manual visits, when positive;
- measures: each bypass window, authorization code, peak-support grant and breaker
  opening that overlapped the window, with the orders that used it and the median
  dwell of the stage it helps, for those orders vs the others leaving that stage
  while it was on;
- timeline: the audit events of the flow-control and approval verbs from an hour
  before the window to an hour after it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils.dateparse import parse_datetime

from approvals import events as approval_events
from approvals.models import (
    AuthorizationCodeUse,
    BypassUse,
    BypassWindow,
    Obligation,
    SwitchKind,
)
from backoffice.audit.models import AuditEvent
from exceptions.models import ExceptionCase
from orders import events as order_events
from orders.models import BreakerEvent, StageSetting, StageVisit, SurgeGrant
from orders.states import MAIN_LINE, OrderStatus

S = OrderStatus
STAGES = [*MAIN_LINE, S.ON_HOLD]
# The stage whose dwell each bypass shortens.
BYPASS_STAGE = {
    SwitchKind.COUPON_CHECK: S.SALES_REVIEW,
    SwitchKind.PRICE_CHANGE_CODE: S.SALES_REVIEW,
    SwitchKind.URGENT_DISPATCH: S.QUALITY_CHECK,
}
CODE_STAGE = S.SALES_REVIEW
TIMELINE_MARGIN = timedelta(hours=1)
TIMELINE_LIMIT = 300
TIMELINE_VERBS = [
    order_events.ALARM_STARTED,
    order_events.ALARM_ENDED,
    order_events.BREAKER_TRIPPED,
    order_events.BREAKER_RESET,
    order_events.SURGE_GRANTED,
    order_events.SURGE_ENDED,
    order_events.STAGE_SETTING_CHANGED,
    approval_events.BYPASS_ON,
    approval_events.BYPASS_OFF,
    approval_events.BYPASS_EXPIRED,
    approval_events.CODE_ISSUED,
    approval_events.CODE_REVOKED,
    approval_events.RULE_CREATED,
    approval_events.RULE_CHANGED,
    approval_events.RULE_APPLIED_TO_WAITING,
]
BREAKER_LOOKBACK = timedelta(days=1)


# --- Small helpers ---------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def from_iso(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def r1(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def share(part: int | float, whole: int | float) -> float | None:
    """A percentage with one decimal (None when there is no whole)."""
    return r1(100.0 * part / whole) if whole else None


def minutes(seconds: float) -> float:
    return seconds / 60.0


def median_minutes(values: list[float]) -> float | None:
    return r1(statistics.median(values)) if values else None


def mean_minutes(values: list[float]) -> float | None:
    return r1(statistics.fmean(values)) if values else None


def in_windows(field: str, windows: Iterable[tuple[datetime, datetime]]) -> Q:
    condition = Q(pk__in=[])
    for start, end in windows:
        condition |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return condition


def _dwell(entered_at: datetime, left_at: datetime) -> float:
    return minutes((left_at - entered_at).total_seconds())


# --- 1. Volume and categories -----------------------------------------------------


def bucket_minutes_for(window_minutes: float) -> int:
    if window_minutes <= 180:
        return 15
    if window_minutes <= 48 * 60:
        return 60
    return 24 * 60


def volume_section(
    *, start: datetime, end: datetime, baseline: list[tuple[datetime, datetime]]
) -> dict:
    windows = [(start, end), *baseline]
    span = (end - start).total_seconds()
    bucket = bucket_minutes_for(span / 60) * 60
    count = int(-(-span // bucket))
    counts = [[0] * count for _ in windows]
    arrivals = StageVisit.objects.filter(stage=S.RECEIVED).filter(in_windows("entered_at", windows))
    for at in arrivals.values_list("entered_at", flat=True):
        for index, (w_start, w_end) in enumerate(windows):
            if w_start <= at < w_end:
                counts[index][int((at - w_start).total_seconds() // bucket)] += 1
    orders = sum(counts[0])
    used = len(baseline)
    baseline_orders = r1(sum(sum(c) for c in counts[1:]) / used) if used else None
    buckets = [
        {
            "start": iso(start + timedelta(seconds=bucket * i)),
            "orders": counts[0][i],
            "baseline": r1(sum(c[i] for c in counts[1:]) / used) if used else None,
        }
        for i in range(count)
    ]
    change = r1(100.0 * (orders - baseline_orders) / baseline_orders) if baseline_orders else None
    return {
        "orders": orders,
        "baseline_orders": baseline_orders,
        "baseline_windows": [sum(c) for c in counts[1:]],
        "change_pct": change,
        "bucket_minutes": bucket // 60,
        "buckets": buckets,
        "categories": _categories(start=start, end=end, orders=orders),
    }


def _categories(*, start: datetime, end: datetime, orders: int) -> dict:
    arrivals = StageVisit.objects.filter(
        stage=S.RECEIVED, entered_at__gte=start, entered_at__lt=end
    ).order_by()
    order_ids = arrivals.values("order_id")
    cases = ExceptionCase.objects.filter(order_id__in=order_ids).order_by()
    by_type = list(
        cases.values(
            "type__code", "type__name_zh", "type__name_en", "type__tag_zh", "type__tag_en"
        ).annotate(n=Count("order_id", distinct=True))
    )
    with_cases = cases.values("order_id").distinct().count()
    exception_rows = sorted(
        (
            {
                "code": row["type__code"],
                "name_zh": row["type__name_zh"],
                "name_en": row["type__name_en"],
                "tag_zh": row["type__tag_zh"],
                "tag_en": row["type__tag_en"],
                "orders": row["n"],
                "share": share(row["n"], orders),
            }
            for row in by_type
        ),
        key=lambda r: (-r["orders"], r["code"]),
    )
    channels = sorted(
        (
            {
                "code": row["order__partner__code"] or "direct",
                "name": row["order__partner__name"] or "",
                "orders": row["n"],
                "share": share(row["n"], orders),
            }
            for row in arrivals.values("order__partner__code", "order__partner__name").annotate(
                n=Count("id")
            )
        ),
        key=lambda r: (-r["orders"], r["code"]),
    )
    lanes = sorted(
        (
            {"lane": row["order__lane"], "orders": row["n"], "share": share(row["n"], orders)}
            for row in arrivals.values("order__lane").annotate(n=Count("id"))
        ),
        key=lambda r: r["lane"],
    )
    return {
        "normal": {"orders": orders - with_cases, "share": share(orders - with_cases, orders)},
        "exception_orders": with_cases,
        "exception_types": exception_rows,
        "channels": channels,
        "lanes": lanes,
    }


# --- 2. Time per stage ------------------------------------------------------------


def stages_section(
    *, start: datetime, end: datetime, baseline: list[tuple[datetime, datetime]]
) -> dict:
    windows = [(start, end), *baseline]
    episode: dict[str, dict] = {s: {"auto": 0, "open": 0, "dwell": []} for s in STAGES}
    normal: dict[str, dict] = {s: {"auto": 0, "open": 0, "dwell": []} for s in STAGES}
    rows = (
        StageVisit.objects.filter(stage__in=STAGES)
        .filter(in_windows("entered_at", windows))
        .values_list("stage", "entered_at", "left_at")
    )
    for stage, entered_at, left_at in rows.iterator(5000):
        for index, (w_start, w_end) in enumerate(windows):
            if not w_start <= entered_at < w_end:
                continue
            into = episode if index == 0 else normal
            if left_at is None:
                into[stage]["open"] += 1
            elif left_at == entered_at:
                into[stage]["auto"] += 1
            else:
                into[stage]["dwell"].append(_dwell(entered_at, left_at))
    used = len(baseline)
    stages = []
    for stage in STAGES:
        ep, base = episode[stage], normal[stage]
        mean_ep = statistics.fmean(ep["dwell"]) if ep["dwell"] else None
        mean_base = statistics.fmean(base["dwell"]) if base["dwell"] else None
        extra = 0.0
        if mean_ep is not None and mean_base is not None and mean_ep > mean_base:
            extra = (mean_ep - mean_base) * len(ep["dwell"])
        stages.append(
            {
                "stage": stage,
                "entered": ep["auto"] + ep["open"] + len(ep["dwell"]),
                "auto": ep["auto"],
                "manual": len(ep["dwell"]),
                "open": ep["open"],
                "median_min": median_minutes(ep["dwell"]),
                "mean_min": r1(mean_ep),
                "baseline_manual": r1(len(base["dwell"]) / used) if used else None,
                "baseline_median_min": median_minutes(base["dwell"]),
                "baseline_mean_min": r1(mean_base),
                "extra_min": r1(extra),
            }
        )
    total = sum(s["extra_min"] for s in stages)
    for row in stages:
        row["extra_share"] = share(row["extra_min"], total) if total else None
    top = max(stages, key=lambda s: s["extra_min"]) if total else None
    return {
        "rows": stages,
        "extra_min_total": r1(total),
        "top_stage": top["stage"] if top else None,
        "top_share": top["extra_share"] if top else None,
    }


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


# --- 5. Timeline ----------------------------------------------------------------------


def timeline_section(*, start: datetime, end: datetime) -> list[dict]:
    events = (
        AuditEvent.objects.filter(
            verb__in=TIMELINE_VERBS,
            at__gte=start - TIMELINE_MARGIN,
            at__lte=end + TIMELINE_MARGIN,
        )
        .select_related("actor")
        .order_by("at", "id")[:TIMELINE_LIMIT]
    )
    return [
        {
            "at": iso(event.at),
            "verb": event.verb,
            "who": event.actor.get_username() if event.actor_id else (event.actor_label or ""),
            "subject": event.subject_label,
            "reason": (event.reason or "")[:300],
            "stage": str(event.payload.get("stage", "")) if event.payload else "",
        }
        for event in events
    ]
