"""Who may read and sign off reviews: the supervisors (granted once after migrate)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from orders import teams

REVIEW_PERMISSIONS = [
    "view_incidentreview",
    "add_incidentreview",
    "change_incidentreview",
    "finalize_incidentreview",
]


def review_permissions_grant(**kwargs) -> bool:
    """Give the Supervisors group the review permissions, once (a later removal by an
    administrator is kept). True when it granted them now."""
    group = Group.objects.filter(name=teams.SUPERVISORS).first()
    if group is None:
        return False
    perms = Permission.objects.filter(
        content_type__app_label="reports", codename__in=REVIEW_PERMISSIONS
    )
    if group.permissions.filter(
        content_type__app_label="reports", codename="view_incidentreview"
    ).exists():
        return False
    group.permissions.add(*perms)
    return True
