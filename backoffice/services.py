from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from backoffice.models import Heartbeat


def heartbeat_record(*, name: str, at: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": at or timezone.now()})
    from backoffice.deadman import deadman_recovered

    deadman_recovered(name=name, now=at)


def heartbeat_age(*, name: str) -> timedelta | None:
    """How long ago `name` last beat, or None if it never did."""
    beat_at = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return None
    return timezone.now() - beat_at


def heartbeat_is_fresh(*, name: str) -> bool:
    age = heartbeat_age(name=name)
    return age is not None and age.total_seconds() <= settings.HEARTBEAT_MAX_AGE
