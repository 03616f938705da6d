"""Exception cases: one special situation of one order, worked by its type's team."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from exceptions.models.types import ExceptionType


class CaseStatus(models.TextChoices):
    # A context: "Open" and "Closed" are also circuit-breaker states (熔断).
    OPEN = "open", pgettext_lazy("exception case status", "Open")
    CLAIMED = "claimed", pgettext_lazy("exception case status", "Being handled")
    RESOLVED = "resolved", pgettext_lazy("exception case status", "Resolved")
    REJECTED = "rejected", pgettext_lazy("exception case status", "Rejected")


class CaseSource(models.TextChoices):
    STAFF = "staff", _("Staff")
    PARTNER_API = "partner_api", _("Partner API")
    DETECTOR = "detector", _("Detected by the system")


OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.CLAIMED)


class ExceptionCaseQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def blocking(self):
        return self.filter(status__in=OPEN_STATUSES, blocking=True)


class ExceptionCase(ConcurrentTransitionMixin, models.Model):
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="exception_cases",
    )
    type = models.ForeignKey(
        ExceptionType, verbose_name=_("type"), on_delete=models.PROTECT, related_name="cases"
    )
    # Copied from the type when the case opens: the pool filters on them, and a later
    # change of the type does not move cases already in flight.
    team = models.ForeignKey(
        Group, verbose_name=_("team"), on_delete=models.PROTECT, related_name="+"
    )
    blocking = models.BooleanField(_("holds the order"), default=False)
    source = models.CharField(_("source"), max_length=12, choices=CaseSource)
    description = models.TextField(_("description"), blank=True)
    # What was asked, e.g. the new address of an address change.
    payload = models.JSONField(_("request details"), default=dict, blank=True)
    status = FSMField(_("status"), choices=CaseStatus, default=CaseStatus.OPEN, protected=True)

    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("opened by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sla_due_at = models.DateTimeField(_("due at"))
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim_touched_at = models.DateTimeField(_("claim last active"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_note = models.TextField(_("resolution note"), blank=True)
    # This case put the order on hold (so resolving the last such case releases it).
    held_order = models.BooleanField(_("put the order on hold"), default=False)

    objects = ExceptionCaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("exception case")
        verbose_name_plural = _("exception pool")
        ordering = ["sla_due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "type"],
                condition=Q(status__in=["open", "claimed"]),
                name="one_open_case_per_order_and_type",
            )
        ]
        indexes = [
            # The pool, in its order (holding cases first, then the earliest due): all
            # teams, and one team's. Partial: closed cases never slow the pool down.
            models.Index(
                models.F("blocking").desc(),
                "sla_due_at",
                "id",
                condition=Q(status__in=["open", "claimed"]),
                name="case_pool",
            ),
            models.Index(
                "team",
                models.F("blocking").desc(),
                "sla_due_at",
                "id",
                condition=Q(status__in=["open", "claimed"]),
                name="case_pool_team",
            ),
            models.Index(
                fields=["order"],
                condition=Q(status__in=["open", "claimed"]),
                name="case_open_by_order",
            ),
            models.Index(
                fields=["claimed_by", "status"],
                condition=Q(claimed_by__isnull=False),
                name="case_claims",
            ),
            # Cases opened in a window (the post-incident review's SLA suggestion).
            models.Index(fields=["opened_at"], name="case_opened"),
        ]
        permissions = [
            ("work_exceptioncase", _("Can work exception cases")),
            ("assign_exceptioncase", _("Can assign exception cases")),
        ]

    def __str__(self):
        return f"#{self.pk} {self.type.tag} {self.order}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, at=None) -> bool:
        return self.is_open and self.sla_due_at <= (at or timezone.now())

    @transition(field=status, source=CaseStatus.OPEN, target=CaseStatus.CLAIMED)
    def claim(self):
        pass

    @transition(field=status, source=CaseStatus.CLAIMED, target=CaseStatus.OPEN)
    def unclaim(self):
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=CaseStatus.RESOLVED)
    def resolve(self):
        pass

    @transition(field=status, source=list(OPEN_STATUSES), target=CaseStatus.REJECTED)
    def reject(self):
        pass

    @transition(
        field=status, source=[CaseStatus.RESOLVED, CaseStatus.REJECTED], target=CaseStatus.OPEN
    )
    def reopen(self):
        pass
