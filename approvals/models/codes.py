"""Authorization codes: a manager's sign-off handed out in advance, with a cap.

Codes are shown once at issue and stored hashed (Django's password hashers; the
comparison is timing-safe). `prefix` is the code's first group, stored in clear to
find the row without revealing the rest.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CodeScope(models.TextChoices):
    PRICE_CHANGE = "price_change", _("Price change")


class AuthorizationCode(models.Model):
    label = models.CharField(_("label"), max_length=120, help_text=_("What the code is for."))
    prefix = models.CharField(_("code prefix"), max_length=8, unique=True)
    code_hash = models.CharField(_("code hash"), max_length=200)
    scope = models.CharField(
        _("scope"), max_length=20, choices=CodeScope, default=CodeScope.PRICE_CHANGE
    )
    max_deviation_pct = models.DecimalField(
        _("maximum deviation (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    max_uses = models.PositiveIntegerField(
        _("maximum uses"), default=1, validators=[MinValueValidator(1)]
    )
    uses = models.PositiveIntegerField(_("uses"), default=0)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("holder"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Only this person may use the code (empty: any staff member)."),
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("authorization code")
        verbose_name_plural = _("authorization codes")
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")), name="code_window_order"
            ),
            models.CheckConstraint(
                condition=Q(uses__lte=models.F("max_uses")), name="code_uses_within_max"
            ),
        ]

    def __str__(self):
        return f"{self.label} ({self.prefix}-…)"


class AuthorizationCodeUse(models.Model):
    """Who used which code on which order, for what deviation and why."""

    code = models.ForeignKey(
        AuthorizationCode, verbose_name=_("code"), on_delete=models.PROTECT, related_name="uses_log"
    )
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="authorization_code_uses",
    )
    price_change = models.OneToOneField(
        "approvals.PriceChangeRequest",
        verbose_name=_("price change"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="code_use",
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("used by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    used_at = models.DateTimeField(_("used at"), default=timezone.now)
    deviation_pct = models.DecimalField(_("deviation (%)"), max_digits=7, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=300)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("authorization code use")
        verbose_name_plural = _("authorization code uses")
        ordering = ["-used_at"]

    def __str__(self):
        return f"{self.code_id} {self.order_id}"


class CodeAttemptCounter(models.Model):
    """Failed code entries per user or per IP address, counted atomically in the database.

    `key` is "user:<id>" or "ip:<address>". The counter window restarts 15 minutes
    after its first failure; reaching the limit locks code entry until `locked_until`.
    """

    key = models.CharField(_("key"), max_length=80, unique=True)
    failures = models.PositiveIntegerField(_("failed attempts"), default=0)
    window_started_at = models.DateTimeField(_("window started at"), default=timezone.now)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("code attempt counter")
        verbose_name_plural = _("code attempt counters")

    def __str__(self):
        return self.key
