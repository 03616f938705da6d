from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def review_title_for(start, end) -> str:
    """A review's name from its window, in the active language."""
    local_start, local_end = timezone.localtime(start), timezone.localtime(end)
    same_day = local_start.date() == local_end.date()
    return gettext("Backlog %(day)s %(start)s–%(end)s") % {
        "day": f"{local_start:%Y-%m-%d}",
        "start": f"{local_start:%H:%M}",
        "end": f"{local_end:%H:%M}" if same_day else f"{local_end:%m-%d %H:%M}",
    }


class IncidentReview(models.Model):
    """The post-incident review of a backlog episode, or of a window a supervisor picked.

    `data` holds every number of the report as generated (sections, tables, chart
    series, suggestions with their evidence), so the page, the PDF and the XLSX
    show the same figures, and a later change of the data does not rewrite a
    review a supervisor has finalised.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        FINAL = "final", _("Final")

    # What a supervisor named it; empty for the nightly job's reviews (and a window
    # left unnamed), which are named after their window in each reader's language.
    title = models.CharField(_("title"), max_length=200, blank=True)
    # The alarm episode it reviews (the first one, when overlapping alarms are merged);
    # unique so the nightly job never creates a second review of one episode.
    episode = models.OneToOneField(
        "orders.AlarmEpisode",
        verbose_name=_("alarm episode"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review",
    )
    window_start = models.DateTimeField(_("from"))
    window_end = models.DateTimeField(_("until"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    notes = models.TextField(_("supervisor's notes"), blank=True)
    data = models.JSONField(_("report data"), default=dict, blank=True)
    generated_at = models.DateTimeField(_("generated at"), default=timezone.now)
    generation_ms = models.PositiveIntegerField(_("generation time (ms)"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    finalized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("finalised by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    finalized_at = models.DateTimeField(_("finalised at"), null=True, blank=True)

    class Meta:
        verbose_name = _("post-incident review")
        verbose_name_plural = _("post-incident reviews")
        ordering = ["-window_start", "-id"]
        permissions = [("finalize_incidentreview", _("Can finalise post-incident reviews"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")),
                name="review_window_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.title or review_title_for(self.window_start, self.window_end)
