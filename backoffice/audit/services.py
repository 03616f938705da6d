from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from backoffice.audit.models import AuditEvent

SYSTEM = "system"

# The events of the current `audit_batched()` block, if any (per thread and task).
_batch: ContextVar[list[AuditEvent] | None] = ContextVar("audit_batch", default=None)


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    # Decimals, datetimes and UUIDs become strings the way DRF would render them.
    if all(isinstance(value, _PLAIN) for value in payload.values()):
        return payload
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def audit_actor(by):
    """The user to record as who did it: None for nobody, an anonymous user or any
    principal that is not a logged-in person (a partner key, the system)."""
    return by if by is not None and getattr(by, "is_authenticated", False) else None


def audit_record(
    *,
    verb: str,
    actor=None,
    actor_label: str = "",
    subject: models.Model | None = None,
    reason: str = "",
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
    save: bool = True,
) -> AuditEvent:
    """Append one event to the process audit log.

    Call it inside the service's transaction. `save=False` builds the event
    without writing it (for `audit_record_many`). `actor` is a user, or None with an
    `actor_label` for non-human actors (the system, a partner, a rule).
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    event = AuditEvent(
        at=at or timezone.now(),
        actor=actor,
        actor_label=actor_label or ("" if actor else SYSTEM),
        verb=verb,
        subject_type=ContentType.objects.get_for_model(subject) if subject is not None else None,
        subject_id=str(subject.pk) if subject is not None else "",
        subject_label=str(subject)[:200] if subject is not None else "",
        reason=reason,
        payload=_jsonable(payload or {}),
    )
    if save:
        batch = _batch.get()
        if batch is not None:
            batch.append(event)
        else:
            event.save(force_insert=True)
    return event


def audit_record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Write events built with `audit_record(..., save=False)` in one INSERT."""
    return AuditEvent.objects.bulk_create(events)


@contextmanager
def audit_batched() -> Iterator[None]:
    """Write the events recorded inside the block with one INSERT when it ends, in the
    order they were recorded (a service writing several in one transaction, e.g. an
    intake and the stages its order passes at once). Use it inside the transaction;
    on an error nothing is written. A nested block joins the outer one."""
    if _batch.get() is not None:
        yield
        return
    events: list[AuditEvent] = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        audit_record_many(events)


def audit_events_for(subject: models.Model):
    return AuditEvent.objects.filter(
        subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk)
    ).select_related("actor")
