import logging

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

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
from orders.resources import (
    CustomerResource,
    ProductResource,
    StockLevelResource,
    VerboseFieldsExportForm,
    WarehouseResource,
)

logger = logging.getLogger(__name__)


class BackofficeExportMixin(ExportMixin):
    """Export as CSV (UTF-8 with a BOM, so Excel shows Chinese) or Excel workbook."""

    formats = [CSV, XLSX]
    export_form_class = VerboseFieldsExportForm
    to_encoding = "utf-8-sig"


class BackofficeImportExportMixin(ImportExportMixin, BackofficeExportMixin):
    """Import with a preview (dry run) and a confirm step; the file commits whole or not.

    Permissions: IMPORT_EXPORT_IMPORT_PERMISSION_CODE (change) to import at all; rows
    that would add objects also need the add permission (checked per row by the
    resource). A committed import writes one `import.completed` audit event.
    """

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        # The library keeps the valid rows of a file with invalid ones; we keep none.
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def add_data_read_fail_error_to_form(self, form, e):
        logger.info("Unreadable import file: %r", e)
        if isinstance(e, UnicodeDecodeError):
            message = gettext(
                "The file is not UTF-8 text. Save it as “CSV UTF-8” or as an Excel "
                "workbook (.xlsx) and upload it again."
            )
        else:
            message = gettext(
                "The file could not be read. Check that it is a CSV (UTF-8) or Excel "
                "(.xlsx) file and that the chosen format matches it."
            )
        form.add_error("import_file", message)

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            # Confirmed twice, or the temporary file is gone: start again.
            messages.error(
                request,
                gettext("The uploaded file is no longer available. Upload it again."),
            )
            return redirect(
                reverse(
                    "admin:{}_{}_import".format(*self.get_model_info()),
                    current_app=self.admin_site.name,
                )
            )

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The data changed between the preview and the confirmation (e.g. stock
            # reserved meanwhile): everything was rolled back; show why.
            messages.error(
                request,
                gettext("Nothing was imported: some rows are no longer valid. See below."),
            )
            return self._import_refused_response(result, request)
        return super().process_result(result, request)

    def _import_refused_response(self, result, request):
        form_class = self.get_import_form_class(request)
        resource_classes = self.get_import_resource_classes(request)
        form = form_class(self.get_import_formats(), resource_classes)
        resource_kwargs = self.get_import_resource_kwargs(request)
        context = self.get_import_context_data()
        context.update(self.admin_site.each_context(request))
        context.update(
            title=_("Import"),
            form=form,
            opts=self.model._meta,
            media=self.media + form.media,
            result=result,
            import_error_display=self.import_error_display,
            fields_list=[
                (
                    resource_class.get_display_name(),
                    [
                        f.column_name
                        for f in resource_class(**resource_kwargs).get_user_visible_fields()
                    ],
                )
                for resource_class in resource_classes
            ],
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "is_active", "created_at")
    search_fields = ("name", "code")
    list_filter = ("is_active",)


@admin.register(Customer)
class CustomerAdmin(BackofficeImportExportMixin, admin.ModelAdmin):
    resource_classes = [CustomerResource]
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
class ProductAdmin(BackofficeImportExportMixin, admin.ModelAdmin):
    resource_classes = [ProductResource]
    list_display = ("sku", "name", "list_price", "is_presale", "is_active")
    list_filter = ("is_presale", "is_active")
    search_fields = ("^sku", "name")


@admin.register(Warehouse)
class WarehouseAdmin(BackofficeImportExportMixin, admin.ModelAdmin):
    resource_classes = [WarehouseResource]
    list_display = ("code", "name", "priority", "is_active")


@admin.register(StockLevel)
class StockLevelAdmin(BackofficeImportExportMixin, admin.ModelAdmin):
    resource_classes = [StockLevelResource]
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
