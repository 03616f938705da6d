from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "backoffice.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        # Registers the audit verbs of this app.
        from backoffice.notifications import events  # noqa: F401

    def schedules(self):
        from backoffice.schedules import ScheduleSpec

        return [
            # Delivers queued messages whose task was lost and retries failing ones
            # with backoff: the outbox is the source of truth, not the task queue.
            ScheduleSpec(
                name="notifications: sweep outbox",
                func="backoffice.notifications.tasks.messages_sweep",
                minutes=1,
            ),
        ]
