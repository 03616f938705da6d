from django import template

from backoffice.notifications.selectors import notifications_unread_for

register = template.Library()


@register.simple_tag
def unread_notification_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return notifications_unread_for(user).count()
