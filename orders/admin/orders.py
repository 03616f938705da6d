from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm.admin import FSMAdminMixin, FSMObjectTransition, FSMTransitionContext

from backoffice.audit.services import audit_events_for
from backoffice.paginator import EstimatedCountPaginator
from orders.admin.catalog import BackofficeExportMixin
from orders.admin.filters import AgeBucketFilter, QueueFilter, SlaFilter, StageFilter
from orders.admin.helpers import age_of, humanize_duration, stage_badge
from orders.admin.order_actions import OrderActionsMixin
from orders.admin.panels import order_panels
from orders.admin.todo import WorkQueueAdminMixin
from orders.forms import OrderChangeForm
from orders.models import STAGE_PERMISSIONS, Order, OrderLine, Payment, StageVisit
from orders.resources import OrderResource
from orders.selectors import order_evaluation_view, order_stock_availability
from orders.services import (
    EDITABLE_FIELDS,
    TRANSITION_NAMES,
    OrderActionError,
    order_transition,
    order_unmet_checks,
    order_update_details,
)
from orders.services.queues import order_claim_touch
from orders.states import MAIN_LINE, OPEN_STAGES, OrderStatus


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = (
        "sku",
        "name",
        "quantity",
        "list_price",
        "unit_price",
        "deviation",
        "is_customised",
        "is_split_shipment",
    )
    readonly_fields = fields

    @admin.display(description=_("deviation %"))
    def deviation(self, obj):
        return obj.price_deviation_percent

    def has_add_permission(self, request, obj=None):
        return False


class StageVisitInline(admin.TabularInline):
    """The order's timeline: every stage it visited, how long, who completed it, how."""

    model = StageVisit
    extra = 0
    can_delete = False
    verbose_name_plural = _("stage timeline")
    fields = ("stage", "entered_at", "left_at", "dwell", "actor", "via", "reason")
    readonly_fields = fields
    ordering = ("entered_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description=_("dwell time"))
    def dwell(self, obj):
        if obj.left_at is None:
            return format_html("<strong>{}</strong>", humanize_duration(age_of(obj.entered_at)))
        return humanize_duration(obj.left_at - obj.entered_at)

    def has_add_permission(self, request, obj=None):
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ("amount", "reference", "paid_at", "recorded_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(
    FSMAdminMixin,
    BackofficeExportMixin,
    OrderActionsMixin,
    WorkQueueAdminMixin,
    admin.ModelAdmin,
):
    """The operating UI for orders. Every change goes through orders.services."""

    # Export only: orders enter through intake and change stage through the services.
    resource_classes = [OrderResource]

    form = OrderChangeForm
    fsm_fields = ["status"]
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/orders/order/change_list.html"
    list_display = (
        "number",
        "customer_name",
        "partner",
        "stage",
        "age",
        "dwell",
        "queue",
        "total_amount",
        "payment_status",
        "placed_at",
    )
    list_filter = (
        StageFilter,
        AgeBucketFilter,
        SlaFilter,
        QueueFilter,
        "payment_status",
        "payment_method",
        "partner",
        "is_presale",
    )
    list_select_related = ("customer", "partner", "claimed_by")
    search_fields = ("number",)  # the real search is get_search_results below
    search_help_text = _("Order number, external reference, customer reference, name or phone.")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["complete_stage_action", "print_pick_list_action", "hold_action", "cancel_action"]
    inlines = [OrderLineInline, StageVisitInline, PaymentInline]
    readonly_fields = (
        "number",
        "stage_display",
        "held_from",
        "stage_dwell",
        "customer",
        "partner",
        "external_ref",
        "source",
        "payment_method",
        "payment_status",
        "goods_amount",
        "discount_amount",
        "total_amount",
        "amount_paid",
        "coupon",
        "coupon_verified_at",
        "is_presale",
        "placed_at",
        "created_at",
        "updated_at",
        "pick_list_printed_at",
        "qc_photo",
        "qc_photo_at",
        "qc_photo_waived_at",
        "carrier",
        "tracking_number",
        "dispatched_at",
        "cancelled_at",
        "cancel_reason",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("number", "stage_display"),
                    ("stage_dwell", "held_from"),
                    ("customer", "partner"),
                    ("external_ref", "source"),
                    ("placed_at", "is_presale", "is_expedited"),
                )
            },
        ),
        (
            _("Payment"),
            {
                "fields": (
                    ("payment_method", "payment_status"),
                    ("goods_amount", "discount_amount"),
                    ("total_amount", "amount_paid"),
                    ("coupon", "coupon_verified_at"),
                )
            },
        ),
        (
            _("Shipping address"),
            {
                "fields": (
                    ("ship_name", "ship_phone"),
                    ("ship_province", "ship_city", "ship_district"),
                    ("ship_line1", "ship_postal_code"),
                )
            },
        ),
        (
            _("Invoice and notes"),
            {"fields": (("invoice_title", "invoice_tax_id"), "notes", "version")},
        ),
        (
            _("Warehouse and dispatch"),
            {
                "fields": (
                    ("pick_list_printed_at", "qc_photo", "qc_photo_at", "qc_photo_waived_at"),
                    ("carrier", "tracking_number", "dispatched_at"),
                    ("cancelled_at", "cancel_reason"),
                    ("created_at", "updated_at"),
                )
            },
        ),
    )

    # --- List columns --------------------------------------------------------

    @admin.display(description=_("customer"), ordering="customer__name")
    def customer_name(self, obj):
        return obj.customer.name

    @admin.display(description=_("stage"), ordering="status")
    def stage(self, obj):
        return stage_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("stage"))
    def stage_display(self, obj):
        return self.stage(obj)

    @admin.display(description=_("age"), ordering="placed_at")
    def age(self, obj):
        if obj.status not in OPEN_STAGES:
            return "–"
        delta = age_of(obj.placed_at)
        text = humanize_duration(delta)
        hours = delta.total_seconds() / 3600
        if hours >= settings.BACKLOG_ALARM_HOURS:
            return format_html('<span class="age-alarm">{}</span>', text)
        if hours >= settings.ORDER_TARGET_HOURS:
            return format_html('<span class="age-late">{}</span>', text)
        return text

    @admin.display(description=_("in stage for"), ordering="stage_entered_at")
    def dwell(self, obj):
        if obj.status not in OPEN_STAGES:
            return "–"
        return humanize_duration(age_of(obj.stage_entered_at))

    @admin.display(description=_("queue"))
    def queue(self, obj):
        pin = (
            format_html('<span class="pin-badge">{}</span> ', gettext("Pinned to top"))
            if obj.pinned
            else ""
        )
        if obj.claimed_by_id:
            return format_html("{}{}", pin, obj.claimed_by.get_username())
        return pin or "–"

    @admin.display(description=_("in stage for"))
    def stage_dwell(self, obj):
        return self.dwell(obj)

    # --- Search: index-friendly exact and prefix matches only -----------------

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        from orders.models import Customer

        customers = Customer.objects.filter(
            Q(ref=term) | Q(phone=term) | Q(name__startswith=term)
        ).values("pk")[:500]
        return (
            queryset.filter(
                Q(number=term.upper())
                | Q(external_ref=term)
                | Q(ship_phone=term)
                | Q(customer__in=customers)
            ),
            False,
        )

    # --- Permissions: the state and money never change through the form -------

    def has_add_permission(self, request):
        return request.user.has_perm("orders.add_order")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in OPEN_STAGES:
            fields += [f for f in EDITABLE_FIELDS if f not in fields]
        return fields

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            *self.work_queue_urls(),
            path("<path:object_id>/payment/", view(self.payment_view), name="orders_order_payment"),
            path(
                "<path:object_id>/qc-photo/", view(self.qc_photo_view), name="orders_order_qc_photo"
            ),
            path(
                "<path:object_id>/verify-coupon/",
                view(self.verify_coupon_view),
                name="orders_order_verify_coupon",
            ),
            path(
                "bulk/<str:action>/", view(self.bulk_reason_view), name="orders_order_bulk_reason"
            ),
            *urls,
        ]

    # --- Saving details goes through the service ------------------------------

    def save_model(self, request, obj, form, change):
        if not change:
            raise PermissionDenied  # orders are created through the intake service
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE_FIELDS}
        if changes:
            order_update_details(
                obj, changes=changes, by=request.user, expected_version=form.cleaned_data["version"]
            )

    def save_related(self, request, form, formsets, change):
        """Inlines are read-only views of the timeline, lines and payments."""

    def construct_change_message(self, request, form, formsets, add=False):
        # The inline formsets are never saved (see save_related), so they lack the
        # new/changed/deleted object lists Django's change message reads: every save
        # and every transition button press would crash with a 500.
        return super().construct_change_message(request, form, [], add)

    # --- Transition buttons call the services (STYLE.md pitfall) --------------

    fsm_transition_not_allowed_msg = _("“{transition_name}” is not allowed.")

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        try:
            order_transition(obj, name=transition_name, by=request.user, **dict(kwargs or {}))
        except OrderActionError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return False
        self.message_user(
            request,
            gettext("Order %(number)s is now in “%(stage)s”.")
            % {"number": obj.number, "stage": obj.get_status_display()},
            level=messages.SUCCESS,
        )
        return True

    def _get_fsm_extra_context(self, *, request, obj):
        """The buttons: what the user may do now. "Reserve stock" is offered while the
        stock is not reserved yet: pressing it is what reserves it (the service refuses
        with the short lines if it cannot), so its FSM condition cannot gate the button."""
        names = [
            t.name
            for t in obj.get_available_user_status_transitions(user=request.user)
            if self.is_fsm_transition_visible(t)
        ]
        reserve = Order.reserve_stock._django_fsm.get_transition(obj.status)
        if (
            reserve is not None
            and "reserve_stock" not in names
            and reserve.has_perm(obj, request.user)
        ):
            names.insert(0, "reserve_stock")
        if not names:
            return
        by_name = {name: getattr(Order, name)._django_fsm for name in names}
        yield FSMObjectTransition(
            fsm_field="status",
            block_label=self.get_fsm_block_label(fsm_field_name="status"),
            available_transitions=[
                FSMTransitionContext(
                    name=name,
                    label=self.get_fsm_label(meta.get_transition(obj.status)),
                    help_text=self.get_help_text(meta.get_transition(obj.status)),
                )
                for name, meta in by_name.items()
            ],
        )

    def get_fsm_block_label(self, fsm_field_name):
        return gettext("Next step")

    def response_change(self, request, obj):
        # FSMAdminMixin answers a forged step name (not a transition) with a 500.
        name = request.POST.get(self.fsm_post_param)
        if name and name not in TRANSITION_NAMES:
            self.message_user(
                request, gettext("Unknown step “%(step)s”.") % {"step": name}, messages.ERROR
            )
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        if transition_name not in TRANSITION_NAMES:
            raise Http404
        return super().fsm_transition_view(request, object_id, transition_name, **kwargs)

    def changelist_view(self, request, extra_context=None):
        from orders.models import StageBreaker

        extra_context = extra_context or {}
        extra_context["open_breakers"] = list(
            StageBreaker.objects.exclude(state="closed").order_by("stage")
        )
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        if (
            request.method == "POST"
            and request.POST.get(self.fsm_post_param)
            and order is not None
            and self.has_view_permission(request, order)
            and not self.has_change_permission(request, order)
        ):
            # The warehouse and QC teams may move orders but not edit their details;
            # Django refuses any POST to the change form without change permission, so
            # their button press is handled here (the service checks the stage permission).
            return self.response_change(request, order)
        extra_context = extra_context or {}
        if order is not None and request.method == "GET":
            order_claim_touch(order, user=request.user)
        if order is not None:
            extra_context.update(
                unmet_checks=order_unmet_checks(order) if order.status in OPEN_STAGES else [],
                stock_rows=order_stock_availability(order)
                if order.status == OrderStatus.STOCK_RESERVATION
                else [],
                audit_events=list(audit_events_for(order).order_by("-at", "-id")[:30]),
                extra_panels=order_panels(request, order),
                evaluation=order_evaluation_view(order),
                can_record_payment=request.user.has_perm("orders.record_payment")
                and order.status != OrderStatus.CANCELLED,
                can_upload_photo=order.status in (OrderStatus.QUALITY_CHECK, OrderStatus.DISPATCHED)
                and request.user.has_perm("orders.process_quality_check"),
                claimable=order.status in MAIN_LINE
                and request.user.has_perm(STAGE_PERMISSIONS[order.status]),
                can_release_claim=order.claimed_by_id == request.user.pk
                or request.user.has_perm("orders.release_order"),
                can_pin=order.status in MAIN_LINE and request.user.has_perm("orders.release_order"),
                can_verify_coupon=order.status == OrderStatus.SALES_REVIEW
                and order.coupon_id is not None
                and order.coupon_verified_at is None
                and request.user.has_perm("orders.process_sales_review"),
            )
        return super().change_view(request, object_id, form_url, extra_context)
