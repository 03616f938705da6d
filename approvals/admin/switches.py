"""Admin of the emergency bypasses: the switch panel (the switch list itself), the
bypass history, and the queue of QC photos owed after urgent dispatch.

Switching on and off goes through approvals.services.switches (audited, notified);
nothing here writes a switch, a window or an obligation directly.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from approvals.conditions import condition_describe, condition_errors
from approvals.facts import FACTS
from approvals.models import BypassSwitch, BypassUse, BypassWindow, Obligation, SwitchKind
from approvals.models.switches import MAX_DURATION
from approvals.services.switches import (
    OPERATE_PERMISSION,
    bypass_switch_off,
    bypass_switch_on,
)
from backoffice.admin_helpers import ReadOnlyAdmin
from orders.admin.helpers import humanize_duration
from orders.services import OrderActionError

GREEN, RED, GREY = "#15803d", "#dc2626", "#64748b"
MAX_HOURS = int(MAX_DURATION.total_seconds() // 3600)


def _badge(text, colour, css=""):
    return format_html(
        '<strong class="{}" style="color:{}">{}</strong>', css or "bypass-state", colour, text
    )


def _order_link(order):
    url = reverse("admin:orders_order_change", args=[order.pk])
    return format_html('<a href="{}">{}</a>', url, order.number)


# --- The switch panel --------------------------------------------------------------


class SwitchOnForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Kept in the audit log and shown on the panel while the bypass is on."),
    )
    hours = forms.IntegerField(
        label=_("Hours"),
        min_value=1,
        max_value=MAX_HOURS,
        initial=4,
        help_text=_("The bypass switches itself off after this time (at most 24 hours)."),
    )
    scope = forms.CharField(
        label=_("Scope (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 70, "spellcheck": "false"}),
        help_text=_(
            "Only orders meeting this condition may use the bypass, as JSON, e.g. "
            '{"all": [{"fact": "amount", "op": "<", "value": 500}]}. Empty: all orders.'
        ),
    )

    def clean_scope(self):
        text = self.cleaned_data["scope"].strip()
        if not text:
            return {}
        try:
            scope = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(
                _("The scope is not valid JSON: %(error)s") % {"error": exc}
            ) from exc
        problems = condition_errors(scope, allow_empty=True)
        if problems:
            raise forms.ValidationError(problems)
        return scope


class SwitchOffForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


@admin.register(BypassSwitch)
class BypassSwitchAdmin(admin.ModelAdmin):
    """The panel: one row per bypass with its state, why, who, time left and uses."""

    list_display = (
        "__str__",
        "state",
        "reason",
        "switched_on_by",
        "time_left",
        "uses",
        "obligations",
        "buttons",
    )
    list_display_links = None
    list_select_related = ("current_window", "current_window__opened_by")
    actions = None
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        if not request.user.has_perm(OPERATE_PERMISSION):
            shown.remove("buttons")
        return shown

    def get_queryset(self, request):
        now = timezone.now()
        owed = (
            Obligation.objects.filter(fulfilled_at=None, use__kind=OuterRef("kind"))
            .order_by()
            .values("use__kind")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                owed_open=Coalesce(
                    Subquery(owed.annotate(n=Count("pk")).values("n")),
                    0,
                    output_field=IntegerField(),
                ),
                owed_overdue=Coalesce(
                    Subquery(owed.annotate(n=Count("pk", filter=Q(due_at__lte=now))).values("n")),
                    0,
                    output_field=IntegerField(),
                ),
            )
        )

    def changelist_view(self, request, extra_context=None):
        if BypassSwitch.objects.count() < len(SwitchKind.values):
            for kind in SwitchKind.values:
                BypassSwitch.objects.get_or_create(kind=kind)
        extra_context = {"title": gettext("Emergency bypasses"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _window(obj):
        window = obj.current_window
        return window if window is not None and window.closed_at is None else None

    @admin.display(description=_("state"))
    def state(self, obj):
        window = self._window(obj)
        if window is None:
            return _badge(gettext("off"), GREY)
        if not window.is_active():
            return _badge(gettext("expired"), RED, "bypass-expired")
        return _badge(gettext("ON"), GREEN, "bypass-on")

    @admin.display(description=_("reason"))
    def reason(self, obj):
        window = self._window(obj)
        return window.reason if window else "–"

    @admin.display(description=_("switched on by"))
    def switched_on_by(self, obj):
        window = self._window(obj)
        if window is None:
            return "–"
        return gettext("%(who)s at %(at)s") % {
            "who": window.opened_by or "–",
            "at": timezone.localtime(window.opened_at).strftime("%Y-%m-%d %H:%M"),
        }

    @admin.display(description=_("time left"))
    def time_left(self, obj):
        window = self._window(obj)
        if window is None:
            return "–"
        left = window.expires_at - timezone.now()
        if left.total_seconds() <= 0:
            return _badge(gettext("expired"), RED, "bypass-expired")
        return gettext("%(left)s left") % {"left": humanize_duration(left)}

    @admin.display(description=_("uses in this window"))
    def uses(self, obj):
        window = self._window(obj)
        return window.uses if window else "–"

    @admin.display(description=_("photos owed (open / overdue)"))
    def obligations(self, obj):
        if obj.kind != SwitchKind.URGENT_DISPATCH and not obj.owed_open:
            return "–"
        url = reverse("admin:approvals_obligation_changelist")
        overdue = obj.owed_overdue
        return format_html(
            '<a href="{}">{}</a> / <span style="color:{}">{}</span>',
            url,
            obj.owed_open,
            RED if overdue else "inherit",
            overdue,
        )

    @admin.display(description=_("switch"))
    def buttons(self, obj):
        def button(name, label):
            url = reverse(f"admin:approvals_bypassswitch_{name}", args=[obj.pk])
            return format_html('<a class="button" href="{}">{}</a>', url, label)

        if self._window(obj) is None:
            return button("on", gettext("Switch on"))
        return format_html(
            "{} {}", button("off", gettext("Switch off")), button("on", gettext("Switch on again"))
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/switch-on/",
                view(self.switch_on_view),
                name="approvals_bypassswitch_on",
            ),
            path(
                "<path:object_id>/switch-off/",
                view(self.switch_off_view),
                name="approvals_bypassswitch_off",
            ),
            *super().get_urls(),
        ]

    def _switch_form_view(self, request, object_id, *, form, perform, title, done):
        if not request.user.has_perm(OPERATE_PERMISSION):
            raise PermissionDenied
        switch = BypassSwitch.objects.select_related("current_window").filter(pk=object_id).first()
        if switch is None:
            raise PermissionDenied
        if request.method == "POST" and form.is_valid():
            try:
                message = perform(switch, form.cleaned_data)
            except OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, message or done, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:approvals_bypassswitch_changelist"))
        window = self._window(switch)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "window": window,
            "form": form,
            "title": title % {"kind": switch.get_kind_display()},
            "facts": FACTS.values() if "scope" in form.fields else (),
            "scope_text": condition_describe(window.scope) if window else "",
        }
        return TemplateResponse(request, "admin/approvals/bypassswitch/switch_form.html", context)

    def switch_on_view(self, request, object_id):
        def perform(switch, data):
            window = bypass_switch_on(
                switch.kind,
                by=request.user,
                reason=data["reason"],
                hours=data["hours"],
                scope=data["scope"],
            )
            return gettext("%(kind)s is on until %(until)s.") % {
                "kind": switch.get_kind_display(),
                "until": timezone.localtime(window.expires_at).strftime("%Y-%m-%d %H:%M"),
            }

        return self._switch_form_view(
            request,
            object_id,
            form=SwitchOnForm(request.POST or None),
            perform=perform,
            title=gettext("Switch on: %(kind)s"),
            done="",
        )

    def switch_off_view(self, request, object_id):
        def perform(switch, data):
            window = bypass_switch_off(switch.kind, by=request.user, reason=data["reason"])
            if window.closed_how == BypassWindow.Closed.EXPIRED:
                return gettext("%(kind)s had already expired.") % {
                    "kind": switch.get_kind_display()
                }
            return ""

        return self._switch_form_view(
            request,
            object_id,
            form=SwitchOffForm(request.POST or None),
            perform=perform,
            title=gettext("Switch off: %(kind)s"),
            done=gettext("The bypass is off."),
        )


# --- History -----------------------------------------------------------------------


@admin.register(BypassWindow)
class BypassWindowAdmin(ReadOnlyAdmin):
    list_display = (
        "kind",
        "opened_at",
        "opened_by",
        "reason",
        "scope_text",
        "expires_at",
        "closed_at",
        "closed_how",
        "closed_by",
        "close_reason",
        "uses",
    )
    list_filter = ("kind", "closed_how")
    list_select_related = ("opened_by", "closed_by")
    date_hierarchy = "opened_at"

    @admin.display(description=_("scope"))
    def scope_text(self, obj):
        return condition_describe(obj.scope)


@admin.register(BypassUse)
class BypassUseAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "order_link", "window", "by")
    list_filter = ("kind",)
    list_select_related = ("order", "window", "by")
    date_hierarchy = "at"
    search_fields = ("order__number",)

    @admin.display(description=_("order"), ordering="order")
    def order_link(self, obj):
        return _order_link(obj.order)


# --- Photos owed after urgent dispatch -----------------------------------------------


class FulfilledFilter(admin.SimpleListFilter):
    title = _("fulfilled")
    parameter_name = "fulfilled"

    def lookups(self, request, model_admin):
        return [("no", _("Still owed")), ("yes", _("Fulfilled")), ("all", _("All"))]

    def value(self):
        return super().value() or "no"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(fulfilled_at=None)
        if self.value() == "yes":
            return queryset.exclude(fulfilled_at=None)
        return queryset


@admin.register(Obligation)
class ObligationAdmin(ReadOnlyAdmin):
    """The owed queue: open obligations, soonest due first, overdue ones in red."""

    list_display = (
        "order_link",
        "kind",
        "created_at",
        "due_at",
        "status",
        "fulfilled_at",
        "fulfilled_by",
        "upload_link",
    )
    list_filter = (FulfilledFilter, "kind")
    list_select_related = ("order", "fulfilled_by")
    ordering = ("due_at", "pk")
    search_fields = ("order__number",)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": gettext("Photos owed after urgent dispatch"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("order"), ordering="order")
    def order_link(self, obj):
        return _order_link(obj.order)

    @admin.display(description=_("status"))
    def status(self, obj):
        now = timezone.now()
        if obj.fulfilled_at is not None:
            late = obj.fulfilled_at > obj.due_at
            return gettext("uploaded late") if late else gettext("uploaded in time")
        if obj.is_overdue(now):
            return _badge(
                gettext("overdue by %(late)s") % {"late": humanize_duration(now - obj.due_at)},
                RED,
                "overdue",
            )
        return gettext("due in %(left)s") % {"left": humanize_duration(obj.due_at - now)}

    @admin.display(description=_("QC photo"))
    def upload_link(self, obj):
        if obj.fulfilled_at is not None or obj.kind != Obligation.Kind.QC_PHOTO:
            return "–"
        url = reverse("admin:orders_order_qc_photo", args=[obj.order_id])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Upload the photo"))
