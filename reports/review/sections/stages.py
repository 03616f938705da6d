"""Section 2: time per stage (auto / manual / open visits, manual dwell vs baseline,
extra time)."""

from __future__ import annotations

import statistics
from datetime import datetime

from orders.models import StageVisit
from orders.states import MAIN_LINE
from reports.review.sections.common import S, _dwell, in_windows, median_minutes, r1, share

STAGES = [*MAIN_LINE, S.ON_HOLD]


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
