"""The exceptions section of the order page (registered in ExceptionsConfig.ready):
the order's open cases with their tag, status and SLA countdown, each linking to the
case, and "Raise an exception case". On top of the page while a case holds the order."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from exceptions.models import ExceptionCase
from exceptions.models.cases import OPEN_STATUSES
from orders.admin.helpers import humanize_duration
from orders.admin.panels import OrderPanel, PanelLink
from orders.states import MAIN_LINE, OrderStatus

RAISABLE = (*MAIN_LINE, OrderStatus.ON_HOLD)


def _countdown(case: ExceptionCase, now) -> tuple[str, bool]:
    left = case.sla_due_at - now
    if left.total_seconds() <= 0:
        return gettext("overdue by %(time)s") % {"time": humanize_duration(-left)}, True
    return gettext("%(time)s left") % {"time": humanize_duration(left)}, False


def exceptions_order_panel(request, order) -> OrderPanel | None:
    """One query: the order's open cases, blocking first, then the earliest due."""
    cases = list(
        ExceptionCase.objects.filter(order_id=order.pk, status__in=OPEN_STATUSES)
        .select_related("type", "claimed_by")
        .order_by("-blocking", "sla_due_at", "id")
    )
    now = timezone.now()
    rows: list[tuple[str, str, str]] = []
    for case in cases:
        countdown, overdue = _countdown(case, now)
        text = gettext("%(tag)s #%(id)s %(status)s · %(countdown)s") % {
            "tag": case.type.tag,
            "id": case.pk,
            "status": case.get_status_display(),
            "countdown": countdown,
        }
        if case.claimed_by_id:
            text = gettext("%(text)s · handled by %(who)s") % {
                "text": text,
                "who": case.claimed_by.get_username(),
            }
        if case.blocking:
            text = gettext("%(text)s · holds the order") % {"text": text}
        url = reverse("admin:exceptions_exceptioncase_change", args=[case.pk])
        rows.append((text, url, "overdue" if overdue else "blocking" if case.blocking else ""))
    links: list[PanelLink] = []
    if request.user.has_perm("exceptions.add_exceptioncase") and order.status in RAISABLE:
        url = f"{reverse('exceptions-case-new')}?order={order.pk}"
        links.append(PanelLink(label=gettext("Raise an exception case"), url=url))
    if not rows and not links:
        return None
    return OrderPanel(
        title=_("Exception cases"),
        rows=rows,
        links=links,
        order=20,
        on_top=any(case.blocking for case in cases),
    )
