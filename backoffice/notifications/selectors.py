from django.db.models import Prefetch

from backoffice.notifications.models import (
    DeliveryAttempt,
    Message,
    Notification,
    NotificationChannel,
)


def notifications_unread_for(user):
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


def notifications_recent_for(user, *, limit: int = 20):
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")[:limit]


def messages_for_event(event: str):
    """Who was notified of `event`, through which channel, how fast (attempts prefetched)."""
    return (
        Message.objects.filter(event=event)
        .select_related("delivered_channel")
        .prefetch_related(
            Prefetch(
                "delivery_attempts",
                queryset=DeliveryAttempt.objects.select_related("channel").order_by(
                    "started_at", "id"
                ),
            )
        )
        .order_by("created_at", "id")
    )


def channels_for_supervisors():
    """The fallback chain for supervisor alarms, in order: `notify(channels=...)`."""
    return NotificationChannel.objects.filter(enabled=True, for_supervisors=True).order_by(
        "priority", "name", "id"
    )
