"""Signs of life of the staff: logins and claims, for the dashboard's flags.

Completed visits are read from the timeline; logins and claims are recorded here
because nothing else keeps them (a user's last_login is overwritten).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from orders.models import StageSetting, SurgeGrant
from reports.models import StaffActivity


def activity_record(*, user, kind: str, stage: str = "", at: datetime | None = None) -> None:
    if user is None or not user.is_staff:
        return
    StaffActivity.objects.create(user=user, kind=kind, stage=stage, at=at or timezone.now())


def on_login(sender, request, user, **kwargs):
    activity_record(user=user, kind=StaffActivity.Kind.LOGIN)


def on_claim(sender, order, user, stage, at, **kwargs):
    activity_record(user=user, kind=StaffActivity.Kind.CLAIM, stage=stage, at=at)


def stage_people(settings_by_stage: dict[str, StageSetting], *, now: datetime) -> dict[str, set]:
    """Per stage: the ids of its people (owner, owner team's members, people lent to
    that team by an active surge grant). Two queries for all stages."""
    groups = {s.owner_group_id for s in settings_by_stage.values() if s.owner_group_id}
    members: dict[int, set[int]] = {group: set() for group in groups}
    users = get_user_model().objects.filter(is_active=True, groups__in=groups)
    for user_id, group_id in users.values_list("id", "groups"):
        members.setdefault(group_id, set()).add(user_id)
    grants = SurgeGrant.objects.filter(team__in=groups, revoked_at=None, until__gt=now)
    for user_id, group_id in grants.values_list("user_id", "team_id"):
        members.setdefault(group_id, set()).add(user_id)
    people = {}
    for stage, setting in settings_by_stage.items():
        ids = set(members.get(setting.owner_group_id, ())) if setting.owner_group_id else set()
        if setting.owner_user_id:
            ids.add(setting.owner_user_id)
        people[stage] = ids
    return people


def activity_purge(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.REPORTS_ACTIVITY_RETENTION_DAYS)
    deleted, _ = StaffActivity.objects.filter(at__lt=cutoff).delete()
    return deleted
