"""The connector circuit breaker: stop calling a source that keeps failing.

State lives in one `ConnectorState` row per source kind, changed only by single
conditional UPDATEs, so every web process and worker shares one breaker:

- closed: calls go through; each failure adds one to `failures`, a success resets it;
- open: after `CONNECTOR_BREAKER_FAILURES` failures in a row, `open_until` is set to
  now + `CONNECTOR_BREAKER_COOLDOWN_SECONDS`; until then no call is made
  (`breaker_allow` raises SourceError "circuit open" at once);
- half-open: once `open_until` has passed, exactly one caller wins the UPDATE that
  pushes `open_until` a cool-down further and makes the trial call; a success closes
  the breaker, a failure keeps it open for another cool-down.

A call skipped because the circuit is open is not a failure of the source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.connectors.base import SourceError
from orders.models import ConnectorState

log = logging.getLogger(__name__)

# A success is written when it changes something, or when the last one recorded is
# older than this: a healthy source does not turn its row into a write hot spot.
SUCCESS_RECORD_EVERY = timedelta(seconds=5)
ERROR_LENGTH = ConnectorState._meta.get_field("last_error").max_length


def _cooldown() -> timedelta:
    return timedelta(seconds=settings.CONNECTOR_BREAKER_COOLDOWN_SECONDS)


def connector_state(kind: str) -> ConnectorState:
    state, _created = ConnectorState.objects.get_or_create(kind=kind)
    return state


def breaker_allow(
    kind: str, *, now: datetime | None = None, state: ConnectorState | None = None
) -> None:
    """Return if `kind` may be called now; raise SourceError("circuit open") if not.

    `state` is the row when the caller has just read it (saves a query)."""
    now = now or timezone.now()
    state = state or connector_state(kind)
    if state.open_until is None:
        return
    if state.open_until > now:
        raise SourceError(_("circuit open"))
    # Half-open: only the caller whose UPDATE still sees the expired open_until tries.
    won = ConnectorState.objects.filter(kind=kind, open_until=state.open_until).update(
        open_until=now + _cooldown()
    )
    if not won:
        raise SourceError(_("circuit open"))


def breaker_record_success(kind: str, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    ConnectorState.objects.filter(kind=kind).filter(
        Q(failures__gt=0)
        | Q(open_until__isnull=False)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - SUCCESS_RECORD_EVERY)
    ).update(failures=0, open_until=None, last_success_at=now)


def breaker_record_failure(kind: str, error: str, *, now: datetime | None = None) -> None:
    """One more failure in a row; the one reaching the threshold opens the breaker."""
    now = now or timezone.now()
    threshold = settings.CONNECTOR_BREAKER_FAILURES
    ConnectorState.objects.filter(kind=kind).update(
        # Right-hand sides read the row as it was before this UPDATE.
        open_until=Case(
            When(failures__gte=threshold - 1, then=Value(now + _cooldown())),
            default=F("open_until"),
        ),
        failures=F("failures") + 1,
        last_failure_at=now,
        last_error=error[:ERROR_LENGTH],
    )


def breaker_call(kind: str, call: Callable[[], dict]) -> dict:
    """Call through the breaker in this thread: skip while open, record the outcome."""
    breaker_allow(kind)
    try:
        result = call()
    except SourceError as exc:
        breaker_record_failure(kind, str(exc))
        raise
    breaker_record_success(kind)
    return result
