"""Section 5: the timeline of flow-control and approval audit events around the
window."""

from __future__ import annotations

from datetime import datetime, timedelta

from approvals import events as approval_events
from backoffice.audit.models import AuditEvent
from orders import events as order_events
from reports.review.sections.common import iso

TIMELINE_MARGIN = timedelta(hours=1)
TIMELINE_LIMIT = 300
TIMELINE_VERBS = [
    order_events.ALARM_STARTED,
    order_events.ALARM_ENDED,
    order_events.BREAKER_TRIPPED,
    order_events.BREAKER_RESET,
    order_events.SURGE_GRANTED,
    order_events.SURGE_ENDED,
    order_events.STAGE_SETTING_CHANGED,
    approval_events.BYPASS_ON,
    approval_events.BYPASS_OFF,
    approval_events.BYPASS_EXPIRED,
    approval_events.CODE_ISSUED,
    approval_events.CODE_REVOKED,
    approval_events.RULE_CREATED,
    approval_events.RULE_CHANGED,
    approval_events.RULE_APPLIED_TO_WAITING,
]


# --- 5. Timeline ----------------------------------------------------------------------


def timeline_section(*, start: datetime, end: datetime) -> list[dict]:
    events = (
        AuditEvent.objects.filter(
            verb__in=TIMELINE_VERBS,
            at__gte=start - TIMELINE_MARGIN,
            at__lte=end + TIMELINE_MARGIN,
        )
        .select_related("actor")
        .order_by("at", "id")[:TIMELINE_LIMIT]
    )
    return [
        {
            "at": iso(event.at),
            "verb": event.verb,
            "who": event.actor.get_username() if event.actor_id else (event.actor_label or ""),
            "subject": event.subject_label,
            "reason": (event.reason or "")[:300],
            "stage": str(event.payload.get("stage", "")) if event.payload else "",
        }
        for event in events
    ]
