"""The brute-force lockout of authorization-code entry: failed attempts counted per user
and per IP address in the database (conditional UPDATEs, never a process-local or
cache counter), 5 failures in 15 minutes lock code entry for 15 minutes and tell the
supervisors once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils.translation import gettext_lazy as _

from approvals import events
from approvals.models import CodeAttemptCounter
from backoffice.audit.services import audit_actor, audit_record
from backoffice.notifications.models import Notification
from backoffice.notifications.services import notify

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def counter_keys(by, ip: str | None) -> list[str]:
    # Always in this order (user, then IP): concurrent reservations never deadlock.
    keys = [f"user:{by.pk}"] if audit_actor(by) is not None else []
    if ip:
        keys.append(f"ip:{ip}"[:80])
    return keys


def _unlocked(now: datetime) -> Q:
    return Q(locked_until__isnull=True) | Q(locked_until__lte=now)


def _reserve(key: str, now: datetime) -> bool:
    """Count one attempt on `key` unless it is locked or its window is full. One UPDATE:
    the database serialises it, so concurrent attempts never pass the limit."""
    stale = Q(window_started_at__lte=now - FAILURE_WINDOW)
    return (
        CodeAttemptCounter.objects.filter(
            _unlocked(now), Q(failures__lt=MAX_FAILURES) | stale, key=key
        ).update(
            failures=Case(
                When(stale, then=Value(1)),
                default=F("failures") + 1,
                output_field=models.PositiveIntegerField(),
            ),
            window_started_at=Case(
                When(stale, then=Value(now)),
                default=F("window_started_at"),
                output_field=models.DateTimeField(),
            ),
        )
        == 1
    )


def attempts_reserve(keys: list[str], now: datetime) -> bool:
    """Reserve an attempt on every counter, or on none (creating missing counters)."""
    try:
        with transaction.atomic():
            for key in keys:
                if _reserve(key, now):
                    continue
                CodeAttemptCounter.objects.get_or_create(
                    key=key, defaults={"window_started_at": now}
                )
                if not _reserve(key, now):
                    raise _Locked
    except _Locked:
        return False
    return True


class _Locked(Exception):
    pass


def minutes_locked(keys: list[str], now: datetime) -> int:
    ends = []
    for locked_until, started in CodeAttemptCounter.objects.filter(key__in=keys).values_list(
        "locked_until", "window_started_at"
    ):
        if locked_until is not None and locked_until > now:
            ends.append(locked_until)
        else:
            ends.append(started + FAILURE_WINDOW)
    seconds = max(((end - now).total_seconds() for end in ends), default=60)
    return max(1, math.ceil(seconds / 60))


def attempts_give_back(keys: list[str]) -> None:
    CodeAttemptCounter.objects.filter(key__in=keys).update(
        failures=Case(
            When(failures__gt=0, then=F("failures") - 1),
            default=Value(0),
            output_field=models.PositiveIntegerField(),
        )
    )


def failure_record(*, keys, by, ip, order, kind: str, now: datetime) -> None:
    """Confirm a failed attempt; the one that fills a window locks it (exactly once)."""
    actor = audit_actor(by)
    with transaction.atomic():
        # Lock the counters first, in the order reservations take them ("user:" sorts
        # after "ip:"): a reservation cannot slip in between reading one counter and
        # the other, so one attempt, not two, is the one that locks a window.
        counters = CodeAttemptCounter.objects.select_for_update().filter(key__in=keys)
        locked = [
            counter.key
            for counter in counters.order_by("-key")
            if counter.failures >= MAX_FAILURES
            and (counter.locked_until is None or counter.locked_until <= now)
        ]
        if locked:
            CodeAttemptCounter.objects.filter(key__in=locked).update(locked_until=now + LOCKOUT)
        audit_record(
            verb=events.CODE_FAILED,
            actor=actor,
            subject=order,
            at=now,
            payload={"ip": ip, "kind": kind, **({"locked": locked} if locked else {})},
        )
        if not locked:
            return
        audit_record(
            verb=events.CODE_LOCKOUT,
            actor=actor,
            subject=order,
            at=now,
            payload={"ip": ip, "keys": locked, "locked_until": now + LOCKOUT},
        )
        who = str(actor) if actor is not None else str(ip)
        supervisors = get_user_model().objects.filter(
            is_active=True, groups__name=settings.SUPERVISORS_GROUP
        )
        notify(
            recipients=supervisors.distinct(),
            subject=_("Authorization code entry locked"),
            text=_("%(who)s entered %(n)s wrong codes; code entry is locked for %(m)s minutes.")
            % {"who": who, "n": MAX_FAILURES, "m": int(LOCKOUT.total_seconds() // 60)},
            level=Notification.Level.WARNING,
            event=events.CODE_LOCKOUT,
        )
