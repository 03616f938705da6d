from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"


class BackofficeConfig(AppConfig):
    name = "backoffice"
    label = "backoffice"
    verbose_name = _("Back-office system")

    def schedules(self):
        from backoffice.schedules import ScheduleSpec

        return [
            ScheduleSpec(
                name="backoffice.heartbeat",
                func="backoffice.tasks.heartbeat",
                minutes=1,
            ),
        ]
