"""A review's stored numbers as labelled rows, in the reader's language.

The JSON keeps codes (stage slugs, verbs, kinds) and numbers; labels and sentences
are made here, at display time, so one review reads in Chinese and in English. The
page, the PDF and the XLSX all use `review_present`.
"""

from __future__ import annotations

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from approvals.conditions import condition_describe
from approvals.models import SwitchKind
from backoffice.audit.verbs import verb_label
from orders.models import AlarmEpisode
from orders.states import Lane, OrderStatus
from reports.baseline import BaselineKind
from reports.review.sections import from_iso


def _chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def local(text: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = from_iso(text)
    return timezone.localtime(moment).strftime(fmt) if moment else "–"


def stage_label(stage: str) -> str:
    if not stage:
        return ""
    try:
        return str(OrderStatus(stage).label)
    except ValueError:
        return stage


def number(value, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}{suffix}"


def baseline_label(kind: str, count: int) -> str:
    if kind == BaselineKind.WEEKDAYS:
        return _("the same hours on the same weekday, previous %(n)s weeks") % {"n": count}
    if kind == BaselineKind.DAYS:
        return _("the same hours on the previous %(n)s days (short history)") % {"n": count}
    return _("no history before the window")


def _pick(row: dict, zh: str, en: str) -> str:
    return row.get(zh) if _chinese() else row.get(en)


def _measure_kind(kind: str) -> str:
    return {
        "bypass": _("Emergency bypass"),
        "auth_code": _("Authorization code"),
        "surge": _("Peak support"),
        "breaker": _("Circuit breaker"),
    }.get(kind, kind)


def _measure_what(measure: dict) -> str:
    kind = measure["kind"]
    if kind == "bypass":
        try:
            return str(SwitchKind(measure["what"]).label)
        except ValueError:
            return measure["what"]
    if kind == "auth_code":
        return f"{measure['what']} ({measure.get('prefix', '')}-…)"
    if kind == "surge":
        return _("%(person)s lent to the %(team)s") % {
            "person": measure.get("person", ""),
            "team": measure["what"],
        }
    return stage_label(measure["what"])


def _stage_hint(stage: str) -> str:
    hints = {
        OrderStatus.PICKING: _("check the printers and pick-list templates"),
        OrderStatus.QUALITY_CHECK: _("check the QC camera and photo upload"),
        OrderStatus.STOCK_RESERVATION: _("check the stock data and the reservation service"),
    }
    return hints.get(stage, _("check what the approvers were waiting for"))


def suggestion_text(suggestion: dict) -> str:
    p = suggestion["params"]
    code = suggestion["code"]
    if code == "rule":
        text = _(
            "%(share)s%% of the %(stage)s orders reviewed by hand in the window "
            "(%(matched)s of %(visits)s) met “%(condition)s”; a routing rule would have "
            "saved a median %(median)s min per order (%(total)s h in all)."
        ) % {
            "share": number(p["share"]),
            "stage": stage_label(p["stage"]),
            "matched": p["matched"],
            "visits": p["visits"],
            "condition": condition_describe(p["condition"]),
            "median": number(p["median_saved_min"]),
            "total": number(p["total_saved_h"]),
        }
        if p.get("rule_enabled_now"):
            text += " " + _("A routing rule with this condition is enabled now.")
        return text
    if code == "no_exits":
        return _(
            "%(stage)s had no exits for %(minutes)s min (%(from)s–%(until)s) while staffed "
            "(%(people)s people active, %(waiting)s orders waiting): %(hint)s."
        ) % {
            "stage": stage_label(p["stage"]),
            "minutes": number(p["gap_min"]),
            "from": local(p["from"], "%H:%M"),
            "until": local(p["until"], "%H:%M"),
            "people": p["active_people"],
            "waiting": p["waiting"],
            "hint": _stage_hint(p["stage"]),
        }
    if code == "exception_sla":
        return _(
            "%(tag)s cases took %(ratio)s× their SLA (median %(taken)s min against %(sla)s min; "
            "%(over)s of %(cases)s over it): add staff to the %(team)s."
        ) % {
            "tag": _pick(p, "tag_zh", "tag_en") or _pick(p, "name_zh", "name_en"),
            "ratio": number(p["ratio"]),
            "taken": number(p["median_taken_min"]),
            "sla": p["sla_min"],
            "over": p["over_sla"],
            "cases": p["cases"],
            "team": p["team"],
        }
    if code == "breaker":
        return _(
            "The %(stage)s circuit breaker opened %(trips)s times in the window "
            "(%(week)s in the week up to its end) and stayed open %(minutes)s min: raise its "
            "concurrency limit (now %(wip)s) or staff the stage."
        ) % {
            "stage": stage_label(p["stage"]),
            "trips": p["trips"],
            "week": p["trips_week"],
            "minutes": number(p["open_min"]),
            "wip": number(p["wip_limit"]),
        }
    return code


def suggestion_title(code: str) -> str:
    return {
        "rule": _("Make a routing rule permanent"),
        "no_exits": _("Fix what stopped a stage"),
        "exception_sla": _("Staff an exception team"),
        "breaker": _("Raise a stage's capacity"),
    }.get(code, code)


def review_present(review) -> dict:
    """Everything the page, the PDF and the XLSX show, labelled in the active language."""
    data = review.data or {}
    volume = data.get("volume", {})
    categories = volume.get("categories", {})
    stages = data.get("stages", {})
    baseline = data.get("baseline", {})
    lanes = dict(Lane.choices)
    kinds = dict(AlarmEpisode.Kind.choices)
    orders = volume.get("orders", 0)
    category_rows = [
        {"group": _("Normal (no exception case)"), **categories.get("normal", {})},
        *(
            {
                "group": _("Exception: %(name)s")
                % {"name": _pick(row, "tag_zh", "tag_en") or _pick(row, "name_zh", "name_en")},
                **row,
            }
            for row in categories.get("exception_types", [])
        ),
        *(
            {
                "group": _("Channel: %(name)s") % {"name": row["name"] or _("direct")},
                **row,
            }
            for row in categories.get("channels", [])
        ),
        *(
            {"group": _("Lane: %(name)s") % {"name": lanes.get(row["lane"], row["lane"])}, **row}
            for row in categories.get("lanes", [])
        ),
    ]
    return {
        "review": review,
        "window": {
            "start": local(data.get("window", {}).get("start")),
            "end": local(data.get("window", {}).get("end")),
            "minutes": data.get("window", {}).get("minutes"),
        },
        "episodes": [
            {
                "kind": kinds.get(e["kind"], e["kind"]),
                "stage": stage_label(e["stage"]),
                "started_at": local(e["started_at"]),
                "ended_at": local(e["ended_at"]),
                "peak_count": e["peak_count"],
            }
            for e in data.get("episodes", [])
        ],
        "baseline_text": baseline_label(
            baseline.get("kind", BaselineKind.NONE), len(baseline.get("windows", []))
        ),
        "headline": {
            **data.get("headline", {}),
            "top_stage_label": stage_label(data.get("headline", {}).get("top_stage") or ""),
        },
        "volume": {
            **volume,
            "bucket_rows": [
                {
                    "label": local(
                        b["start"], "%H:%M" if volume["bucket_minutes"] < 1440 else "%m-%d"
                    ),
                    **b,
                }
                for b in volume.get("buckets", [])
            ],
            "category_rows": category_rows,
            "orders": orders,
        },
        "stages": {
            **stages,
            "rows": [{**row, "label": stage_label(row["stage"])} for row in stages.get("rows", [])],
        },
        "measures": [
            {
                **m,
                "kind_label": _measure_kind(m["kind"]),
                "what_label": _measure_what(m),
                "stage_label": stage_label(m.get("stage", "")),
                "from_local": local(m["from"]),
                "until_local": local(m["until"]),
            }
            for m in data.get("measures", [])
        ],
        "suggestions": [
            {**s, "title": suggestion_title(s["code"]), "text": suggestion_text(s)}
            for s in data.get("suggestions", [])
        ],
        "timeline": [
            {**t, "at_local": local(t["at"], "%m-%d %H:%M"), "label": verb_label(t["verb"])}
            for t in data.get("timeline", [])
        ],
    }


def review_tables(present: dict) -> list[tuple[str, list[str], list[list]]]:
    """The report's tables: (sheet name, headers, rows), one sheet each in the XLSX."""
    headline = present["headline"]
    review = present["review"]
    summary = [
        [_("Title"), str(review)],
        [_("From"), present["window"]["start"]],
        [_("Until"), present["window"]["end"]],
        [_("Status"), review.get_status_display()],
        [_("Orders received"), headline.get("orders")],
        [_("Baseline orders"), headline.get("baseline_orders")],
        [_("Change (%)"), headline.get("change_pct")],
        [_("Extra dwell (min, all stages)"), headline.get("extra_min_total")],
        [_("Stage with most extra time"), headline.get("top_stage_label")],
        [_("Baseline"), present["baseline_text"]],
        [_("Supervisor's notes"), review.notes],
    ]
    return [
        (_("Summary"), [_("Item"), _("Value")], summary),
        (
            _("Volume"),
            [_("From"), _("Orders"), _("Baseline orders")],
            [[b["label"], b["orders"], b["baseline"]] for b in present["volume"]["bucket_rows"]],
        ),
        (
            _("Categories"),
            [_("Category"), _("Orders"), _("Share (%)")],
            [
                [c["group"], c.get("orders"), c.get("share")]
                for c in present["volume"]["category_rows"]
            ],
        ),
        (
            _("Stages"),
            [
                _("Stage"),
                _("Entered"),
                _("Passed automatically"),
                _("Manual"),
                _("Still waiting"),
                _("Median (min)"),
                _("Mean (min)"),
                _("Baseline median (min)"),
                _("Baseline mean (min)"),
                _("Extra time (min)"),
                _("Share of extra time (%)"),
            ],
            [
                [
                    r["label"],
                    r["entered"],
                    r["auto"],
                    r["manual"],
                    r["open"],
                    r["median_min"],
                    r["mean_min"],
                    r["baseline_median_min"],
                    r["baseline_mean_min"],
                    r["extra_min"],
                    r["extra_share"],
                ]
                for r in present["stages"]["rows"]
            ],
        ),
        (
            _("Measures"),
            [
                _("Measure"),
                _("What"),
                _("From"),
                _("Until"),
                _("By"),
                _("Reason"),
                _("Orders"),
                _("Median dwell with (min)"),
                _("Median dwell without (min)"),
                _("Obligations open"),
            ],
            [
                [
                    m["kind_label"],
                    m["what_label"],
                    m["from_local"],
                    m["until_local"],
                    m["by"],
                    m["reason"],
                    m["orders"],
                    m["with_median_min"],
                    m["without_median_min"],
                    m["obligations_open"],
                ]
                for m in present["measures"]
            ],
        ),
        (
            _("Suggestions"),
            [_("Suggestion"), _("Evidence"), _("Minutes at stake")],
            [[s["title"], s["text"], s["minutes"]] for s in present["suggestions"]],
        ),
        (
            _("Timeline"),
            [_("At"), _("Event"), _("Who"), _("Subject"), _("Reason")],
            [
                [t["at_local"], t["label"], t["who"], t["subject"], t["reason"]]
                for t in present["timeline"]
            ],
        ),
    ]
