from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from backoffice.notifications.delivery import (
    channels_in_chain,
    message_deliver,
    message_queue,
    message_retry,
    messages_sweep,
    quiet_hours_end,
)
from backoffice.notifications.models import Message, Notification, NotificationChannel

__all__ = [
    "message_deliver",
    "message_retry",
    "messages_sweep",
    "notification_send_in_app",
    "notifications_mark_read",
    "notify",
]

logger = logging.getLogger(__name__)


def notification_send_in_app(
    *, recipients: Iterable, text: str, link: str = "", level: str = Notification.Level.INFO
) -> list[Notification]:
    """Put a message in each recipient's to-do list (one row each, one query)."""
    rows = [
        Notification(recipient=user, text=str(text)[:500], link=link, level=level)
        for user in {u.pk: u for u in recipients}.values()
    ]
    return Notification.objects.bulk_create(rows)


def notifications_mark_read(*, user, ids: Iterable[int] | None = None) -> int:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def notify(
    *,
    recipients: Iterable = (),
    subject: str,
    text: str,
    link: str = "",
    level: str = Notification.Level.INFO,
    channels: Iterable[NotificationChannel | int] = (),
    event: str = "",
    quiet_hours: tuple[datetime.time, datetime.time] | None = None,
    deliver_now: bool = False,
    in_app: bool = True,
) -> Message | None:
    """Tell people something: in their to-do list at once, and through `channels`.

    `channels` is the fallback chain, in order (disabled ones are skipped): the first
    that accepts the message within its latency budget delivers it. The outgoing
    `Message` is queued after commit and retried with backoff by the sweeper; a
    non-urgent one created inside `quiet_hours` (local times, may wrap midnight) waits
    for the end of the window. `deliver_now` sends in this process, without the task
    queue (for alarms about the task queue itself). `in_app=False` skips the in-app
    copy (the caller wrote it already) while still mailing the recipients. Returns the
    Message, or None when no enabled channel was given.
    """
    users, given = list(recipients), list(channels)
    chain = channels_in_chain(c.pk if isinstance(c, NotificationChannel) else c for c in given)
    subject, text = str(subject), str(text)
    now = timezone.now()
    with transaction.atomic():
        if users and in_app:
            notification_send_in_app(
                recipients=users, text=_in_app_text(subject, text), link=link, level=level
            )
        if not chain:
            if given:
                logger.warning("notify(event=%r): every channel given is disabled", event)
            return None
        quiet_from, quiet_until = quiet_hours or (None, None)
        if level == Notification.Level.URGENT:
            quiet_from = quiet_until = None
        message = Message.objects.create(
            subject=subject[:200],
            text=text,
            link=link,
            level=level,
            event=event,
            recipient_emails=list(dict.fromkeys(u.email for u in users if u.email)),
            chain=[c.pk for c in chain],
            quiet_from=quiet_from,
            quiet_until=quiet_until,
            next_attempt_at=quiet_hours_end(now, quiet_from, quiet_until) or now,
            created_at=now,
        )
        # A deferred message is the sweeper's: queueing it now would find it not due.
        if not deliver_now and message.next_attempt_at <= now:
            message_queue(message)
    if deliver_now:
        return message_deliver(message_id=message.pk) or message
    return message


def _in_app_text(subject: str, text: str) -> str:
    if subject and text:
        return f"{subject}: {text}"
    return subject or text
