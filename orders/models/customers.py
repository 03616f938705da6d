from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Partner(models.Model):
    """A sales channel that sends orders: a shop front, marketplace or ERP integration."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("channel partner")
        verbose_name_plural = _("channel partners")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Customer(models.Model):
    """A buyer, with the last known CRM facts the rules and the health score read."""

    class Tier(models.TextChoices):
        STANDARD = "standard", _("Standard")
        SILVER = "silver", _("Silver")
        GOLD = "gold", _("Gold")
        VIP = "vip", _("VIP")

    class CreditRating(models.TextChoices):
        GOOD = "good", _("Good")
        FAIR = "fair", _("Fair")
        POOR = "poor", _("Poor")
        BLOCKED = "blocked", _("Blocked")

    partner = models.ForeignKey(
        Partner,
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    # The partner's (or CRM's) reference: unique within the partner.
    ref = models.CharField(_("customer reference"), max_length=64)
    name = models.CharField(_("name"), max_length=120)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    email = models.EmailField(_("e-mail"), blank=True)
    tier = models.CharField(_("tier"), max_length=10, choices=Tier, default=Tier.STANDARD)
    credit_rating = models.CharField(
        _("credit rating"), max_length=10, choices=CreditRating, default=CreditRating.GOOD
    )
    credit_limit = models.DecimalField(
        _("credit limit (CNY)"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    # Fulfilment history, as last synchronised from the CRM (or computed locally).
    orders_completed = models.PositiveIntegerField(_("orders completed"), default=0)
    on_time_payment_rate = models.DecimalField(
        _("paid on time (share)"),
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    on_time_receipt_rate = models.DecimalField(
        _("received on time (share)"),
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    crm_synced_at = models.DateTimeField(_("CRM data as of"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "ref"], name="customer_ref_per_partner"),
            models.UniqueConstraint(
                fields=["ref"], condition=models.Q(partner=None), name="customer_ref_direct"
            ),
        ]
        indexes = [models.Index(fields=["name"], name="customer_name")]

    def __str__(self):
        return f"{self.name} ({self.ref})"

    @property
    def is_returning(self) -> bool:
        return self.orders_completed > 0

    @property
    def has_good_credit(self) -> bool:
        return self.credit_rating == self.CreditRating.GOOD
