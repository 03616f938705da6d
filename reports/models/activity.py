from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StaffActivity(models.Model):
    """A sign of life of a staff member: a login to the back-office or a claim.

    Recorded for the dashboard's "unattended" and "stalled while staffed" flags
    (completed visits are read from the timeline itself); purged after
    REPORTS_ACTIVITY_RETENTION_DAYS.
    """

    class Kind(models.TextChoices):
        LOGIN = "login", _("Logged in")
        CLAIM = "claim", _("Claimed an order")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(_("activity"), max_length=10, choices=Kind)
    stage = models.CharField(_("stage"), max_length=20, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("staff activity")
        verbose_name_plural = _("staff activity")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["at"], name="activity_at"),
            models.Index(fields=["user", "at"], name="activity_user_at"),
        ]

    def __str__(self):
        return f"{self.user} {self.kind} {self.at:%Y-%m-%d %H:%M}"
