from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    list_price = models.DecimalField(
        _("list price (CNY)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_presale = models.BooleanField(
        _("presale"), default=False, help_text=_("Sold before it is in stock.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]

    def __str__(self):
        return f"{self.sku} {self.name}"


class Warehouse(models.Model):
    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    # Lower is preferred when several warehouses can serve an order.
    priority = models.PositiveSmallIntegerField(_("priority"), default=10)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["priority", "code"]

    def __str__(self):
        return self.name


class StockLevel(models.Model):
    """Units of one product in one warehouse. `reserved` is held for open orders.

    The database refuses an oversell: reserved can never exceed on hand. Reservations
    change these rows only under a row lock (services/stock.py).
    """

    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="stock"
    )
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="stock"
    )
    on_hand = models.PositiveIntegerField(_("on hand"), default=0)
    reserved = models.PositiveIntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["product__sku", "warehouse__priority"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="stock_per_warehouse"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_never_oversold"
            ),
        ]

    def __str__(self):
        return f"{self.product.sku} @ {self.warehouse.code}: {self.available}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Coupon(models.Model):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("campaign"), max_length=120)
    discount_amount = models.DecimalField(
        _("discount (CNY)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    campaign_starts_at = models.DateTimeField(_("campaign starts"))
    campaign_ends_at = models.DateTimeField(_("campaign ends"))
    is_limited_quantity = models.BooleanField(
        _("limited quantity"),
        default=False,
        help_text=_("Limited-quantity coupons are always checked by staff."),
    )
    quantity_total = models.PositiveIntegerField(_("quantity issued"), null=True, blank=True)
    # Comma-separated customer tiers allowed to use it; empty means everyone.
    eligible_tiers = models.CharField(_("eligible tiers"), max_length=100, blank=True)
    new_customers_only = models.BooleanField(_("new customers only"), default=False)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-campaign_starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(campaign_ends_at__gt=F("campaign_starts_at")),
                name="coupon_campaign_window",
            )
        ]

    def __str__(self):
        return f"{self.code} ({self.name})"

    def eligibility_problems(self, *, customer, at) -> list[str]:
        """Why this coupon is not valid for `customer` at `at` (empty when valid)."""
        problems = []
        if not (self.campaign_starts_at <= at <= self.campaign_ends_at):
            problems.append(str(_("outside the campaign period")))
        tiers = {t.strip() for t in self.eligible_tiers.split(",") if t.strip()}
        if tiers and customer.tier not in tiers:
            problems.append(str(_("customer tier not eligible")))
        if self.new_customers_only and customer.is_returning:
            problems.append(str(_("for new customers only")))
        return problems
