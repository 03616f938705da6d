from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """The last time a process proved it is alive (one row per process kind).

    The qcluster writes its row every minute through a schedule; /healthz and the
    dead-man alarm read it. A table, not the cache: it must survive restarts and be
    shared by every web and worker process.
    """

    name = models.CharField(_("name"), max_length=50, unique=True)
    beat_at = models.DateTimeField(_("last beat"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self):
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class WorkLoad(models.Model):
    """How many items of a work queue are in progress, for one queue or one person in it.

    The claim service raises these counters with a conditional UPDATE
    (`in_progress < limit`), which is the one serialisation point that keeps WIP
    limits and per-person caps exact under concurrent claimers; releasing lowers
    them. `claims_reconcile` rebuilds them from the claimed rows.
    Keys: "<queue>" for the whole queue, "<queue>@<user id>" for one person.
    """

    key = models.CharField(_("key"), max_length=120, unique=True)
    in_progress = models.PositiveIntegerField(_("in progress"), default=0)

    class Meta:
        verbose_name = _("work load")
        verbose_name_plural = _("work loads")

    def __str__(self):
        return f"{self.key}: {self.in_progress}"


class BusinessCalendar(models.Model):
    """When a team works: weekly working periods plus special days (holidays, make-up days).

    SLA clocks and backlog alarms count only open time: an order placed at 02:00 for
    a team that starts at 09:00 is not three hours late at 09:30. A stage without a
    calendar counts around the clock.
    """

    name = models.CharField(_("name"), max_length=80, unique=True)

    class Meta:
        verbose_name = _("business-hours calendar")
        verbose_name_plural = _("business-hours calendars")

    def __str__(self):
        return self.name


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class WorkingPeriod(models.Model):
    """One open period of a weekday (a day may have several, e.g. a lunch break)."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("working period")
        verbose_name_plural = _("working periods")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="working_period_positive"
            )
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class SpecialDay(models.Model):
    """A date that does not follow the week: a public holiday (closed) or a make-up
    working day (调休) with its own hours."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="special_days"
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=80, blank=True)
    is_open = models.BooleanField(
        _("open"),
        default=False,
        help_text=_("Tick for a make-up working day; leave for a holiday."),
    )
    start = models.TimeField(_("from"), null=True, blank=True)
    end = models.TimeField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("special day")
        verbose_name_plural = _("special days")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="one_special_day_per_date")
        ]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.name}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.is_open:
            if self.start is None or self.end is None:
                raise ValidationError(_("An open day needs its working hours."))
            if self.end <= self.start:
                raise ValidationError(_("The end must be after the start."))


class Outage(models.Model):
    """A stretch of time when a background process was silent (the dead-man alarm).

    At most one open outage per process kind (a partial unique constraint): whoever
    notices first opens it and sends the alarm, everyone else finds it open.
    """

    name = models.CharField(_("process"), max_length=50)
    started_at = models.DateTimeField(_("noticed at"))
    last_beat_at = models.DateTimeField(_("last heartbeat before"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outage")
        verbose_name_plural = _("outages")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(ended_at=None), name="one_open_outage"
            )
        ]

    def __str__(self):
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M}"
