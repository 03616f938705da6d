"""The dead-man alarm: notice when the task queue (qcluster) stopped beating.

The qcluster writes a heartbeat every minute. When the last beat is older than
HEARTBEAT_MAX_AGE, every admin page shows a banner, `/healthz` fails, and the
supervisors are told once per outage, through a path that does not need the task
queue: the process that notices (a web request, or `manage.py deadman_check` from
cron) delivers the message itself. The next heartbeat ends the outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.models import Heartbeat, Outage
from backoffice.notifications.models import Notification
from backoffice.notifications.selectors import channels_for_supervisors
from backoffice.notifications.services import notify

QCLUSTER = "qcluster"


@dataclass(frozen=True)
class DeadmanStatus:
    stale: bool
    never_beat: bool
    last_beat_at: datetime | None

    @property
    def minutes(self) -> int:
        if self.last_beat_at is None:
            return 0
        return int((timezone.now() - self.last_beat_at).total_seconds() // 60)


def deadman_status(*, name: str = QCLUSTER, now: datetime | None = None) -> DeadmanStatus:
    now = now or timezone.now()
    beat_at = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return DeadmanStatus(stale=True, never_beat=True, last_beat_at=None)
    stale = (now - beat_at).total_seconds() > settings.HEARTBEAT_MAX_AGE
    return DeadmanStatus(stale=stale, never_beat=False, last_beat_at=beat_at)


def _supervisors():
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=settings.SUPERVISORS_GROUP)
        .distinct()
    )


def deadman_check(*, name: str = QCLUSTER, now: datetime | None = None) -> Outage | None:
    """Open the outage and alarm the supervisors if the heartbeat is stale (once per
    outage). A process that never beat (a fresh install) shows the banner only."""
    now = now or timezone.now()
    status = deadman_status(name=name, now=now)
    if not status.stale or status.never_beat:
        return None
    if Outage.objects.filter(name=name, ended_at=None).exists():
        return None
    try:
        with transaction.atomic():
            outage = Outage.objects.create(
                name=name, started_at=now, last_beat_at=status.last_beat_at
            )
    except IntegrityError:  # someone else noticed at the same moment
        return None
    local = timezone.localtime(status.last_beat_at)
    notify(
        recipients=_supervisors(),
        subject=_("The task queue has stopped"),
        text=_(
            "No heartbeat from the background workers since %(at)s: schedules, alarms and "
            "notifications are not running. Restart the qcluster."
        )
        % {"at": local.strftime("%Y-%m-%d %H:%M:%S")},
        link="/healthz",
        level=Notification.Level.URGENT,
        channels=list(channels_for_supervisors()),
        event=f"outage:{outage.pk}",
        deliver_now=True,
    )
    return outage


def deadman_recovered(*, name: str = QCLUSTER, now: datetime | None = None) -> Outage | None:
    """Called with each heartbeat: end an open outage and say so."""
    now = now or timezone.now()
    outage = Outage.objects.filter(name=name, ended_at=None).first()
    if outage is None:
        return None
    if not Outage.objects.filter(pk=outage.pk, ended_at=None).update(ended_at=now):
        return None
    minutes = int((now - outage.started_at).total_seconds() // 60)
    notify(
        recipients=_supervisors(),
        subject=_("The task queue is running again"),
        text=_("The background workers are back after about %(minutes)s min.")
        % {"minutes": minutes},
        link="/healthz",
        channels=list(channels_for_supervisors()),
        event=f"outage:{outage.pk}",
    )
    return outage
