"""Audit events of the notification outbox (one small function each)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_record
from backoffice.audit.verbs import register_verbs

MESSAGE_GIVEN_UP = "notification.given_up"
MESSAGE_RETRIED = "notification.retried"

register_verbs(
    {
        MESSAGE_GIVEN_UP: _("Notification given up"),
        MESSAGE_RETRIED: _("Notification retry requested"),
    }
)


def message_given_up_event(*, message, at):
    return audit_record(
        verb=MESSAGE_GIVEN_UP,
        subject=message,
        reason=message.last_error,
        at=at,
        payload={
            "event": message.event,
            "level": message.level,
            "attempts": message.attempts,
            "chain": message.chain,
            "created_at": message.created_at,
        },
    )


def message_retried_event(*, message, by, at):
    return audit_record(
        verb=MESSAGE_RETRIED,
        actor=by,
        subject=message,
        at=at,
        payload={"event": message.event, "status_before": message.status},
    )
