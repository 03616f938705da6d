"""Routing rules: "pass this stage automatically when the order meets this condition".

A rule's condition is a structured tree (see `approvals.conditions`), never code.
Every save writes a version row, and the timeline of an order passed by a rule keeps
the rule's id and version, so editing a rule never changes history.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RuleTarget(models.TextChoices):
    SALES_REVIEW = "sales_review", _("Sales review")
    FINANCE_REVIEW = "finance_review", _("Finance review (price check)")
    # A check inside sales review rather than a whole stage.
    COUPON_CHECK = "coupon_check", _("Coupon check")


class RoutingRuleQuerySet(models.QuerySet):
    def effective(self, at=None):
        at = at or timezone.now()
        return self.filter(
            Q(effective_from=None) | Q(effective_from__lte=at),
            Q(effective_until=None) | Q(effective_until__gt=at),
            enabled=True,
        )


class RoutingRule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    target = models.CharField(_("applies to"), max_length=20, choices=RuleTarget)
    condition = models.JSONField(
        _("condition"),
        default=dict,
        help_text=_("The order facts that must hold for the order to pass automatically."),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are tried first.")
    )
    enabled = models.BooleanField(_("enabled"), default=False)
    effective_from = models.DateTimeField(_("effective from"), null=True, blank=True)
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("last changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = RoutingRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["target", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_from=None)
                | Q(effective_until=None)
                | Q(effective_until__gt=models.F("effective_from")),
                name="rule_window_order",
            )
        ]
        indexes = [models.Index(fields=["enabled", "target", "priority"], name="rule_lookup")]
        permissions = [("dry_run_routingrule", _("Can dry-run routing rules"))]

    def __str__(self):
        return self.name


class RoutingRuleVersion(models.Model):
    """A snapshot of a rule as saved: who changed what, when and why."""

    rule = models.ForeignKey(
        RoutingRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=120)
    target = models.CharField(_("applies to"), max_length=20, choices=RuleTarget)
    condition = models.JSONField(_("condition"), default=dict)
    priority = models.PositiveSmallIntegerField(_("priority"))
    enabled = models.BooleanField(_("enabled"))
    effective_from = models.DateTimeField(_("effective from"), null=True, blank=True)
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    change_reason = models.CharField(_("reason for the change"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique")
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"
