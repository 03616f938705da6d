"""The approvals section of the order page (registered in ApprovalsConfig.ready)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders.admin.panels import OrderPanel, PanelLink


def _price_change_rows(request, order):
    """Pending price changes (blocking), the latest decided ones, and a link to ask for
    one while the order is early enough (one query)."""
    from approvals.models import PriceChangeRequest
    from approvals.services.prices import price_change_allowed

    rows: list[tuple[str, str, str]] = []
    links: list[PanelLink] = []
    changes = PriceChangeRequest.objects.filter(order_id=order.pk).select_related("line")
    for change in changes.order_by("-requested_at", "-id")[:10]:
        pending = change.status == PriceChangeRequest.Status.PENDING
        text = gettext("%(status)s: %(sku)s %(old)s → %(new)s CNY (%(dev)s %%)") % {
            "status": change.get_status_display(),
            "sku": change.line.sku,
            "old": change.old_unit_price,
            "new": change.new_unit_price,
            "dev": change.deviation_pct,
        }
        url = reverse("admin:approvals_pricechangerequest_change", args=[change.pk])
        rows.append((text, url, "blocking" if pending else ""))
    if request.user.has_perm("approvals.add_pricechangerequest") and price_change_allowed(order):
        url = reverse("admin:approvals_pricechangerequest_add")
        links.append(
            PanelLink(label=gettext("Request a price change"), url=f"{url}?order={order.pk}")
        )
    return rows, links


def _hhmm(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def _bypass_rows(request, order):
    """Bypasses the order went through and what it still owes (two small queries)."""
    from approvals.models import BypassUse, Obligation, SwitchKind

    rows: list[tuple[str, str, str]] = []
    links: list[PanelLink] = []
    for use in BypassUse.objects.filter(order_id=order.pk).order_by("at"):
        if use.kind == SwitchKind.COUPON_CHECK:
            text = gettext("Coupon checked by the system (emergency bypass) at %(at)s")
        else:
            text = gettext("%(kind)s (emergency bypass) at %(at)s")
        rows.append((text % {"kind": use.get_kind_display(), "at": _hhmm(use.at)}, "", ""))
    now = timezone.now()
    upload_url = reverse("admin:orders_order_qc_photo", args=[order.pk])
    for obligation in Obligation.objects.filter(order_id=order.pk).order_by("due_at"):
        if obligation.fulfilled_at is not None:
            text = gettext("Urgent dispatch: QC photo uploaded at %(at)s") % {
                "at": _hhmm(obligation.fulfilled_at)
            }
            rows.append((text, "", ""))
            continue
        overdue = obligation.is_overdue(now)
        text = gettext("Urgent dispatch: QC photo owed, due %(due)s") % {
            "due": _hhmm(obligation.due_at)
        }
        if overdue:
            text = gettext("%(text)s (overdue)") % {"text": text}
        rows.append((text, upload_url, "overdue" if overdue else ""))
        if request.user.has_perm("orders.process_quality_check") and not links:
            links.append(PanelLink(label=gettext("Upload the owed QC photo"), url=upload_url))
    return rows, links


def approvals_order_panel(request, order):
    price_rows, price_links = _price_change_rows(request, order)
    bypass_rows, bypass_links = _bypass_rows(request, order)
    rows, links = [*price_rows, *bypass_rows], [*price_links, *bypass_links]
    if not rows and not links:
        return None
    return OrderPanel(title=_("Approvals and bypasses"), rows=rows, links=links)
