"""Import and export through the admin (django-import-export).

Files use stable column names (the model field names, natural keys for relations:
product SKU, warehouse code, partner code) so a file exported in one UI language
can be edited and imported back in the other. Import rules:

- The whole file commits or nothing does (the admin passes
  `rollback_on_validation_errors`); a bad cell is a row error, never a 500.
- A blank cell in a required column is an error; a blank cell in an optional
  column clears the value.
- Rows are matched on natural keys: customer (partner, ref), product SKU,
  warehouse code, stock level (product, warehouse).
- Only people allowed to add rows may create them; the others may only update.
- Stock imports set `on_hand` only: `reserved` belongs to the orders holding it.
- Orders are exported only: they enter through the intake service and change
  stage through the lifecycle services.

A committed import writes one `import.completed` audit event.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.formats import sanitize_separators
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import resources, results, widgets
from import_export.fields import Field
from import_export.forms import SelectableFieldsExportForm

from orders.events import import_completed_event
from orders.models import Customer, Order, Partner, Product, StockLevel, Warehouse

# Integers longer than this are refused before conversion (no model column holds them).
_MAX_INTEGER_DIGITS = 18


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (shown without a traceback)."""


class _Error(results.Error):
    @property
    def traceback(self):
        if isinstance(self.error, ImportFileError):
            return ""
        return super().traceback


# --- Widgets: a bad cell raises ValueError with a message for the row ----------


class StrictDecimalWidget(widgets.DecimalWidget):
    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        try:
            number = Decimal(force_str(sanitize_separators(value)).strip())
        except (InvalidOperation, ValueError, TypeError):
            number = None
        if number is None or not number.is_finite():
            raise ValueError(gettext("“%(value)s” is not a number.") % {"value": value})
        return number


class StrictIntegerWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        number = StrictDecimalWidget().clean(value)
        if number is None:
            return None
        if number != number.to_integral_value():
            raise ValueError(gettext("“%(value)s” is not a whole number.") % {"value": value})
        if number.adjusted() >= _MAX_INTEGER_DIGITS:
            raise ValueError(gettext("“%(value)s” is too large.") % {"value": value})
        return int(number)


class StrictBooleanWidget(widgets.BooleanWidget):
    TRUE_TEXT = frozenset({"1", "true", "yes", "y"})
    FALSE_TEXT = frozenset({"0", "false", "no", "n"})

    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        if isinstance(value, bool):
            return value
        text = force_str(value).strip().lower()
        if text in self.TRUE_TEXT:
            return True
        if text in self.FALSE_TEXT:
            return False
        raise ValueError(
            gettext("“%(value)s” is not a yes/no value: use 1 or 0.") % {"value": value}
        )


class NaturalKeyWidget(widgets.ForeignKeyWidget):
    """A relation given by a unique code (SKU, warehouse code, partner code)."""

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist:
            opts = self.model._meta
            raise ValueError(
                gettext("No %(model)s with %(field)s “%(value)s”.")
                % {
                    "model": opts.verbose_name,
                    "field": opts.get_field(self.field).verbose_name,
                    "value": value,
                }
            ) from None


# --- The base resource -----------------------------------------------------------


class LabelledColumnsMixin:
    """Column labels in the user's language for the export form's checkboxes."""

    #: Labels of columns that are not model fields.
    column_labels: dict = {}

    @classmethod
    def field_label(cls, name: str) -> str:
        """The column's label in the user's language, with its column name."""
        field = cls.fields[name]
        label = cls.column_labels.get(name)
        if label is None:
            model = cls._meta.model
            label = name
            for part in (field.attribute or name).split("__"):
                try:
                    model_field = model._meta.get_field(part)
                except FieldDoesNotExist:
                    break
                label = model_field.verbose_name
                model = model_field.related_model
        return f"{capfirst(label)} ({field.column_name})"


class BackofficeResource(LabelledColumnsMixin, resources.ModelResource):
    WIDGETS_MAP = {
        **resources.ModelResource.WIDGETS_MAP,
        "DecimalField": StrictDecimalWidget,
        "IntegerField": StrictIntegerWidget,
        "PositiveIntegerField": StrictIntegerWidget,
        "PositiveSmallIntegerField": StrictIntegerWidget,
        "BigIntegerField": StrictIntegerWidget,
        "SmallIntegerField": StrictIntegerWidget,
        "BooleanField": StrictBooleanWidget,
    }

    class Meta:
        clean_model_instances = True  # model validators, choices and constraints
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    # --- Which fields ---------------------------------------------------------

    def get_import_fields(self):
        # Read-only columns (e.g. stock `reserved`) are exported but never imported,
        # and not announced as importable.
        return [field for field in super().get_import_fields() if not field.readonly]

    def _is_required(self, field) -> bool:
        if not field.attribute or "__" in field.attribute:
            return False
        try:
            model_field = self._meta.model._meta.get_field(field.attribute)
        except FieldDoesNotExist:
            return False
        return not model_field.blank

    # --- File-level checks ----------------------------------------------------

    def get_error_result_class(self):
        return _Error

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        # " ref" and "ref" are the same column (spreadsheets keep stray spaces).
        dataset.headers = [
            force_str(h).strip() if h is not None else h for h in (dataset.headers or [])
        ]
        headers = dataset.headers
        missing = [
            self.fields[name].column_name
            for name in self.get_import_id_fields()
            if self.fields[name].column_name not in headers
        ]
        if missing:
            raise ImportFileError(
                gettext("The file lacks the column(s) %(missing)s. Expected columns: %(expected)s.")
                % {
                    "missing": ", ".join(missing),
                    "expected": ", ".join(f.column_name for f in self.get_import_fields()),
                }
            )

    # --- Row-level checks -----------------------------------------------------

    def import_row(self, row, instance_loader, **kwargs):
        if all(_is_blank(value) for value in row.values()):
            row_result = self.get_row_result_class()()
            row_result.import_type = results.RowResult.IMPORT_TYPE_SKIP
            return row_result
        return super().import_row(row, instance_loader, **kwargs)

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = value.strip()
            elif isinstance(value, float):
                # Spreadsheet numbers: 12.0 -> 12, 0.1 -> "0.1" (not 0.1000000000000000055).
                row[key] = int(value) if value.is_integer() else repr(value)

    def get_instance(self, instance_loader, row):
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            errors = {}
            for name in self.get_import_id_fields():
                field = self.fields[name]
                try:
                    field.clean(row)
                except ValueError as exc:
                    errors[field.attribute] = ValidationError(str(exc), code="invalid")
            if not errors:
                raise
            raise ValidationError(errors) from None

    def after_init_instance(self, instance, new, row, **kwargs):
        super().after_init_instance(instance, new, row, **kwargs)
        user = kwargs.get("user")
        if new and user is not None:
            opts = self._meta.model._meta
            if not user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}"):
                raise ValidationError(
                    gettext(
                        "This row would add a new %(model)s; you may only update existing ones."
                    )
                    % {"model": opts.verbose_name}
                )

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if (
            field.column_name in row
            and _is_blank(row[field.column_name])
            and self._is_required(field)
        ):
            raise ValueError(gettext("This field is required."))
        return super().import_field(field, instance, row, is_m2m=is_m2m, **kwargs)

    # --- After the file -------------------------------------------------------

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        # Inside the import's transaction: the event exists if and only if the rows do.
        import_completed_event(
            model=self._meta.model,
            file_name=force_str(kwargs.get("file_name") or ""),
            totals={**result.totals, "rows": result.total_rows},
            by=kwargs.get("user"),
        )


def natural_key_field(name: str, model, lookup: str, **kwargs) -> Field:
    return Field(attribute=name, column_name=name, widget=NaturalKeyWidget(model, lookup), **kwargs)


# --- Catalogue and customers -----------------------------------------------------


class CustomerResource(BackofficeResource):
    partner = natural_key_field("partner", Partner, "code")

    class Meta(BackofficeResource.Meta):
        model = Customer
        name = Customer._meta.verbose_name_plural
        import_id_fields = ("partner", "ref")
        fields = (
            "partner",
            "ref",
            "name",
            "phone",
            "email",
            "tier",
            "credit_rating",
            "credit_limit",
            "orders_completed",
            "on_time_payment_rate",
            "on_time_receipt_rate",
            "crm_synced_at",
        )


class ProductResource(BackofficeResource):
    class Meta(BackofficeResource.Meta):
        model = Product
        name = Product._meta.verbose_name_plural
        import_id_fields = ("sku",)
        fields = ("sku", "name", "list_price", "is_presale", "is_active")


class WarehouseResource(BackofficeResource):
    class Meta(BackofficeResource.Meta):
        model = Warehouse
        name = Warehouse._meta.verbose_name_plural
        import_id_fields = ("code",)
        fields = ("code", "name", "priority", "is_active")


class StockLevelResource(BackofficeResource):
    """Stock counts by (SKU, warehouse code). Sets `on_hand` only."""

    product = natural_key_field("product", Product, "sku")
    warehouse = natural_key_field("warehouse", Warehouse, "code")
    product_name = Field(attribute="product__name", column_name="product_name", readonly=True)
    reserved = Field(
        attribute="reserved", column_name="reserved", readonly=True, widget=StrictIntegerWidget()
    )

    column_labels = {"product_name": _("product name")}

    class Meta(BackofficeResource.Meta):
        model = StockLevel
        name = StockLevel._meta.verbose_name_plural
        import_id_fields = ("product", "warehouse")
        fields = ("product", "warehouse", "product_name", "on_hand", "reserved")

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        self._check_on_hand(instance.on_hand, instance.reserved)

    @staticmethod
    def _check_on_hand(on_hand, reserved):
        if on_hand is not None and on_hand < reserved:
            raise ValidationError(
                {
                    "on_hand": gettext(
                        "On hand (%(on_hand)s) cannot be below the units reserved for "
                        "open orders (%(reserved)s)."
                    )
                    % {"on_hand": on_hand, "reserved": reserved}
                }
            )

    def before_save_instance(self, instance, row, **kwargs):
        super().before_save_instance(instance, row, **kwargs)
        instance.updated_at = timezone.now()

    def do_instance_save(self, instance, is_create):
        if is_create:
            instance.save(force_insert=True)
            return
        # Reservations change `reserved` under a row lock (services/stock.py): lock the
        # row, re-check against the current reservation, and write `on_hand` only, so an
        # import never overwrites a reservation made since the file was read.
        current = StockLevel.objects.select_for_update().get(pk=instance.pk)
        self._check_on_hand(instance.on_hand, current.reserved)
        StockLevel.objects.filter(pk=instance.pk).update(
            on_hand=instance.on_hand, updated_at=instance.updated_at
        )


# --- Orders: export only ------------------------------------------------------------


class OrderResource(LabelledColumnsMixin, resources.ModelResource):
    """The order list as a file. Never imported (orders enter through intake)."""

    partner = Field(attribute="partner__code", column_name="partner")
    source = Field(attribute="get_source_display", column_name="source")
    customer_ref = Field(attribute="customer__ref", column_name="customer_ref")
    customer_name = Field(attribute="customer__name", column_name="customer_name")
    status_display = Field(attribute="get_status_display", column_name="status_display")
    payment_method = Field(attribute="get_payment_method_display", column_name="payment_method")
    payment_status = Field(attribute="get_payment_status_display", column_name="payment_status")

    column_labels = {
        "partner": Order._meta.get_field("partner").verbose_name,
        "source": Order._meta.get_field("source").verbose_name,
        "customer_ref": Customer._meta.get_field("ref").verbose_name,
        "customer_name": Customer._meta.verbose_name,
        "status_display": _("stage name"),
        "payment_method": Order._meta.get_field("payment_method").verbose_name,
        "payment_status": Order._meta.get_field("payment_status").verbose_name,
    }

    class Meta:
        model = Order
        name = Order._meta.verbose_name_plural
        fields = (
            "number",
            "external_ref",
            "partner",
            "source",
            "customer_ref",
            "customer_name",
            "status",
            "status_display",
            "stage_entered_at",
            "payment_method",
            "payment_status",
            "goods_amount",
            "discount_amount",
            "total_amount",
            "amount_paid",
            "placed_at",
            "created_at",
            "dispatched_at",
        )

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("Orders are never imported: they enter through intake.")


class VerboseFieldsExportForm(SelectableFieldsExportForm):
    """The export form's field checkboxes, labelled in the user's language."""

    def _get_field_label(self, resource, field_name):
        if hasattr(resource, "field_label") and field_name in resource.fields:
            return resource.field_label(field_name)
        return super()._get_field_label(resource, field_name)
