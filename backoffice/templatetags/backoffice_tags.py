from django import template

from backoffice.notifications.selectors import notifications_unread_for

register = template.Library()


@register.simple_tag
def unread_notification_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return notifications_unread_for(user).count()


@register.simple_tag
def deadman_banner(user):
    """The dead-man status for the banner of every admin page (one indexed query while
    healthy). Noticing a stale heartbeat here also raises the alarm, once per outage."""
    if not getattr(user, "is_staff", False):
        return None
    from backoffice.deadman import deadman_check, deadman_status

    status = deadman_status()
    if not status.stale:
        return None
    deadman_check()
    return status
