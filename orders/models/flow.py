"""Flow control: per-stage settings, circuit breakers, alarm episodes, surge grants."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.models import BusinessCalendar
from orders.states import MAIN_LINE, OrderStatus

STAGE_CHOICES = [(stage.value, stage.label) for stage in MAIN_LINE]


class StageSetting(models.Model):
    """How one stage is run: its owner, targets, limits and alarms.

    One row per main-line stage, created with defaults after `migrate`. The
    breaker's live state is kept apart (StageBreaker) so saving this form never
    overwrites it.
    """

    stage = models.CharField(_("stage"), max_length=20, choices=STAGE_CHOICES, unique=True)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner (person)"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    owner_group = models.ForeignKey(
        Group,
        verbose_name=_("owner (team)"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sla_minutes = models.PositiveIntegerField(
        _("target dwell (minutes)"),
        default=30,
        help_text=_("An order waiting longer than this in the stage breaches its SLA."),
    )
    breaker_threshold = models.PositiveIntegerField(
        _("breaker threshold"),
        default=50,
        help_text=_("The breaker opens when this many orders are waiting in the stage."),
    )
    breaker_reset_percent = models.PositiveSmallIntegerField(
        _("reset below (percent of threshold)"),
        default=60,
        help_text=_("The breaker closes only when the backlog stays below this share."),
    )
    breaker_reset_minutes = models.PositiveSmallIntegerField(
        _("reset after (minutes below)"), default=5
    )
    pin_count = models.PositiveSmallIntegerField(
        _("orders pinned on opening"),
        default=10,
        help_text=_("The oldest waiting orders go to the top of the queue when the breaker opens."),
    )
    wip_limit = models.PositiveIntegerField(
        _("concurrency limit"),
        null=True,
        blank=True,
        default=30,
        help_text=_("Orders in progress in the stage at once; empty for no limit."),
    )
    person_cap = models.PositiveIntegerField(
        _("per-person cap"),
        null=True,
        blank=True,
        default=5,
        help_text=_("Orders one person may hold at once; empty for no limit."),
    )
    reduced_wip_limit = models.PositiveIntegerField(
        _("concurrency limit while the breaker is open"), null=True, blank=True, default=15
    )
    reduced_person_cap = models.PositiveIntegerField(
        _("per-person cap while the breaker is open"), null=True, blank=True, default=3
    )
    claim_idle_minutes = models.PositiveIntegerField(
        _("claim expires after (idle minutes)"), default=30
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("business hours"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text=_("The SLA clock and the backlog alarm count only open hours; empty: 24/7."),
    )
    channels = models.ManyToManyField(
        "notifications.NotificationChannel",
        verbose_name=_("notification channels"),
        blank=True,
        related_name="+",
        help_text=_("Where the owner is alarmed, besides in-app (e-mail, robots, webhooks)."),
    )
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(
        _("quiet hours until"),
        null=True,
        blank=True,
        help_text=_("Non-urgent messages to external channels wait until the quiet hours end."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stage setting")
        verbose_name_plural = _("stage settings")
        ordering = ["id"]

    def __str__(self):
        return str(OrderStatus(self.stage).label)

    def clean(self):
        errors = {}
        if (
            self.wip_limit is not None
            and self.reduced_wip_limit is not None
            and self.reduced_wip_limit > self.wip_limit
        ):
            errors["reduced_wip_limit"] = _("The reduced limit cannot exceed the normal one.")
        if (
            self.person_cap is not None
            and self.reduced_person_cap is not None
            and self.reduced_person_cap > self.person_cap
        ):
            errors["reduced_person_cap"] = _("The reduced cap cannot exceed the normal one.")
        if not 1 <= self.breaker_reset_percent <= 100:
            errors["breaker_reset_percent"] = _("Give a share between 1 and 100.")
        if self.breaker_threshold < 1:
            errors["breaker_threshold"] = _("The threshold must be at least 1.")
        if (self.quiet_start is None) != (self.quiet_end is None):
            errors["quiet_end"] = _("Give both ends of the quiet hours, or neither.")
        if errors:
            raise ValidationError(errors)

    @property
    def reset_below(self) -> int:
        """The backlog under which the breaker may close (the hysteresis mark)."""
        return max(1, self.breaker_threshold * self.breaker_reset_percent // 100)

    @property
    def quiet_hours(self):
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return (self.quiet_start, self.quiet_end)


class BreakerState(models.TextChoices):
    CLOSED = "closed", _("Closed")
    OPEN = "open", _("Open")
    # Backlog below the reset mark; closes once it has stayed there long enough.
    HALF_OPEN = "half_open", _("Recovering")


class StageBreaker(models.Model):
    """The live state of a stage's circuit breaker (written by the evaluator only)."""

    stage = models.CharField(_("stage"), max_length=20, choices=STAGE_CHOICES, unique=True)
    state = models.CharField(
        _("state"), max_length=10, choices=BreakerState, default=BreakerState.CLOSED
    )
    changed_at = models.DateTimeField(_("since"), default=timezone.now)
    below_since = models.DateTimeField(_("below the reset mark since"), null=True, blank=True)
    backlog = models.PositiveIntegerField(_("waiting"), default=0)
    evaluated_at = models.DateTimeField(_("evaluated at"), null=True, blank=True)
    pinned_ids = models.JSONField(_("orders it pinned"), default=list, blank=True)

    class Meta:
        verbose_name = _("stage circuit breaker")
        verbose_name_plural = _("stage circuit breakers")
        ordering = ["id"]

    def __str__(self):
        return f"{OrderStatus(self.stage).label}: {self.get_state_display()}"

    @property
    def is_open(self) -> bool:
        return self.state != BreakerState.CLOSED


class BreakerEvent(models.Model):
    """A trip or a reset, with the numbers that caused it."""

    class Kind(models.TextChoices):
        TRIP = "trip", _("Tripped (opened)")
        RECOVERING = "recovering", _("Recovering")
        RESET = "reset", _("Reset (closed)")

    stage = models.CharField(_("stage"), max_length=20, choices=STAGE_CHOICES)
    kind = models.CharField(_("event"), max_length=12, choices=Kind)
    at = models.DateTimeField(_("at"), default=timezone.now)
    backlog = models.PositiveIntegerField(_("waiting"))
    threshold = models.PositiveIntegerField(_("threshold"))
    oldest_age_seconds = models.PositiveIntegerField(_("oldest waiting (s)"), default=0)
    wip_limit = models.PositiveIntegerField(_("concurrency limit now"), null=True, blank=True)
    person_cap = models.PositiveIntegerField(_("per-person cap now"), null=True, blank=True)
    pinned = models.PositiveIntegerField(_("orders pinned"), default=0)
    notified = models.JSONField(_("notified"), default=list, blank=True)

    class Meta:
        verbose_name = _("circuit breaker event")
        verbose_name_plural = _("circuit breaker events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["stage", "at"], name="breaker_event_stage_at")]

    def __str__(self):
        return f"{self.get_stage_display()} {self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"

    @property
    def notification_event(self) -> str:
        """The key under which its outbox messages are filed."""
        return f"breaker:{self.pk}"


class AlarmEpisode(models.Model):
    """A backlog alarm from its start to its end: one alarm per episode, not per minute."""

    class Kind(models.TextChoices):
        ORDER_AGE = "order_age", _("Orders too old")
        STAGE_SLA = "stage_sla", _("Stage over its SLA")

    kind = models.CharField(_("alarm"), max_length=12, choices=Kind)
    stage = models.CharField(_("stage"), max_length=20, choices=STAGE_CHOICES, blank=True)
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    first_count = models.PositiveIntegerField(_("orders at start"), default=0)
    peak_count = models.PositiveIntegerField(_("peak orders"), default=0)
    last_count = models.PositiveIntegerField(_("orders now"), default=0)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alarm episode")
        verbose_name_plural = _("alarm episodes")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "stage"], condition=Q(ended_at=None), name="one_open_episode"
            )
        ]

    def __str__(self):
        where = f" {self.get_stage_display()}" if self.stage else ""
        return f"{self.get_kind_display()}{where} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def notification_event(self) -> str:
        return f"alarm:{self.pk}"


class SurgeGrant(models.Model):
    """A person lent to a stage team until a time (surge staffing).

    While active, the person has the team's permissions (see orders.auth); it ends
    by itself at `until`, or earlier when revoked.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="surge_grants",
    )
    team = models.ForeignKey(
        Group, verbose_name=_("team role"), on_delete=models.CASCADE, related_name="+"
    )
    until = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=300)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("granted by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Set by the expiry job when it has recorded the end (audit + notice) once.
    ended_noted_at = models.DateTimeField(_("end recorded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("peak support grant")
        verbose_name_plural = _("peak support grants")
        ordering = ["-granted_at", "-id"]
        indexes = [models.Index(fields=["user", "until"], name="surge_user_until")]

    def __str__(self):
        return f"{self.user} → {self.team} ({self.until:%Y-%m-%d %H:%M})"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and self.until > at
