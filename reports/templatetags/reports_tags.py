from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as "42 min" or "2 h 05 min"; a dash for nothing."""
    if seconds is None or seconds == "":
        return "—"
    minutes = round(float(seconds) / 60)
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}


@register.filter
def percent(fraction) -> str:
    if fraction is None:
        return "—"
    return f"{round(100 * fraction)}%"
