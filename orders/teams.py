"""The stage teams: one Django group per team, with the permissions of its stages.

Created after every `migrate` if missing (never altered afterwards: a supervisor may
have tuned them). Surge staffing grants people these roles for a limited time.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

_VIEW = [
    "orders.view_order",
    "orders.view_customer",
    "orders.view_product",
    "orders.view_stocklevel",
    "orders.view_stagevisit",
    "orders.view_payment",
    "orders.view_warehouse",
    "orders.view_coupon",
    "orders.view_partner",
    "audit.view_auditevent",
    "orders.view_stagesetting",
    "orders.view_stagebreaker",
    "orders.view_breakerevent",
    "orders.view_alarmepisode",
    "orders.view_surgegrant",
    "orders.view_evaluationcard",
    "orders.view_orderhealth",
    "orders.view_scoreweights",
    "orders.view_connectorstate",
]

SALES = "Sales team"
FINANCE = "Finance team"
WAREHOUSE = "Warehouse team"
QUALITY = "QC team"
SUPERVISORS = "Supervisors"

TEAM_PERMISSIONS: dict[str, list[str]] = {
    SALES: [
        *_VIEW,
        "orders.change_order",
        "orders.process_received",
        "orders.process_sales_review",
        "orders.hold_order",
    ],
    FINANCE: [
        *_VIEW,
        "orders.change_order",
        "orders.process_finance_review",
        "orders.record_payment",
        "orders.hold_order",
    ],
    WAREHOUSE: [
        *_VIEW,
        "orders.process_stock_reservation",
        "orders.process_picking",
        "orders.change_stocklevel",
        "orders.hold_order",
    ],
    QUALITY: [*_VIEW, "orders.process_quality_check", "orders.hold_order"],
    SUPERVISORS: [
        *_VIEW,
        "orders.change_order",
        "orders.process_received",
        "orders.process_sales_review",
        "orders.process_finance_review",
        "orders.process_stock_reservation",
        "orders.process_picking",
        "orders.process_quality_check",
        "orders.hold_order",
        "orders.release_order",
        "orders.cancel_order",
        "orders.record_payment",
        "orders.change_customer",
        "orders.add_customer",
        "orders.change_product",
        "orders.add_product",
        "orders.change_stocklevel",
        "orders.add_stocklevel",
        "orders.change_coupon",
        "orders.add_coupon",
        "orders.change_partner",
        "orders.add_partner",
        "orders.add_order",
        "orders.change_stagesetting",
        "orders.add_scoreweights",
        "orders.add_surgegrant",
        "orders.change_surgegrant",
        "backoffice.view_businesscalendar",
        "backoffice.add_businesscalendar",
        "backoffice.change_businesscalendar",
        "backoffice.view_workingperiod",
        "backoffice.add_workingperiod",
        "backoffice.change_workingperiod",
        "backoffice.delete_workingperiod",
        "backoffice.view_specialday",
        "backoffice.add_specialday",
        "backoffice.change_specialday",
        "backoffice.delete_specialday",
        "backoffice.view_outage",
        "notifications.view_notificationchannel",
        "notifications.add_notificationchannel",
        "notifications.change_notificationchannel",
        "notifications.view_message",
    ],
}


def _permissions(codes: list[str]):
    wanted = {tuple(code.split(".", 1)) for code in codes}
    perms = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in wanted},
        codename__in={codename for _, codename in wanted},
    ).select_related("content_type")
    return [p for p in perms if (p.content_type.app_label, p.codename) in wanted]


def teams_ensure(**kwargs) -> list[str]:
    """Create the missing stage teams with their permissions. Returns the created names."""
    created = []
    for name, codes in TEAM_PERMISSIONS.items():
        group, was_created = Group.objects.get_or_create(name=name)
        if was_created:
            group.permissions.set(_permissions(codes))
            created.append(name)
    return created
