from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """The bottleneck dashboard, heatmaps, post-incident reviews and load drills."""

    name = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from orders.signals import order_claimed
        from reports.activity import on_claim, on_login

        # Post-incident review: its audit verbs, and the supervisors' permissions.
        from reports.review import events  # noqa: F401

        # Signs of life for the dashboard's "unattended" and "stalled" flags.
        user_logged_in.connect(on_login, dispatch_uid="reports.activity.login")
        order_claimed.connect(on_claim, dispatch_uid="reports.activity.claim")
        post_migrate.connect(_grant_after_migrate, sender=self, dispatch_uid="reports.grants")
        post_migrate.connect(
            _review_permissions_after_migrate, sender=self, dispatch_uid="reports.review.teams"
        )

    def schedules(self):
        from backoffice.schedules import ScheduleSpec

        return [
            # The dashboard's hourly rollups: the hours completed since the watermark.
            ScheduleSpec(
                name="reports.rollups_update", func="reports.tasks.rollups_update", minutes=5
            ),
            ScheduleSpec(
                name="reports.activity_purge", func="reports.tasks.activity_purge", minutes=60
            ),
            # Post-incident reviews of yesterday's backlog episodes. Not a cron string
            # (croniter is not installed): the job runs every half hour and itself
            # decides what is due (finished episodes before today without a review),
            # so running it again never duplicates a review.
            ScheduleSpec(
                name="reports.reviews_nightly", func="reports.tasks.reviews_nightly", minutes=30
            ),
        ]

    def admin_site_urls(self, site):
        from django.urls import path

        from reports.views import dashboard_view

        return [
            path(
                "dashboard/",
                site.admin_view(lambda request: dashboard_view(request, site)),
                name="dashboard",
            )
        ]

    def admin_landing(self, request):
        """Supervisors land on the bottleneck dashboard."""
        from django.urls import reverse

        from reports.views import DASHBOARD_PERMISSION

        if request.user.has_perm(DASHBOARD_PERMISSION):
            return reverse("admin:dashboard")
        return None

    def demo_seed(self, *, now):
        """Yesterday's backlog episode (alarms, breaker, bypass, peak support) and its
        generated review; the dashboard's rollups of the demo's history."""
        from reports.demo import reports_demo_seed
        from reports.rollups import rollups_rebuild

        rollups_rebuild(now=now)
        reports_demo_seed(now=now)

    def demo_reset(self):
        from reports.demo import reports_demo_reset

        reports_demo_reset()


def _grant_after_migrate(sender, **kwargs):
    """The supervisors' team may see the dashboard (added once, never removed)."""
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.filter(name=settings.SUPERVISORS_GROUP).first()
    permission = Permission.objects.filter(
        content_type__app_label="reports", codename="view_dashboard"
    ).first()
    if group and permission:
        group.permissions.add(permission)


def _review_permissions_after_migrate(sender, **kwargs):
    from reports.review.teams import review_permissions_grant

    review_permissions_grant()
