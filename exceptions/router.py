"""The exceptions app's router: open blocking cases hold the main line.

- hold_back: an order with an open blocking case, or an unpaid presale order, is
  never passed automatically;
- completion_blockers: dispatch (completing quality check) is refused while a
  blocking case is open or a presale order is not fully paid — by any path.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from orders.routing import StageRouter, is_being_created
from orders.states import OrderStatus

S = OrderStatus


def _presale_unpaid(order) -> str | None:
    if order.is_presale and not order.is_paid:
        return _("Presale order not paid in full: it cannot be dispatched.")
    return None


class ExceptionsRouter(StageRouter):
    priority = 20

    def hold_back(self, order, stage):
        from exceptions.models import ExceptionCase

        if stage == S.RECEIVED:
            return None  # intake always completes; a detector holds the order after it
        reason = _presale_unpaid(order)
        if reason:
            return reason
        if is_being_created(order):
            return None  # no case can refer to an order intake is still inserting
        if order.pk and ExceptionCase.objects.blocking().filter(order_id=order.pk).exists():
            return _("An exception case holds the order.")
        return None

    def completion_blockers(self, order, stage):
        from exceptions.services.cases import order_blocking_reasons

        if stage != S.QUALITY_CHECK:
            return []
        reasons = order_blocking_reasons(order) if order.pk else []
        presale = _presale_unpaid(order)
        if presale:
            reasons.append(presale)
        return reasons
