"""Admin of price changes: the list to decide from, the request form reached from the
order page (`add/?order=<id>`), approve / reject / withdraw buttons and bulk actions.

Every write goes through approvals.services.prices; the rows themselves are read-only.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from approvals.models import PriceChangeRequest
from approvals.services.prices import (
    APPROVE_PERMISSION,
    price_change_allowed,
    price_change_apply_with_code,
    price_change_approve,
    price_change_reject,
    price_change_request,
    price_change_withdraw,
)
from backoffice.paginator import EstimatedCountPaginator
from orders.admin.helpers import humanize_duration
from orders.models import Order
from orders.services import OrderActionError
from orders.services.intake import MAX_AMOUNT

Status = PriceChangeRequest.Status


class OrderPickForm(forms.Form):
    number = forms.CharField(label=_("Order number"), max_length=32)

    def clean_number(self):
        number = self.cleaned_data["number"].strip()
        order = Order.objects.filter(number=number).first()
        if order is None:
            raise forms.ValidationError(_("No order with this number."))
        self.order = order
        return number


class LineChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, line):
        return gettext("%(sku)s %(name)s × %(qty)s at %(price)s CNY (list %(list)s)") % {
            "sku": line.sku,
            "name": line.name,
            "qty": line.quantity,
            "price": line.unit_price,
            "list": line.list_price,
        }


class PriceChangeForm(forms.Form):
    line = LineChoiceField(label=_("Line"), queryset=None, empty_label=None)
    new_unit_price = forms.DecimalField(
        label=_("New unit price (CNY)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=MAX_AMOUNT,
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )
    authorization_code = forms.CharField(
        label=_("Authorization code"),
        required=False,
        max_length=40,
        # Hidden while typed and never sent back into the page.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "one-time-code"}),
        help_text=_(
            "Optional. With a manager's code (while the code bypass is on) the price "
            "applies at once; without one the change waits for approval."
        ),
    )

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["line"].queryset = order.lines.all()


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to reject."),
    )


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@admin.register(PriceChangeRequest)
class PriceChangeRequestAdmin(admin.ModelAdmin):
    list_display = (
        "order_link",
        "sku",
        "price_change",
        "deviation",
        "status",
        "requested_by",
        "age",
    )
    # The order number links to the order; the prices open the request.
    list_display_links = ("price_change",)
    list_filter = ("status",)
    search_fields = ("=order__number", "=line__sku")
    list_select_related = ("order", "line", "requested_by")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["approve_selected", "reject_selected"]
    fields = (
        "order_link",
        "line",
        "list_price",
        "old_unit_price",
        "new_unit_price",
        "deviation_pct",
        "reason",
        "status",
        "requested_at",
        "requested_by",
        "decided_at",
        "decided_by",
        "decision_note",
        "authorization_code_used",
    )
    readonly_fields = fields

    # --- Columns ---------------------------------------------------------------------

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description=_("SKU"))
    def sku(self, obj):
        return obj.line.sku

    @admin.display(description=_("unit price (CNY)"))
    def price_change(self, obj):
        return f"{obj.old_unit_price} → {obj.new_unit_price}"

    @admin.display(description=_("deviation"), ordering="deviation_pct")
    def deviation(self, obj):
        colour = "#dc2626" if obj.deviation_pct < 0 else "#15803d"
        return format_html('<span style="color:{}">{} %</span>', colour, obj.deviation_pct)

    @admin.display(description=_("age"), ordering="requested_at")
    def age(self, obj):
        return humanize_duration(timezone.now() - obj.requested_at)

    @admin.display(description=_("authorization code"))
    def authorization_code_used(self, obj):
        use = getattr(obj, "code_use", None) if obj.status == Status.APPLIED_WITH_CODE else None
        if use is None:
            return "–"
        url = reverse("admin:approvals_authorizationcode_change", args=[use.code_id])
        return format_html('<a href="{}">{}</a>', url, use.code)

    # --- Permissions: read-only rows, writes through the services ---------------------

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm(APPROVE_PERMISSION)

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<path:object_id>/decide/", decide, name="approvals_pricechangerequest_decide"),
            *super().get_urls(),
        ]

    # --- Asking for a price change ----------------------------------------------------

    def _order_from(self, request) -> Order | None:
        raw = request.POST.get("order") or request.GET.get("order") or ""
        if not raw.isdigit():
            return None
        return Order.objects.filter(pk=int(raw)).first()

    def _page(self, request, template, context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "has_view_permission": self.has_view_permission(request),
            **context,
        }
        return TemplateResponse(request, f"admin/approvals/pricechangerequest/{template}", context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        order = self._order_from(request)
        if order is None:
            pick = OrderPickForm(request.GET if "number" in request.GET else None)
            if pick.is_valid():
                return HttpResponseRedirect(f"{request.path}?order={pick.order.pk}")
            return self._page(
                request, "add_form.html", {"pick": pick, "title": gettext("Request a price change")}
            )
        form = PriceChangeForm(request.POST if request.method == "POST" else None, order=order)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                change = self._perform(request, order, data)
            except OrderActionError as exc:
                form.add_error(None, str(exc))
                for reason in exc.reasons:
                    form.add_error(None, reason)
            else:
                if change.status == Status.APPLIED_WITH_CODE:
                    message = gettext("The new price of %(sku)s applies now (authorization code).")
                else:
                    message = gettext("Price change for %(sku)s requested: waiting for approval.")
                self.message_user(request, message % {"sku": change.line.sku}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        return self._page(
            request,
            "add_form.html",
            {
                "form": form,
                "order": order,
                "allowed": price_change_allowed(order),
                "title": gettext("Request a price change"),
            },
        )

    def _perform(self, request, order, data):
        common = {
            "line": data["line"],
            "new_unit_price": data["new_unit_price"],
            "reason": data["reason"],
            "by": request.user,
        }
        code = (data.get("authorization_code") or "").strip()
        if code:
            return price_change_apply_with_code(order, code=code, ip=_client_ip(request), **common)
        return price_change_request(order, **common)

    # --- Deciding: buttons on the change page ----------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        change = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if change is not None and change.status == Status.PENDING:
            extra["can_decide"] = self.has_approve_permission(request) and (
                change.requested_by_id != request.user.pk
            )
            extra["can_withdraw"] = (
                change.requested_by_id == request.user.pk or self.has_approve_permission(request)
            )
            extra["decision_form"] = DecisionForm()
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def decide_view(self, request, object_id):
        change = self.get_object(request, object_id)
        if change is None or not self.has_view_permission(request, change):
            raise PermissionDenied
        back = HttpResponseRedirect(
            reverse("admin:approvals_pricechangerequest_change", args=[change.pk])
        )
        if request.method != "POST":
            return back
        form = DecisionForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        decision = request.POST.get("decision")
        services = {
            "approve": (
                lambda: price_change_approve(change, by=request.user, note=note),
                gettext("Price change approved; the new price applies."),
            ),
            "reject": (
                lambda: price_change_reject(change, by=request.user, note=note),
                gettext("Price change rejected."),
            ),
            "withdraw": (
                lambda: price_change_withdraw(change, by=request.user),
                gettext("Price change withdrawn."),
            ),
        }
        if decision not in services:
            return back
        perform, done = services[decision]
        try:
            perform()
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return back

    # --- Bulk actions: each change on its own, failures named -------------------------

    def _report(self, request, done: int, failures: list[tuple[PriceChangeRequest, str]]):
        if done:
            self.message_user(
                request,
                ngettext("%(n)d price change decided.", "%(n)d price changes decided.", done)
                % {"n": done},
                messages.SUCCESS,
            )
        for change, reason in failures:
            self.message_user(
                request, f"{change.order.number} {change.line.sku}: {reason}", messages.ERROR
            )

    def _each(self, request, queryset, perform):
        done, failures = 0, []
        for change in queryset.select_related("order", "line")[:200]:
            try:
                perform(change)
                done += 1
            except OrderActionError as exc:
                failures.append((change, str(exc)))
        self._report(request, done, failures)

    @admin.action(description=_("Approve selected price changes"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._each(request, queryset, lambda c: price_change_approve(c, by=request.user))

    @admin.action(description=_("Reject selected price changes…"), permissions=["approve"])
    def reject_selected(self, request, queryset):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid() and form.cleaned_data["note"].strip():
            note = form.cleaned_data["note"]
            self._each(
                request, queryset, lambda c: price_change_reject(c, by=request.user, note=note)
            )
            return None
        if form.is_bound:
            form.add_error("note", gettext("Say why the price changes are rejected."))
        return self._page(
            request,
            "reject_selected.html",
            {
                "form": form,
                "changes": list(queryset.select_related("order", "line")[:200]),
                "action": "reject_selected",
                "title": gettext("Reject price changes"),
            },
        )
