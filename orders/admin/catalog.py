from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from backoffice.paginator import EstimatedCountPaginator
from orders.models import (
    Coupon,
    Customer,
    Partner,
    Payment,
    Product,
    StageVisit,
    StockLevel,
    Warehouse,
)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "is_active", "created_at")
    search_fields = ("name", "code")
    list_filter = ("is_active",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "ref",
        "partner",
        "tier",
        "credit_rating",
        "credit_limit",
        "orders_completed",
        "on_time_payment_rate",
    )
    list_filter = ("tier", "credit_rating", "partner")
    search_fields = ("=ref", "^name", "=phone")
    list_select_related = ("partner",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "list_price", "is_presale", "is_active")
    list_filter = ("is_presale", "is_active")
    search_fields = ("^sku", "name")


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "priority", "is_active")


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = (
        "product",
        "warehouse",
        "on_hand",
        "reserved",
        "available_display",
        "updated_at",
    )
    list_filter = ("warehouse",)
    search_fields = ("^product__sku", "product__name")
    list_select_related = ("product", "warehouse")
    readonly_fields = ("reserved", "updated_at")
    autocomplete_fields = ("product",)

    @admin.display(description=_("available"))
    def available_display(self, obj):
        return obj.available

    def get_readonly_fields(self, request, obj=None):
        # Reserved units belong to orders; on hand is corrected by stock import or here.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["product", "warehouse"]
        return fields


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "discount_amount",
        "campaign_starts_at",
        "campaign_ends_at",
        "is_limited_quantity",
    )
    list_filter = ("is_limited_quantity",)
    search_fields = ("=code", "name")


@admin.register(StageVisit)
class StageVisitAdmin(admin.ModelAdmin):
    """The whole stage timeline, read-only (millions of rows: no counts, no joins)."""

    list_display = ("order", "stage", "entered_at", "left_at", "actor", "via", "reason")
    list_filter = ("stage", "via", ("left_at", admin.EmptyFieldListFilter))
    list_select_related = ("order", "actor")
    search_fields = ("=order__number",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    raw_id_fields = ("order",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("order", "amount", "reference", "paid_at", "recorded_by")
    search_fields = ("=order__number", "=reference")
    list_select_related = ("order", "recorded_by")
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # recorded from the order page, through the service

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
