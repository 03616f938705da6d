"""Admin of authorization codes: issue (the code is shown once, on the result page),
the list with each code's state, revoke with a reason, and the log of uses.

The code hash is never shown; issuing and revoking go through approvals.services.codes.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from approvals.models import AuthorizationCode, AuthorizationCodeUse
from approvals.models.codes import CodeScope
from approvals.services.codes import (
    DEFAULT_VALIDITY,
    authorization_code_issue,
    authorization_code_revoke,
    authorization_code_status,
)
from backoffice.admin_helpers import ReadOnlyAdmin
from backoffice.paginator import EstimatedCountPaginator
from orders.services import OrderActionError

STATUS_LABELS = {
    "active": _("active"),
    "not_yet_valid": _("not yet valid"),
    "expired": _("expired"),
    "exhausted": _("used up"),
    "revoked": _("revoked"),
}
STATUS_COLOURS = {"active": "#15803d", "revoked": "#dc2626"}
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _local_input(moment) -> str:
    return timezone.localtime(moment).strftime(_LOCAL_INPUT)


class IssueForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=120, help_text=_("What the code is for."))
    scope = forms.ChoiceField(label=_("Scope"), choices=CodeScope.choices)
    max_deviation_pct = forms.DecimalField(
        label=_("Maximum deviation (%)"),
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        initial=Decimal("5"),
        help_text=_("How far from the list price (up or down) a price may go with this code."),
    )
    valid_from = forms.DateTimeField(
        label=_("Valid from"),
        input_formats=[_LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )
    valid_until = forms.DateTimeField(
        label=_("Valid until"),
        input_formats=[_LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )
    max_uses = forms.IntegerField(label=_("Maximum uses"), min_value=1, max_value=10_000, initial=1)
    holder = forms.ModelChoiceField(
        label=_("Holder"),
        required=False,
        queryset=get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .order_by("username"),
        help_text=_("Only this person may use the code (empty: any staff member)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        now = timezone.now()
        self.fields["valid_from"].initial = _local_input(now)
        self.fields["valid_until"].initial = _local_input(now + DEFAULT_VALIDITY)


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class CodeStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(STATUS_LABELS.items())

    def queryset(self, request, queryset):
        now = timezone.now()
        live = Q(revoked_at=None)
        conditions = {
            "active": live & Q(valid_from__lte=now, valid_until__gt=now, uses__lt=F("max_uses")),
            "not_yet_valid": live & Q(valid_from__gt=now),
            "expired": live & Q(valid_until__lte=now),
            "exhausted": live & Q(uses__gte=F("max_uses")),
            "revoked": Q(revoked_at__isnull=False),
        }
        condition = conditions.get(self.value())
        return queryset.filter(condition) if condition is not None else queryset


@admin.register(AuthorizationCode)
class AuthorizationCodeAdmin(admin.ModelAdmin):
    list_display = (
        "masked_code",
        "label",
        "scope",
        "max_deviation_pct",
        "uses_of_max",
        "validity",
        "holder",
        "status",
    )
    list_filter = (CodeStatusFilter, "scope")
    search_fields = ("=prefix", "label")
    list_select_related = ("holder",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Never `code_hash`.
    fields = (
        "masked_code",
        "label",
        "scope",
        "max_deviation_pct",
        "valid_from",
        "valid_until",
        "max_uses",
        "uses",
        "uses_link",
        "holder",
        "issued_at",
        "issued_by",
        "revoked_at",
        "revoked_by",
        "status",
    )
    readonly_fields = fields

    @admin.display(description=_("code"), ordering="prefix")
    def masked_code(self, obj):
        return f"{obj.prefix}-····-····"

    @admin.display(description=_("uses"))
    def uses_of_max(self, obj):
        return f"{obj.uses} / {obj.max_uses}"

    @admin.display(description=_("valid"), ordering="valid_until")
    def validity(self, obj):
        start, end = timezone.localtime(obj.valid_from), timezone.localtime(obj.valid_until)
        return f"{start:%m-%d %H:%M} – {end:%m-%d %H:%M}"

    @admin.display(description=_("status"))
    def status(self, obj):
        state = authorization_code_status(obj)
        return format_html(
            '<strong style="color:{}">{}</strong>',
            STATUS_COLOURS.get(state, "#64748b"),
            STATUS_LABELS[state],
        )

    @admin.display(description=_("log of uses"))
    def uses_link(self, obj):
        url = reverse("admin:approvals_authorizationcodeuse_changelist")
        return format_html('<a href="{}?code__id__exact={}">{}</a>', url, obj.pk, _("show uses"))

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("approvals.change_authorizationcode")

    def get_urls(self):
        revoke = self.admin_site.admin_view(self.revoke_view)
        return [
            path("<path:object_id>/revoke/", revoke, name="approvals_authorizationcode_revoke"),
            *super().get_urls(),
        ]

    def _page(self, request, template, context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "has_view_permission": self.has_view_permission(request),
            **context,
        }
        return TemplateResponse(request, f"admin/approvals/authorizationcode/{template}", context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                code, plaintext = authorization_code_issue(by=request.user, **form.cleaned_data)
            except OrderActionError as exc:
                form.add_error(None, str(exc))
                for reason in exc.reasons:
                    form.add_error(None, reason)
            else:
                # The only time the code is ever shown: no cache may keep the page.
                response = self._page(
                    request,
                    "issued.html",
                    {"code": code, "plaintext": plaintext, "title": gettext("Code issued")},
                )
                add_never_cache_headers(response)
                return response
        return self._page(
            request,
            "add_form.html",
            {"form": form, "title": gettext("Issue an authorization code")},
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        code = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        extra["can_revoke"] = (
            code is not None and code.revoked_at is None and self.has_revoke_permission(request)
        )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def revoke_view(self, request, object_id):
        code = self.get_object(request, object_id)
        if code is None or not self.has_revoke_permission(request):
            raise PermissionDenied
        form = RevokeForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                authorization_code_revoke(code, by=request.user, reason=form.cleaned_data["reason"])
            except OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, gettext("Code revoked."), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:approvals_authorizationcode_change", args=[code.pk])
                )
        return self._page(
            request, "revoke.html", {"form": form, "original": code, "title": gettext("Revoke")}
        )


@admin.register(AuthorizationCodeUse)
class AuthorizationCodeUseAdmin(ReadOnlyAdmin):
    list_display = ("used_at", "code", "order_link", "used_by", "deviation_pct", "reason", "ip")
    list_filter = ("used_at",)
    search_fields = ("=order__number", "=code__prefix")
    list_select_related = ("code", "order", "used_by")
    paginator = EstimatedCountPaginator
    fields = (
        "code",
        "order_link",
        "price_change",
        "used_by",
        "used_at",
        "deviation_pct",
        "reason",
        "ip",
    )
    readonly_fields = fields

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description=_("IP address"))
    def ip(self, obj):
        return obj.ip_address or "–"
