from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from backoffice.notifications.models import Notification


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
