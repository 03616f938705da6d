"""The bottleneck dashboard page (admin) and its JSON twin (the metrics API)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from reports.dashboard import (
    WINDOWS,
    heatmap_build,
    overdue_piles,
    stage_flags,
    stage_panel,
    window_bounds,
)
from reports.dashboard.heatmap import MODES
from reports.rollups import TimelineReader

DASHBOARD_PERMISSION = "reports.view_dashboard"


def dashboard_data(*, window: str, mode: str, now=None) -> dict:
    now = now or timezone.now()
    window = window if window in WINDOWS else "today"
    reader = TimelineReader()
    rows = stage_panel(now=now, window=window, reader=reader)
    heatmap = heatmap_build(now=now, mode=mode, reader=reader)
    return {
        "now": now,
        "window": window,
        "rows": rows,
        "flags": stage_flags(rows, heatmap=heatmap, now=now, reader=reader),
        "heatmap": heatmap,
        "oldest": overdue_piles(now=now),
        "rolled_up_until": reader.mark,
    }


def _chart(rows) -> dict:
    """An SVG bar chart of each stage's p90 dwell (window) against its target."""
    bars = [r for r in rows if r.sla_minutes is not None]
    top = max(
        [1.0] + [(r.p90_seconds or 0) / 60 for r in bars] + [float(r.sla_minutes) for r in bars]
    )
    items = []
    for index, row in enumerate(bars):
        p90 = (row.p90_seconds or 0) / 60
        items.append(
            {
                "label": row.label,
                "y": 8 + index * 26,
                "width": round(100 * p90 / top, 2),
                "target": round(100 * row.sla_minutes / top, 2),
                "p90": round(p90),
                "sla": row.sla_minutes,
                "cue": row.cue,
            }
        )
    return {"items": items, "height": 16 + 26 * len(items)}


def dashboard_view(request, site):
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    mode = request.GET.get("mode", "arrivals")
    data = dashboard_data(window=request.GET.get("window", "today"), mode=mode)
    changelist = reverse("admin:orders_order_changelist")
    context = {
        **site.each_context(request),
        "title": _("Bottleneck dashboard"),
        **data,
        "windows": WINDOWS,
        "modes": MODES,
        "chart": _chart(data["rows"]),
        "changelist": changelist,
        "timeline": reverse("admin:orders_stagevisit_changelist"),
        "window_start": _window_start_param(data),
        "target_hours": settings.ORDER_TARGET_HOURS,
        "alarm_hours": settings.BACKLOG_ALARM_HOURS,
        "thresholds": settings.REPORTS_HEATMAP_THRESHOLDS,
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def _window_start_param(data) -> str:
    start, _end = window_bounds(data["window"], now=data["now"])
    return timezone.localtime(start).strftime("%Y-%m-%d %H:%M:%S")
