"""Routing rules in the admin: edit with validation and a reason, dry-run before saving,
see every version, apply to the orders waiting now. Rules are disabled, never deleted:
their versions explain the timeline of the orders they passed."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from approvals.conditions import condition_describe, condition_errors
from approvals.facts import FACTS
from approvals.models import RoutingRule, RoutingRuleVersion
from approvals.services.rules import rule_apply_to_waiting, rule_dry_run, rule_save
from backoffice.admin_helpers import ReadOnlyInline
from orders.admin.helpers import humanize_duration

EXAMPLE = {
    "all": [
        {"fact": "amount", "op": "<", "value": 5000},
        {"fact": "credit_rating", "op": "=", "value": "good"},
    ]
}


class RoutingRuleForm(forms.ModelForm):
    change_reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=300,
        required=False,
        help_text=_("Kept with this version of the rule (required when changing a rule)."),
    )
    dry_run_days = forms.IntegerField(
        label=_("Dry run over the last (days)"),
        min_value=1,
        max_value=90,
        initial=7,
        required=False,
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "description",
            "target",
            "condition",
            "priority",
            "enabled",
            "effective_from",
            "effective_until",
        ]
        widgets = {
            "condition": forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"})
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.is_bound:
            self.initial.setdefault("condition", EXAMPLE)

    def clean_condition(self):
        condition = self.cleaned_data.get("condition")
        errors = condition_errors(condition)
        if errors:
            raise ValidationError(errors)
        return condition

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("effective_from"), cleaned.get("effective_until")
        if start and end and end <= start:
            self.add_error("effective_until", _("The end of the window must be after its start."))
        if (
            self.instance.pk
            and not cleaned.get("change_reason", "").strip()
            and "_dryrun" not in self.data
            and self.has_changed()
        ):
            self.add_error("change_reason", _("Say why the rule changes."))
        return cleaned


class RuleVersionInline(ReadOnlyInline):
    model = RoutingRuleVersion
    fields = ("version", "changed_at", "changed_by", "change_reason", "enabled", "condition_text")
    readonly_fields = fields
    ordering = ("-version",)
    verbose_name_plural = _("version history")

    @admin.display(description=_("condition"))
    def condition_text(self, obj):
        return condition_describe(obj.condition)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    change_form_template = "admin/approvals/routingrule/change_form.html"
    list_display = (
        "name",
        "target",
        "enabled_badge",
        "priority",
        "condition_text",
        "window",
        "version",
        "updated_by",
        "updated_at",
    )
    list_filter = ("enabled", "target")
    search_fields = ("name", "description")
    readonly_fields = ("version", "updated_by", "updated_at")
    inlines = [RuleVersionInline]
    actions = ["apply_to_waiting", "disable_rules"]
    fieldsets = (
        (None, {"fields": ("name", "description", "target", "condition")}),
        (_("When"), {"fields": ("enabled", "priority", "effective_from", "effective_until")}),
        (
            None,
            {"fields": ("change_reason", "dry_run_days", "version", "updated_by", "updated_at")},
        ),
    )

    @admin.display(description=_("enabled"), ordering="enabled")
    def enabled_badge(self, obj):
        if obj.enabled:
            return format_html('<strong style="color:#2e7d32">{}</strong>', gettext("on"))
        return gettext("off")

    @admin.display(description=_("condition"))
    def condition_text(self, obj):
        return condition_describe(obj.condition)

    @admin.display(description=_("effective window"))
    def window(self, obj):
        if not obj.effective_from and not obj.effective_until:
            return gettext("always")
        start = obj.effective_from.strftime("%m-%d %H:%M") if obj.effective_from else "…"
        end = obj.effective_until.strftime("%m-%d %H:%M") if obj.effective_until else "…"
        return f"{start} – {end}"

    def has_delete_permission(self, request, obj=None):
        return False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new rule has no history yet

    def save_model(self, request, obj, form, change):
        rule_save(obj, by=request.user, reason=form.cleaned_data.get("change_reason", ""))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("approvals.change_routingrule"):
            actions.pop("apply_to_waiting", None)
            actions.pop("disable_rules", None)
        return actions

    @admin.action(description=_("Apply the rules to the orders waiting in these rules' stages now"))
    def apply_to_waiting(self, request, queryset):
        moved = sum(rule_apply_to_waiting(rule, by=request.user) for rule in queryset)
        self.message_user(
            request,
            gettext("%(count)s waiting orders were passed on.") % {"count": moved},
            messages.SUCCESS,
        )

    @admin.action(description=_("Disable the selected rules"))
    def disable_rules(self, request, queryset):
        for rule in queryset.filter(enabled=True):
            rule.enabled = False
            rule_save(rule, by=request.user, reason=gettext("disabled from the rule list"))
        self.message_user(request, gettext("Rules disabled."), messages.SUCCESS)

    # --- Dry run: "what would this rule have done", from the unsaved form -------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "facts": FACTS.values()}
        if request.method == "POST" and "_dryrun" in request.POST:
            return self._dry_run_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _dry_run_view(self, request, object_id, form_url, extra_context):
        if not request.user.has_perm("approvals.dry_run_routingrule"):
            raise PermissionDenied
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            raise PermissionDenied
        form_class = self.get_form(request, obj, change=obj is not None)
        form = form_class(request.POST, instance=obj)
        result = None
        if form.is_valid():
            result = rule_dry_run(
                target=form.cleaned_data["target"],
                condition=form.cleaned_data["condition"],
                days=form.cleaned_data.get("dry_run_days") or 7,
            )
        # The inlines go back on the page (bound to what was posted), or the next save
        # of this form would miss their management form.
        formsets, inline_instances = self._create_formsets(
            request, obj if obj is not None else self.model(), change=obj is not None
        )
        inline_admin_formsets = self.get_inline_formsets(request, formsets, inline_instances, obj)
        fieldsets = list(self.get_fieldsets(request, obj))
        admin_form = helpers.AdminForm(
            form, fieldsets, {}, self.get_readonly_fields(request, obj), model_admin=self
        )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Dry run: %(name)s") % {"name": form.data.get("name", "")},
            "subtitle": None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": inline_admin_formsets,
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "dry_run": dry_run_display(result) if result is not None else None,
            "dry_run_condition": json.dumps(form.cleaned_data.get("condition"))
            if form.is_valid()
            else "",
            **extra_context,
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )


def _seconds_text(seconds) -> str:
    return humanize_duration(timedelta(seconds=seconds)) if seconds is not None else "–"


def dry_run_display(result) -> dict:
    """The dry run's numbers as the template shows them."""
    return {
        "result": result,
        "share_pct": round(result.share * 100, 1),
        "saved_total": _seconds_text(result.saved_seconds_total) if result.manual_matched else "–",
        "saved_median": _seconds_text(result.saved_seconds_median),
        "examples": [
            {**example, "dwell": _seconds_text(example["dwell_seconds"])}
            for example in result.examples
        ],
    }
