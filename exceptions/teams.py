"""The customer-service team (owner of address changes, gifts and return/exchange sync)
and the exceptions app's permissions for the stage teams of `orders.teams`.

Run after the exceptions app's migrations; a team that already holds any exceptions
permission is left as its supervisor tuned it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group

from orders import teams
from orders.teams import TEAM_PERMISSIONS, _permissions

CUSTOMER_SERVICE = "Customer service team"

_VIEW = ["exceptions.view_exceptioncase", "exceptions.view_exceptiontype"]
_WORK = [*_VIEW, "exceptions.work_exceptioncase", "exceptions.add_exceptioncase"]

EXCEPTIONS_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER_SERVICE: [
        *_WORK,
        *[p for p in TEAM_PERMISSIONS[teams.SALES] if p.endswith(("view_order", "change_order"))],
        "orders.view_order",
        "orders.view_stagevisit",
        "orders.view_customer",
        "orders.view_product",
        "audit.view_auditevent",
    ],
    teams.SALES: _WORK,
    teams.FINANCE: _WORK,
    teams.WAREHOUSE: _VIEW,
    teams.QUALITY: _VIEW,
    teams.SUPERVISORS: [
        *_WORK,
        "exceptions.assign_exceptioncase",
        "exceptions.add_exceptiontype",
        "exceptions.change_exceptiontype",
    ],
}


def exceptions_teams_ensure(**kwargs) -> list[str]:
    """Create the customer-service team if missing and grant each team its exceptions
    permissions once. Returns the names of the teams changed."""
    changed = []
    Group.objects.get_or_create(name=CUSTOMER_SERVICE)
    for name, codes in EXCEPTIONS_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is None or group.permissions.filter(content_type__app_label="exceptions").exists():
            continue
        group.permissions.add(*_permissions(codes))
        changed.append(name)
    return changed
