"""Price-change requests: a new unit price for one order line, approved by a manager
or applied at once with an authorization code (within its cap)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PriceChangeRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        APPLIED_WITH_CODE = "applied_with_code", _("Applied with an authorization code")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="price_changes",
    )
    line = models.ForeignKey(
        "orders.OrderLine",
        verbose_name=_("order line"),
        on_delete=models.CASCADE,
        related_name="price_changes",
    )
    list_price = models.DecimalField(_("list price"), max_digits=12, decimal_places=2)
    old_unit_price = models.DecimalField(_("old unit price"), max_digits=12, decimal_places=2)
    new_unit_price = models.DecimalField(_("new unit price"), max_digits=12, decimal_places=2)
    # Signed, from the list price: (new - list) / list * 100.
    deviation_pct = models.DecimalField(_("deviation (%)"), max_digits=7, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.PENDING)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["line"],
                condition=Q(status="pending"),
                name="one_pending_price_change_per_line",
            ),
            models.CheckConstraint(condition=Q(new_unit_price__gte=0), name="price_change_price"),
        ]
        indexes = [
            models.Index(
                fields=["order"], condition=Q(status="pending"), name="price_change_pending"
            )
        ]
        permissions = [("approve_pricechangerequest", _("Can approve price changes"))]

    def __str__(self):
        return f"{self.order_id}: {self.old_unit_price} -> {self.new_unit_price}"
