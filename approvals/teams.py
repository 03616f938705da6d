"""The approvals app's permissions for the stage teams of `orders.teams`.

Granted once, after the approvals app's own migrations (its permissions do not
exist when orders creates the groups): a team that already holds any approvals
permission is left as its supervisor tuned it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group

from orders import teams
from orders.teams import _permissions

_VIEW = [
    "approvals.view_routingrule",
    "approvals.view_bypassswitch",
    "approvals.view_bypasswindow",
    "approvals.view_obligation",
    "approvals.view_pricechangerequest",
]

APPROVALS_PERMISSIONS: dict[str, list[str]] = {
    teams.SALES: [*_VIEW, "approvals.add_pricechangerequest"],
    teams.FINANCE: [*_VIEW, "approvals.add_pricechangerequest"],
    teams.WAREHOUSE: _VIEW,
    teams.QUALITY: _VIEW,
    teams.SUPERVISORS: [
        *_VIEW,
        "approvals.add_routingrule",
        "approvals.change_routingrule",
        "approvals.dry_run_routingrule",
        "approvals.view_routingruleversion",
        "approvals.change_bypassswitch",
        "approvals.operate_bypassswitch",
        "approvals.view_bypassuse",
        "approvals.add_pricechangerequest",
        "approvals.approve_pricechangerequest",
        "approvals.view_authorizationcode",
        "approvals.add_authorizationcode",
        "approvals.change_authorizationcode",
        "approvals.view_authorizationcodeuse",
    ],
}


def approvals_teams_grant(**kwargs) -> list[str]:
    """Give each existing team its approvals permissions, once. Returns the team names."""
    granted = []
    for name, codes in APPROVALS_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is None or group.permissions.filter(content_type__app_label="approvals").exists():
            continue
        group.permissions.add(*_permissions(codes))
        granted.append(name)
    return granted
