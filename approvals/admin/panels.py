"""The approvals section of the order page (registered in ApprovalsConfig.ready)."""

from __future__ import annotations


def approvals_order_panel(request, order):
    return None
