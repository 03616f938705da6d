"""Admin of the order health score: the weights (versioned, add-only), each order's
score with its breakdown (read-only), and the watch queue (open orders on watch)."""

from __future__ import annotations

from fractions import Fraction

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Subquery
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.admin_helpers import ReadOnlyAdmin
from backoffice.paginator import EstimatedCountPaginator
from orders.admin.helpers import age_of, humanize_duration, stage_badge
from orders.models import OrderHealth, ScoreWeights
from orders.services.health import (
    BANDS,
    FACTOR_LABELS,
    FACTORS,
    weights_change,
    weights_current,
    weights_validate,
)
from orders.states import OPEN_STAGES, Lane

WATCH = "watch"


class ScoreWeightsForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=300,
        help_text=_(
            "Kept with the new version and in the audit log. Open orders are rescored "
            "with the new weights right after saving."
        ),
    )

    class Meta:
        model = ScoreWeights
        fields = (*FACTORS, *BANDS, "reason")

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in (*FACTORS, *BANDS)}
        if any(value is None for value in values.values()):
            return cleaned  # the field errors already say what is wrong
        try:
            weights_validate(values)
        except ValidationError as refused:
            for name, messages in refused.message_dict.items():
                self.add_error(None if name == "__all__" else name, messages)
        return cleaned


@admin.register(ScoreWeights)
class ScoreWeightsAdmin(admin.ModelAdmin):
    """Each save is a new version (the newest is in force); versions are never edited
    or deleted, so the list is the history."""

    form = ScoreWeightsForm
    list_display = (
        "__str__",
        "in_force",
        *FACTORS,
        "fast_lane_min",
        "watch_below",
        "created_at",
        "created_by",
        "reason",
    )
    list_display_links = ("__str__",)
    list_select_related = ("created_by",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (_("Weights (they add up to 100)"), {"fields": FACTORS}),
        (_("Bands"), {"fields": BANDS}),
        (None, {"fields": ("reason",)}),
    )

    def get_queryset(self, request):
        newest = ScoreWeights.objects.order_by("-created_at", "-id").values("id")[:1]
        return super().get_queryset(request).annotate(current_id=Subquery(newest))

    @admin.display(description=_("in force"), boolean=True)
    def in_force(self, obj):
        return obj.pk == getattr(obj, "current_id", None)

    def changelist_view(self, request, extra_context=None):
        weights_current()  # the defaults are a version too: list them
        return super().changelist_view(request, extra_context)

    def get_changeform_initial_data(self, request):
        current = weights_current()
        return {name: getattr(current, name) for name in (*FACTORS, *BANDS)}

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in (*FACTORS, *BANDS)}
        created = weights_change(by=request.user, reason=form.cleaned_data["reason"], **values)
        obj.pk, obj.created_at, obj.created_by = created.pk, created.created_at, created.created_by
        obj._state.adding, obj._state.db = False, created._state.db

    def save_related(self, request, form, formsets, change):
        pass  # no relations to save; the service wrote the row


class QueueFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return (
            (WATCH, _("Watch queue (open orders)")),
            ("fast", _("Fast lane (open orders)")),
            ("open", _("All open orders")),
        )

    def queryset(self, request, queryset):
        open_orders = queryset.filter(order__status__in=OPEN_STAGES)
        if self.value() == WATCH:
            return open_orders.filter(order__lane=Lane.WATCH)
        if self.value() == "fast":
            return open_orders.filter(order__lane=Lane.FAST)
        if self.value() == "open":
            return open_orders
        return queryset


def _present(breakdown: dict) -> list[tuple[str, dict]]:
    return [(name, part) for name, part in breakdown.items() if part.get("value") is not None]


@admin.register(OrderHealth)
class OrderHealthAdmin(ReadOnlyAdmin):
    """Scores with why; `watch-queue/` is this list filtered to open orders on watch."""

    list_display = (
        "order_number",
        "stage",
        "score",
        "lane",
        "lowest_factors",
        "missing_inputs",
        "age",
        "scored_at",
    )
    list_select_related = ("order",)
    list_filter = (QueueFilter,)
    search_fields = ("=order__number",)
    ordering = ("score", "order__placed_at")
    paginator = EstimatedCountPaginator
    fields = (
        "order_number",
        "stage",
        "score",
        "lane",
        "breakdown_table",
        "missing_inputs",
        "weights",
        "scored_at",
    )
    readonly_fields = fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.watch_queue_view)
        return [
            path("watch-queue/", view, name="orders_orderhealth_watch_queue"),
            *super().get_urls(),
        ]

    def watch_queue_view(self, request):
        url = reverse("admin:orders_orderhealth_changelist")
        return HttpResponseRedirect(f"{url}?queue={WATCH}")

    @admin.display(description=_("order"), ordering="order__number")
    def order_number(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description=_("stage"))
    def stage(self, obj):
        return stage_badge(obj.order.status, obj.order.get_status_display())

    @admin.display(description=_("lane"))
    def lane(self, obj):
        return obj.order.get_lane_display()

    @admin.display(description=_("age"), ordering="order__placed_at")
    def age(self, obj):
        return humanize_duration(age_of(obj.order.placed_at))

    @admin.display(description=_("lowest factors"))
    def lowest_factors(self, obj):
        low = sorted(_present(obj.breakdown), key=lambda item: item[1]["value"])[:2]
        low = [(FACTOR_LABELS.get(name, name), part["value"]) for name, part in low]
        if not low:
            return "–"
        return format_html_join(", ", "{} {}", low)

    @admin.display(description=_("missing inputs"))
    def missing_inputs(self, obj):
        if not obj.missing:
            return "–"
        rows = [
            (
                FACTOR_LABELS.get(name, name),
                ", ".join(obj.breakdown.get(name, {}).get("missing") or []) or name,
            )
            for name in obj.missing
        ]
        return format_html_join(", ", "{} ({})", rows)

    @admin.display(description=_("why this score"))
    def breakdown_table(self, obj):
        present = sum(part["weight"] for _name, part in _present(obj.breakdown))
        total = sum(part.get("weight", 0) for part in obj.breakdown.values())
        rows = []
        for name, part in obj.breakdown.items():
            value, weight = part.get("value"), part.get("weight", 0)
            if value is None or not present:
                shown, points = gettext("missing"), "–"
            else:
                shown = value
                points = f"{float(Fraction(value * weight, present)):.1f}"
            inputs = ", ".join(f"{key}={val}" for key, val in (part.get("inputs") or {}).items())
            rows.append(
                (
                    FACTOR_LABELS.get(name, name),
                    shown,
                    weight,
                    points,
                    inputs or "–",
                    ", ".join(part.get("missing") or []) or "–",
                )
            )
        note = ""
        if (total - present) * 2 > total:
            note = gettext(
                "More than half of the weight is missing: this order cannot take the fast lane."
            )
        return format_html(
            '<table class="health-breakdown"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>"
            "<p>{}</p><p>{}</p>",
            gettext("factor"),
            gettext("value (0-100)"),
            gettext("weight"),
            gettext("points in the score"),
            gettext("inputs used"),
            gettext("missing inputs"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
            gettext(
                "Score = sum of value × weight / sum of the weights of the factors that are "
                "not missing (missing factors count neither as good nor as bad)."
            ),
            note,
        )
