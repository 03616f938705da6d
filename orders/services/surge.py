"""Surge staffing: lend a person to a stage team until a time, with a reason."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.audit.services import audit_record
from backoffice.notifications.services import notify
from orders import events, teams
from orders.models import SurgeGrant
from orders.services.errors import ActionForbidden, InvalidOrderInput

GRANTABLE_TEAMS = [teams.SALES, teams.FINANCE, teams.WAREHOUSE, teams.QUALITY]


def surge_grant(*, user, team: Group, until: datetime, reason: str, by) -> SurgeGrant:
    """Give `user` the permissions of `team` until `until` (supervisors only)."""
    if not by.has_perm("orders.add_surgegrant"):
        raise ActionForbidden()
    now = timezone.now()
    if not reason.strip():
        raise InvalidOrderInput(_("A reason is required for peak support."))
    if until <= now:
        raise InvalidOrderInput(_("The end of the grant must be in the future."))
    if team.name not in GRANTABLE_TEAMS:
        raise InvalidOrderInput(_("Only stage teams can be lent."))
    with transaction.atomic():
        grant = SurgeGrant.objects.create(
            user=user, team=team, until=until, reason=reason.strip(), granted_by=by, granted_at=now
        )
        audit_record(
            verb=events.SURGE_GRANTED,
            actor=by,
            subject=grant,
            reason=grant.reason,
            at=now,
            payload={"user": user.get_username(), "team": team.name, "until": until},
        )
        notify(
            recipients=[user],
            subject=_("You are helping the %(team)s") % {"team": team.name},
            text=_("Until %(until)s: %(reason)s")
            % {"until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M"), "reason": reason},
            link=reverse("admin:orders_todo"),
        )
    return grant


def surge_revoke(grant: SurgeGrant, *, by, reason: str = "") -> SurgeGrant:
    if not by.has_perm("orders.change_surgegrant"):
        raise ActionForbidden()
    now = timezone.now()
    with transaction.atomic():
        updated = SurgeGrant.objects.filter(pk=grant.pk, revoked_at=None).update(
            revoked_at=now, revoked_by=by, ended_noted_at=now
        )
        if updated:
            audit_record(
                verb=events.SURGE_ENDED,
                actor=by,
                subject=grant,
                reason=reason,
                at=now,
                payload={"user": grant.user.get_username(), "why": "revoked"},
            )
    grant.refresh_from_db()
    return grant


def surge_grants_expire(*, now: datetime | None = None) -> int:
    """Record the end of every grant that ran out (the permission already ended with
    it: see orders.auth). Idempotent: each end is recorded once."""
    now = now or timezone.now()
    ended = 0
    due = SurgeGrant.objects.filter(
        revoked_at=None, ended_noted_at=None, until__lte=now
    ).select_related("user", "team")
    for grant in due[:500]:
        with transaction.atomic():
            if not SurgeGrant.objects.filter(pk=grant.pk, ended_noted_at=None).update(
                ended_noted_at=now
            ):
                continue
            audit_record(
                verb=events.SURGE_ENDED,
                actor=None,
                subject=grant,
                at=now,
                payload={
                    "user": grant.user.get_username(),
                    "team": grant.team.name,
                    "why": "expired",
                },
            )
            notify(
                recipients=[grant.user],
                subject=_("Your help for the %(team)s has ended") % {"team": grant.team.name},
                text=_("Thank you. The role ended at %(until)s.")
                % {"until": timezone.localtime(grant.until).strftime("%Y-%m-%d %H:%M")},
            )
            ended += 1
    return ended
