"""Partner webhooks in the admin: subscriptions, and the outbox with its attempt log."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.admin_helpers import ReadOnlyInline
from backoffice.paginator import EstimatedCountPaginator
from orders.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from orders.services.webhooks import webhook_replay, webhook_retry_now


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=1000,
        assume_scheme="https",
        help_text=_("The partner's receiver (http:// or https://); events are POSTed as JSON."),
    )
    # Checkboxes over the fixed set instead of raw JSON.
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None selected: every event."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ("partner", "url", "event_types", "is_active")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("partner", "url", "events_display", "is_active", "created_at")
    list_filter = ("is_active", "partner")
    list_select_related = ("partner",)
    search_fields = ("partner__name", "url")

    def get_fields(self, request, obj=None):
        fields = ["partner", "url", "event_types", "is_active"]
        # The secret is generated when the subscription is saved, then shown here
        # for the partner's integrator to copy.
        return [*fields, "secret", "created_at"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return ("secret", "created_at") if obj is not None else ()

    @admin.display(description=_("event types"))
    def events_display(self, obj):
        if not obj.event_types:
            return _("all events")
        labels = dict(WebhookEvent.choices)
        return ", ".join(str(labels.get(slug, slug)) for slug in obj.event_types)


class WebhookAttemptInline(ReadOnlyInline):
    """Every POST of the event, with the receiver's answer and the latency."""

    model = WebhookAttempt
    fields = ("started_at", "outcome", "http_status", "latency_ms", "error")
    ordering = ("started_at", "id")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The webhook outbox, read-only: what each partner was sent, and how it went."""

    list_display = (
        "created_at",
        "event_type",
        "partner",
        "order",
        "status",
        "attempts",
        "last_http_status",
        "next_attempt_at",
        "delivered_at",
    )
    # All partners are listed (a short table): no DISTINCT over the deliveries.
    list_filter = ("status", "event_type", "subscription__partner")
    # Exact matches only: both columns are indexed.
    search_fields = ("=event_id", "=order__number")
    list_select_related = ("subscription__partner", "order")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    inlines = [WebhookAttemptInline]
    actions = ["replay", "retry_now"]
    fields = (
        "event_id",
        "event_type",
        "subscription",
        "order",
        "status",
        "attempts",
        "next_attempt_at",
        "give_up_at",
        "last_http_status",
        "last_error",
        "created_at",
        "delivered_at",
        "payload_display",
    )
    readonly_fields = fields

    @admin.display(description=_("partner"), ordering="subscription__partner__name")
    def partner(self, obj):
        return obj.subscription.partner

    @admin.display(description=_("payload"))
    def payload_display(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.payload, ensure_ascii=False, indent=2, sort_keys=True)
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm("orders.change_webhookdelivery")

    @admin.action(
        description=_("Replay (send again with the same event id)"), permissions=["resend"]
    )
    def replay(self, request, queryset):
        count = 0
        for delivery in queryset.exclude(status=WebhookDelivery.Status.PENDING):
            webhook_replay(delivery=delivery, by=request.user)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d webhook event queued to be sent again.",
                "%(count)d webhook events queued to be sent again.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=_("Retry now"), permissions=["resend"])
    def retry_now(self, request, queryset):
        count = 0
        for delivery in queryset.filter(status=WebhookDelivery.Status.PENDING):
            webhook_retry_now(delivery=delivery, by=request.user)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d pending webhook event queued for delivery.",
                "%(count)d pending webhook events queued for delivery.",
                count,
            )
            % {"count": count},
        )
