from backoffice.notifications.models import Notification


def notifications_unread_for(user):
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


def notifications_recent_for(user, *, limit: int = 20):
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")[:limit]
