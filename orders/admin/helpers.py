from datetime import timedelta

from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from orders.states import OrderStatus

# Stage badge colours: one hue per part of the line, red for holds.
STAGE_COLOURS = {
    OrderStatus.RECEIVED: "#64748b",
    OrderStatus.SALES_REVIEW: "#2563eb",
    OrderStatus.FINANCE_REVIEW: "#7c3aed",
    OrderStatus.STOCK_RESERVATION: "#0891b2",
    OrderStatus.PICKING: "#d97706",
    OrderStatus.QUALITY_CHECK: "#65a30d",
    OrderStatus.DISPATCHED: "#15803d",
    OrderStatus.ON_HOLD: "#dc2626",
    OrderStatus.CANCELLED: "#475569",
}


def stage_badge(status: str, label: str):
    return format_html(
        '<span class="stage-badge" data-stage="{}" style="background:{}">{}</span>',
        status,
        STAGE_COLOURS.get(status, "#475569"),
        label,
    )


def humanize_duration(delta: timedelta | None) -> str:
    """'2 h 05 min', '12 min', '3 d 4 h': compact enough for a list column."""
    if delta is None:
        return "–"
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


def age_of(moment) -> timedelta | None:
    return timezone.now() - moment if moment else None
