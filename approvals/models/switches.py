"""Emergency bypass switches (BRIEF.md, step 2) and the obligations they leave behind.

A switch is on for a window (reason, who, automatic expiry); every use is a row tied
to the order, and an urgent dispatch leaves an obligation (the QC photo is owed).
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_DURATION = timedelta(hours=4)
MAX_DURATION = timedelta(hours=24)


class SwitchKind(models.TextChoices):
    # Staff check coupon validity by hand -> the system checks campaign period and
    # eligibility (never for limited-quantity coupons).
    COUPON_CHECK = "coupon_check", _("System coupon check")
    # A manager signs off a price change -> staff enter an authorization code.
    PRICE_CHANGE_CODE = "price_change_code", _("Price change by authorization code")
    # QC photo before dispatch -> dispatch now, upload the photo afterwards.
    URGENT_DISPATCH = "urgent_dispatch", _("Urgent dispatch")


class BypassSwitch(models.Model):
    """One switch per kind; its current window says whether (and until when) it is on."""

    kind = models.CharField(_("bypass"), max_length=20, choices=SwitchKind, unique=True)
    current_window = models.OneToOneField(
        "BypassWindow",
        verbose_name=_("current window"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Urgent dispatch: how long the QC photo may be owed.
    obligation_hours = models.PositiveSmallIntegerField(_("photo owed within (hours)"), default=4)

    class Meta:
        verbose_name = _("bypass switch")
        verbose_name_plural = _("bypass switches")
        ordering = ["kind"]
        permissions = [("operate_bypassswitch", _("Can switch emergency bypasses on and off"))]

    def __str__(self):
        return self.get_kind_display()


class BypassWindow(models.Model):
    """One period during which a switch was on: the switch's history."""

    class Closed(models.TextChoices):
        MANUAL = "manual", _("Switched off")
        EXPIRED = "expired", _("Expired")

    switch = models.ForeignKey(
        BypassSwitch, verbose_name=_("bypass"), on_delete=models.CASCADE, related_name="windows"
    )
    kind = models.CharField(_("bypass"), max_length=20, choices=SwitchKind)
    reason = models.CharField(_("reason"), max_length=300)
    scope = models.JSONField(
        _("scope"),
        default=dict,
        blank=True,
        help_text=_("Only orders meeting this condition may use the bypass (empty: all)."),
    )
    opened_at = models.DateTimeField(_("switched on at"), default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("switched on by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField(_("expires at"))
    closed_at = models.DateTimeField(_("switched off at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("switched off by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    closed_how = models.CharField(_("ended"), max_length=10, choices=Closed, blank=True)
    close_reason = models.CharField(_("reason for switching off"), max_length=300, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0)

    class Meta:
        verbose_name = _("bypass window")
        verbose_name_plural = _("bypass history")
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("opened_at")), name="bypass_window_order"
            )
        ]
        indexes = [models.Index(fields=["kind", "opened_at"], name="bypass_window_kind")]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.opened_at):%Y-%m-%d %H:%M}"

    def is_active(self, at=None) -> bool:
        """On, and not past its expiry (an expired window never applies)."""
        at = at or timezone.now()
        return self.closed_at is None and self.expires_at > at


class BypassUse(models.Model):
    """One order that went through a bypass (its timeline shows via=bypass)."""

    window = models.ForeignKey(
        BypassWindow, verbose_name=_("bypass window"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("bypass"), max_length=20, choices=SwitchKind)
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="bypass_uses",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    detail = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("bypass use")
        verbose_name_plural = _("bypass uses")
        ordering = ["-at"]
        indexes = [models.Index(fields=["kind", "at"], name="bypass_use_kind")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.order_id}"


class Obligation(models.Model):
    """Something owed after a bypass, e.g. the QC photo after an urgent dispatch."""

    class Kind(models.TextChoices):
        QC_PHOTO = "qc_photo", _("QC photo owed")

    kind = models.CharField(_("owed"), max_length=20, choices=Kind, default=Kind.QC_PHOTO)
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="obligations",
    )
    use = models.ForeignKey(
        BypassUse,
        verbose_name=_("bypass use"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="obligations",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"))
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    # When the QC team and supervisors were told it is overdue (told once).
    overdue_notified_at = models.DateTimeField(_("overdue notice sent at"), null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("fulfilled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("obligation")
        verbose_name_plural = _("obligations")
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(fulfilled_at=None),
                name="one_open_obligation_per_kind",
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(fulfilled_at=None), name="obligation_open_due"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.order_id}"

    def is_overdue(self, at=None) -> bool:
        return self.fulfilled_at is None and self.due_at <= (at or timezone.now())
