"""The order page's side actions and the order list's bulk actions.

Each calls an orders service; bulk actions handle each order on its own and report
failures by order number, so one bad order never blocks the rest.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from orders.forms import (
    OrderCreateForm,
    OrderLineEntryFormSet,
    PaymentForm,
    QcPhotoForm,
    ReasonForm,
)
from orders.models import Order
from orders.services import (
    AddressInput,
    LineInput,
    OrderActionError,
    OrderInput,
    order_cancel,
    order_complete_stage,
    order_create,
    order_hold,
    order_record_payment,
    order_upload_qc_photo,
    order_verify_coupon,
    pick_list_print,
)
from orders.states import Source, Via


class OrderActionsMixin:
    # --- Side actions of the order page ---------------------------------------

    def _order_or_404(self, request, object_id) -> Order:
        order = self.get_object(request, object_id)
        if order is None:
            raise PermissionDenied
        return order

    def _back_to(self, order):
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))

    def _small_form_page(self, request, order, form, title):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": order,
            "form": form,
            "title": title,
        }
        return TemplateResponse(request, "admin/orders/order/small_form.html", context)

    def _side_form_view(self, request, object_id, *, form, perform, done_message, title):
        """A small form on its own page whose valid data is handed to a service."""
        order = self._order_or_404(request, object_id)
        if request.method == "POST" and form.is_valid():
            try:
                perform(order, form.cleaned_data)
            except OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, done_message, messages.SUCCESS)
                return self._back_to(order)
        return self._small_form_page(request, order, form, title)

    def payment_view(self, request, object_id):
        return self._side_form_view(
            request,
            object_id,
            form=PaymentForm(request.POST or None),
            perform=lambda order, data: order_record_payment(order, by=request.user, **data),
            done_message=gettext("Payment recorded."),
            title=gettext("Record a payment"),
        )

    def qc_photo_view(self, request, object_id):
        return self._side_form_view(
            request,
            object_id,
            form=QcPhotoForm(request.POST or None, request.FILES or None),
            perform=lambda order, data: order_upload_qc_photo(
                order, photo=data["photo"], by=request.user
            ),
            done_message=gettext("QC photo uploaded."),
            title=gettext("Upload the QC photo"),
        )

    def verify_coupon_view(self, request, object_id):
        order = self._order_or_404(request, object_id)
        if request.method != "POST":
            return self._back_to(order)
        try:
            order_verify_coupon(order, by=request.user)
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, gettext("Coupon verified."), messages.SUCCESS)
        return self._back_to(order)

    # --- Bulk actions: each order on its own, failures reported by number -----

    def _report(self, request, done: int, failures: list[tuple[Order, str]]):
        if done:
            self.message_user(
                request,
                ngettext("%(count)d order done.", "%(count)d orders done.", done) % {"count": done},
                messages.SUCCESS,
            )
        for order, reason in failures:
            self.message_user(request, f"{order.number}: {reason}", messages.ERROR)

    @admin.action(description=_("Complete the current stage"))
    def complete_stage_action(self, request, queryset):
        done, failures = 0, []
        for order in queryset.select_related("customer"):
            try:
                order_complete_stage(order, by=request.user)
                done += 1
            except OrderActionError as exc:
                failures.append((order, str(exc)))
        self._report(request, done, failures)

    @admin.action(description=_("Print pick list"))
    def print_pick_list_action(self, request, queryset):
        result = pick_list_print(list(queryset.select_related("customer")), by=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "result": result,
            "title": gettext("Pick list"),
        }
        return TemplateResponse(request, "admin/orders/order/pick_list.html", context)

    def _bulk_with_reason(self, request, queryset, action):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:500])
        url = reverse("admin:orders_order_bulk_reason", args=[action])
        return HttpResponseRedirect(f"{url}?ids={ids}")

    @admin.action(description=_("Put on hold…"))
    def hold_action(self, request, queryset):
        return self._bulk_with_reason(request, queryset, "hold")

    @admin.action(description=_("Cancel…"))
    def cancel_action(self, request, queryset):
        return self._bulk_with_reason(request, queryset, "cancel")

    def bulk_reason_view(self, request, action):
        services = {
            "hold": (order_hold, _("Put orders on hold")),
            "cancel": (order_cancel, _("Cancel orders")),
        }
        if action not in services:
            raise PermissionDenied
        service, title = services[action]
        raw_ids = (request.POST.get("ids") or request.GET.get("ids") or "").split(",")
        ids = [int(i) for i in raw_ids if i.strip().isdigit()][:500]
        orders = list(Order.objects.filter(pk__in=ids).select_related("customer"))
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done, failures = 0, []
            for order in orders:
                try:
                    service(order, by=request.user, reason=form.cleaned_data["reason"])
                    done += 1
                except OrderActionError as exc:
                    failures.append((order, str(exc)))
            self._report(request, done, failures)
            return HttpResponseRedirect(reverse("admin:orders_order_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "orders": orders,
            "ids": ",".join(str(o.pk) for o in orders),
            "title": title,
        }
        return TemplateResponse(request, "admin/orders/order/bulk_reason.html", context)

    # --- New order: the admin's own entry goes through the intake service too ---

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = OrderCreateForm(data, admin_site=self.admin_site)
        formset = OrderLineEntryFormSet(
            data, prefix="lines", form_kwargs={"admin_site": self.admin_site}
        )
        if data is not None and form.is_valid() and formset.is_valid():
            cleaned = form.cleaned_data
            lines = [
                LineInput(
                    product=f["product"], quantity=f["quantity"], unit_price=f.get("unit_price")
                )
                for f in formset.cleaned_data
                if f and not f.get("DELETE")
            ]
            order_input = OrderInput(
                customer=cleaned["customer"],
                lines=lines,
                shipping=AddressInput(
                    name=cleaned["ship_name"],
                    phone=cleaned["ship_phone"],
                    province=cleaned["ship_province"],
                    city=cleaned["ship_city"],
                    district=cleaned["ship_district"],
                    line1=cleaned["ship_line1"],
                ),
                payment_method=cleaned["payment_method"],
                paid=cleaned["paid"],
                coupon=cleaned["coupon"],
                notes=cleaned["notes"],
                invoice_title=cleaned["invoice_title"],
                invoice_tax_id=cleaned["invoice_tax_id"],
                is_expedited=cleaned["is_expedited"],
            )
            try:
                order = order_create(
                    order_input, by=request.user, source=Source.ADMIN, via=Via.MANUAL
                )
            except OrderActionError as exc:
                form.add_error(None, str(exc))
                for reason in exc.reasons:
                    form.add_error(None, reason)
            else:
                self.message_user(
                    request,
                    gettext("Order %(number)s created; it is now in “%(stage)s”.")
                    % {"number": order.number, "stage": order.get_status_display()},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("New order"),
            "form": form,
            "formset": formset,
            "media": self.media + form.media + formset.media,
            "add": True,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/orders/order/add_form.html", context)
