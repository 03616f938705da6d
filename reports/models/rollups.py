"""Hourly rollups of the stage timeline: what the dashboard reads instead of raw visits.

A plain GROUP BY over a month of timeline rows takes seconds at a million orders,
so the dashboard reads one row per (stage, hour) filled incrementally by a
schedule, plus the live tail since the watermark. Every column is mergeable
(counts, sums, histogram buckets): a window's numbers are sums of its hours, and
its percentiles come from the summed buckets.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from orders.states import OrderStatus


class StageHourRollup(models.Model):
    """One stage in one clock hour (UTC start): arrivals, exits and the exits' dwell.

    Arrivals count the visits that ENTERED the stage in the hour; exits, auto
    passes, dwell and SLA breaches count the visits that LEFT it in the hour, so a
    visit crossing hours is an arrival in one and an exit in another, and a visit
    still open is an arrival only. Dwell columns cover manual exits (a stage passed
    automatically is a zero-length visit, counted in `auto_passed` instead).
    """

    stage = models.CharField(_("stage"), max_length=20, choices=OrderStatus)
    hour = models.DateTimeField(_("hour"))
    arrivals = models.PositiveIntegerField(_("arrivals"), default=0)
    exits = models.PositiveIntegerField(_("exits"), default=0)
    auto_passed = models.PositiveIntegerField(_("passed automatically"), default=0)
    dwell_seconds = models.FloatField(_("dwell of manual exits (s, sum)"), default=0)
    # Manual exits per dwell bucket (bounds in reports.buckets.BUCKET_BOUNDS_SECONDS).
    dwell_buckets = models.JSONField(_("dwell histogram"), default=list)
    sla_breaches = models.PositiveIntegerField(_("exits over the target dwell"), default=0)

    class Meta:
        verbose_name = _("stage hour rollup")
        verbose_name_plural = _("stage hour rollups")
        ordering = ["-hour", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["stage", "hour"], name="rollup_stage_hour"),
        ]
        indexes = [models.Index(fields=["hour"], name="rollup_hour")]
        permissions = [("view_dashboard", _("Can view the bottleneck dashboard"))]

    def __str__(self):
        return f"{self.stage} {self.hour:%Y-%m-%d %H:00}"

    @property
    def manual_exits(self) -> int:
        return self.exits - self.auto_passed


class RollupWatermark(models.Model):
    """How far a rollup is complete: every hour before `until` is rolled up."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    until = models.DateTimeField(_("rolled up until"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_duration_ms = models.PositiveIntegerField(_("last run (ms)"), default=0)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")

    def __str__(self):
        return f"{self.name} < {self.until:%Y-%m-%d %H:%M}"
