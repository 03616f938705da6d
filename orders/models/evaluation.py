"""The evaluation card (CRM credit, ERP stock, WMS fulfilment in one place) and the
order health score with its explained breakdown.

The card is fetched right after intake from three sources through connectors
(`orders.connectors`): each part keeps its own status, fetch time and error, so a
source that fails gives a card that says "data unavailable from X" instead of a lost
order. The score reads the card and the order; it stores its factor breakdown and the
inputs used, and flags missing inputs instead of inventing them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models.orders import Order


class SourceKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer credit (CRM)")
    INVENTORY = "inventory", _("Inventory (ERP)")
    FULFILMENT = "fulfilment", _("Fulfilment history (WMS)")


class PartStatus(models.TextChoices):
    PENDING = "pending", _("Being fetched")
    OK = "ok", _("Up to date")
    UNAVAILABLE = "unavailable", _("Data unavailable")


class EvaluationCard(models.Model):
    """One order's card. Each source's part: data (JSON), status, fetched_at, error.

    customer:   {"credit_rating", "tier", "credit_limit", "exposure", "headroom",
                 "returning", "orders_completed"}
    inventory:  {"lines": [{"sku", "quantity", "warehouses": {code: available},
                 "single_warehouse": bool, "short": int}], "transfer_needed": bool,
                 "shortage": bool}
    fulfilment: {"orders": int, "paid_on_time_rate": float|None,
                 "received_on_time_rate": float|None}
    """

    order = models.OneToOneField(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="card"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    completed_at = models.DateTimeField(
        _("completed at"),
        null=True,
        blank=True,
        help_text=_("When every part was fetched, or the time budget ran out."),
    )

    customer = models.JSONField(_("customer credit"), default=dict, blank=True)
    customer_status = models.CharField(
        _("customer credit status"), max_length=12, choices=PartStatus, default=PartStatus.PENDING
    )
    customer_fetched_at = models.DateTimeField(_("customer credit fetched at"), null=True)
    customer_error = models.CharField(_("customer credit error"), max_length=300, blank=True)

    inventory = models.JSONField(_("stock"), default=dict, blank=True)
    inventory_status = models.CharField(
        _("stock status"), max_length=12, choices=PartStatus, default=PartStatus.PENDING
    )
    inventory_fetched_at = models.DateTimeField(_("stock fetched at"), null=True)
    inventory_error = models.CharField(_("stock error"), max_length=300, blank=True)

    fulfilment = models.JSONField(_("fulfilment history"), default=dict, blank=True)
    fulfilment_status = models.CharField(
        _("fulfilment history status"),
        max_length=12,
        choices=PartStatus,
        default=PartStatus.PENDING,
    )
    fulfilment_fetched_at = models.DateTimeField(_("fulfilment history fetched at"), null=True)
    fulfilment_error = models.CharField(_("fulfilment history error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("evaluation card")
        verbose_name_plural = _("evaluation cards")
        indexes = [
            # Cards with a part to refresh later (a source was down).
            models.Index(
                fields=["requested_at"],
                condition=Q(customer_status="unavailable")
                | Q(inventory_status="unavailable")
                | Q(fulfilment_status="unavailable"),
                name="card_to_refresh",
            )
        ]

    def __str__(self):
        return f"{self.order_id}"

    def part(self, kind: str) -> tuple[dict, str, object, str]:
        """(data, status, fetched_at, error) of one source's part."""
        return (
            getattr(self, kind),
            getattr(self, f"{kind}_status"),
            getattr(self, f"{kind}_fetched_at"),
            getattr(self, f"{kind}_error"),
        )

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None


class ConnectorState(models.Model):
    """A connector's health: its circuit breaker and when it last answered well.

    After `failures` reach the threshold the breaker opens until `open_until`: the
    source is not called meanwhile (cards say it is unavailable at once), then one
    call is let through; a success closes it.
    """

    kind = models.CharField(_("source"), max_length=12, choices=SourceKind, unique=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    open_until = models.DateTimeField(_("breaker open until"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last good answer"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("connector state")
        verbose_name_plural = _("connector states")

    def __str__(self):
        return self.get_kind_display()


class ScoreWeights(models.Model):
    """The health score's weights and bands. Each change is a new row (a version); the
    newest is in force. Weights are 0-100 and sum to 100."""

    customer_history = models.PositiveSmallIntegerField(
        _("customer history"), default=30, validators=[MaxValueValidator(100)]
    )
    complexity = models.PositiveSmallIntegerField(
        _("order complexity"), default=25, validators=[MaxValueValidator(100)]
    )
    payment_method = models.PositiveSmallIntegerField(
        _("payment method"), default=20, validators=[MaxValueValidator(100)]
    )
    inventory_match = models.PositiveSmallIntegerField(
        _("inventory match"), default=15, validators=[MaxValueValidator(100)]
    )
    time_slot_pressure = models.PositiveSmallIntegerField(
        _("time-slot pressure"), default=10, validators=[MaxValueValidator(100)]
    )
    fast_lane_min = models.PositiveSmallIntegerField(
        _("fast lane from"), default=80, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    watch_below = models.PositiveSmallIntegerField(
        _("watch queue below"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(_("reason for the change"), max_length=300, blank=True)

    FACTORS = (
        "customer_history",
        "complexity",
        "payment_method",
        "inventory_match",
        "time_slot_pressure",
    )

    class Meta:
        verbose_name = _("health score weights")
        verbose_name_plural = _("health score weights")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(watch_below__lt=models.F("fast_lane_min")), name="score_bands_order"
            )
        ]

    def __str__(self):
        return f"v{self.pk}"

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FACTORS}


class OrderHealth(models.Model):
    """An order's health score and why: each factor's 0-100 value, weight and inputs."""

    order = models.OneToOneField(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="health"
    )
    score = models.PositiveSmallIntegerField(_("health score"))
    # {factor: {"value": 0-100 | None, "weight": int, "inputs": {...}, "missing": [...]}}
    breakdown = models.JSONField(_("breakdown"), default=dict)
    missing = models.JSONField(_("missing inputs"), default=list, blank=True)
    weights = models.ForeignKey(
        ScoreWeights,
        verbose_name=_("weights version"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    scored_at = models.DateTimeField(_("scored at"), default=timezone.now)

    class Meta:
        verbose_name = _("health score")
        verbose_name_plural = _("health scores")
        indexes = [models.Index(fields=["score"], name="health_score")]

    def __str__(self):
        return f"{self.order_id}: {self.score}"
