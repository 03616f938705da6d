"""The review's charts: matplotlib, rendered server-side to SVG (no CDN, no JavaScript).

Figures are built with the object API (`Figure`, Agg canvas), never pyplot, so
rendering is safe in threaded servers. Chinese needs a CJK font: Debian's
fonts-noto-cjk ("Noto Sans CJK SC", installed by the Makefile's apt step) is named
first; text is drawn as paths (`svg.fonttype = path`) so the glyphs look the same in
the browser and in the PDF, whatever fonts the reader has. Charts are cached per
review, generation and language.
"""

from __future__ import annotations

import io
import re

import matplotlib
from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from reports.review.sections import from_iso

# No GUI: pyplot (if anything imports it) must never try a display.
matplotlib.use("Agg")

FONT_FAMILIES = [
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "WenQuanYi Zen Hei",
    "DejaVu Sans",
]
EPISODE, BASELINE, ACCENT, GREY = "#dc2626", "#94a3b8", "#2563eb", "#64748b"
SIZE = (7.0, 3.0)
CACHE_SECONDS = 24 * 3600
_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": FONT_FAMILIES,
    "font.size": 9,
    "axes.unicode_minus": False,
    "svg.fonttype": "path",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(figure: Figure, name: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"review-{name}"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Several charts share one HTML page: give every id this chart's prefix, so
    # matplotlib's ids (glyphs, clip paths) never collide between charts.
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'(href|xlink:href)="#([^"]+)"', rf'\1="#{name}-\2"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)
    # Natural size in pt (weasyprint needs it), scaled down to the page's width in
    # browsers (the viewBox keeps the aspect ratio).
    text = text.replace(
        "<svg ",
        f'<svg class="review-chart" role="img" aria-label="{name}" '
        'style="max-width:100%;height:auto" ',
        1,
    )
    return text


def _figure() -> Figure:
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=SIZE, layout="constrained")
        figure.add_subplot()
    return figure


def _empty(figure: Figure, text: str) -> None:
    axes = figure.axes[0]
    axes.axis("off")
    axes.text(0.5, 0.5, text, ha="center", va="center", color=GREY)


def _paired_bars(axes, count: int, first: tuple, second: tuple, *, horizontal=False) -> list:
    """Two bars per row, side by side: `first` and `second` are (values, colour, label).
    Returns the rows' positions for the tick labels."""
    draw = axes.barh if horizontal else axes.bar
    positions = list(range(count))
    width = 0.4
    for offset, (values, color, label) in ((-width / 2, first), (width / 2, second)):
        draw([p + offset for p in positions], values, width, color=color, label=label)
    return positions


def volume_chart(present: dict) -> str:
    with matplotlib.rc_context(_STYLE):
        figure = _figure()
        axes = figure.axes[0]
        rows = present["volume"]["bucket_rows"]
        positions = _paired_bars(
            axes,
            len(rows),
            ([r["baseline"] or 0 for r in rows], BASELINE, _("Normal (baseline)")),
            ([r["orders"] for r in rows], EPISODE, _("Episode")),
        )
        step = max(1, len(rows) // 12)
        axes.set_xticks(positions[::step], [r["label"] for r in rows][::step])
        axes.set_ylabel(_("Orders received"))
        axes.set_title(_("Order volume: episode vs normal"))
        axes.legend(frameon=False)
        return _svg(figure, "volume")


def stages_chart(present: dict) -> str:
    with matplotlib.rc_context(_STYLE):
        figure = _figure()
        axes = figure.axes[0]
        rows = [r for r in present["stages"]["rows"] if r["manual"] or r["baseline_manual"]]
        if not rows:
            _empty(figure, _("No stage was worked in the window."))
            return _svg(figure, "stages")
        positions = _paired_bars(
            axes,
            len(rows),
            ([r["baseline_mean_min"] or 0 for r in rows], BASELINE, _("Normal (baseline)")),
            ([r["mean_min"] or 0 for r in rows], EPISODE, _("Episode")),
        )
        axes.set_xticks(positions, [r["label"] for r in rows], rotation=15, ha="right")
        axes.set_ylabel(_("Mean dwell (min)"))
        axes.set_title(_("Time per stage: normal vs episode"))
        axes.legend(frameon=False)
        return _svg(figure, "stages")


def measures_chart(present: dict) -> str:
    with matplotlib.rc_context(_STYLE):
        figure = _figure()
        axes = figure.axes[0]
        rows = present["measures"]
        if not rows:
            _empty(figure, _("No temporary measure was in force."))
            return _svg(figure, "measures")
        positions = _paired_bars(
            axes,
            len(rows),
            ([m["without_median_min"] or 0 for m in rows], BASELINE, _("Other orders")),
            ([m["with_median_min"] or 0 for m in rows], ACCENT, _("Orders that used it")),
            horizontal=True,
        )
        axes.set_yticks(positions, [f"{m['kind_label']}: {m['what_label']}" for m in rows])
        axes.invert_yaxis()
        axes.set_xlabel(_("Median dwell (min)"))
        axes.set_title(_("Temporary measures: dwell with and without"))
        axes.legend(frameon=False)
        return _svg(figure, "measures")


def suggestions_chart(present: dict) -> str:
    with matplotlib.rc_context(_STYLE):
        figure = _figure()
        axes = figure.axes[0]
        rows = present["suggestions"]
        if not rows:
            _empty(figure, _("No suggestion: the evidence is below every threshold."))
            return _svg(figure, "suggestions")
        positions = range(len(rows))
        axes.barh(list(positions), [s["minutes"] or 0 for s in rows], color=ACCENT)
        axes.set_yticks(list(positions), [s["title"] for s in rows])
        axes.invert_yaxis()
        for position, s in zip(positions, rows, strict=True):
            axes.text(s["minutes"] or 0, position, f" {s['minutes']}", va="center")
        axes.set_xlabel(_("Minutes at stake"))
        axes.set_title(_("Suggested changes: minutes at stake"))
        return _svg(figure, "suggestions")


def timeline_chart(present: dict) -> str:
    """The episode as bars: alarms, breaker openings, bypasses, grants, codes."""
    with matplotlib.rc_context(_STYLE):
        figure = _figure()
        axes = figure.axes[0]
        data = present["review"].data or {}
        alarm = _("Alarm")
        bars = [
            (
                f"{alarm}: {e['kind']}" + (f" · {e['stage']}" if e["stage"] else ""),
                from_iso(raw["started_at"]),
                from_iso(raw["ended_at"]) or from_iso(data["window"]["end"]),
                EPISODE,
            )
            for e, raw in zip(present["episodes"], data.get("episodes", []), strict=True)
        ]
        bars += [
            (
                f"{m['kind_label']}: {m['what_label']}",
                from_iso(m["from"]),
                from_iso(m["until"]),
                ACCENT if m["kind"] != "breaker" else "#f59e0b",
            )
            for m in present["measures"]
        ]
        start = from_iso(data.get("window", {}).get("start"))
        end = from_iso(data.get("window", {}).get("end"))
        if not bars or start is None:
            _empty(figure, _("Nothing was switched during the window."))
            return _svg(figure, "timeline")
        tz = timezone.get_current_timezone()
        for index, (_label, since, until, colour) in enumerate(bars):
            since = timezone.localtime(since, tz)
            until = timezone.localtime(until or end, tz)
            axes.barh(index, until - since, left=since, color=colour, height=0.6)
        axes.axvspan(
            timezone.localtime(start, tz), timezone.localtime(end, tz), color=EPISODE, alpha=0.07
        )
        axes.set_yticks(range(len(bars)), [b[0] for b in bars])
        axes.invert_yaxis()
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=tz))
        axes.set_title(_("Timeline of the episode"))
        figure.set_figheight(max(2.2, 0.9 + 0.35 * len(bars)))
        return _svg(figure, "timeline")


CHARTS = {
    "volume": volume_chart,
    "stages": stages_chart,
    "measures": measures_chart,
    "suggestions": suggestions_chart,
    "timeline": timeline_chart,
}


def review_charts(present: dict) -> dict[str, str]:
    """Every chart of a review as inline SVG, cached per generation and language."""
    review = present["review"]
    language = translation.get_language()
    key = f"review-charts:{review.pk}:{review.generated_at.timestamp()}:{language}"
    charts = cache.get(key) if review.pk else None
    if charts is None:
        charts = {name: draw(present) for name, draw in CHARTS.items()}
        if review.pk:
            cache.set(key, charts, CACHE_SECONDS)
    return charts
