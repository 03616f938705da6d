from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.admin_helpers import ReadOnlyInline
from backoffice.notifications.models import (
    ChannelKind,
    DeliveryAttempt,
    Message,
    Notification,
    NotificationChannel,
)
from backoffice.notifications.services import message_retry, notifications_mark_read, notify
from backoffice.paginator import EstimatedCountPaginator


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Each person sees their own messages; a supervisor (superuser) sees all."""

    list_display = ("created_at", "level", "text_link", "recipient", "read_at")
    list_filter = ("level", ("read_at", admin.EmptyFieldListFilter))
    list_select_related = ("recipient",)
    actions = ["mark_read"]
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(recipient=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("text"))
    def text_link(self, obj):
        if obj.link:
            return format_html('<a href="{}">{}</a>', obj.link, obj.text)
        return obj.text

    @admin.action(description=_("Mark as read"))
    def mark_read(self, request, queryset):
        count = notifications_mark_read(
            user=request.user, ids=queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d notification marked as read.",
                "%(count)d notifications marked as read.",
                count,
            )
            % {"count": count},
        )


class DeliveryAttemptInline(ReadOnlyInline):
    """Every channel tried for the message, with its latency and answer."""

    model = DeliveryAttempt
    fields = ("started_at", "channel", "outcome", "latency_ms", "http_status", "error")
    ordering = ("started_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("channel")


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "target_short",
        "enabled",
        "for_supervisors",
        "priority",
        "timeout_ms",
        "updated_at",
    )
    list_filter = ("kind", "enabled", "for_supervisors")
    search_fields = ("name",)
    fields = ("name", "kind", "target", "secret", "timeout_ms", "enabled", "for_supervisors",
              "priority")  # fmt: skip
    actions = ["send_test_message"]
    show_full_result_count = False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "secret":
            kwargs["widget"] = forms.PasswordInput(render_value=True)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("target"))
    def target_short(self, obj):
        # Robot URLs carry their access token: show the host only.
        if obj.kind == ChannelKind.EMAIL:
            return obj.target or _("the recipients' own addresses")
        return urlsplit(obj.target).netloc or obj.target[:40]

    @admin.action(description=_("Send a test message"))
    def send_test_message(self, request, queryset):
        for channel in queryset:
            if not channel.enabled:
                self.message_user(
                    request,
                    _("%(channel)s is disabled: not tested.") % {"channel": channel},
                    messages.WARNING,
                )
                continue
            message = notify(
                recipients=[request.user],
                subject=_("Test message"),
                text=_("Sent from the back-office to check the channel %(channel)s.")
                % {"channel": channel},
                link=reverse("admin:notifications_notificationchannel_change", args=[channel.pk]),
                channels=[channel],
                event=f"channel-test:{channel.pk}",
                deliver_now=True,
            )
            if message is None:  # disabled meanwhile
                continue
            if message.status == Message.Status.DELIVERED:
                self.message_user(
                    request,
                    _("%(channel)s: delivered in %(ms)s ms.")
                    % {"channel": channel, "ms": message.delivery_attempts.last().latency_ms},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _("%(channel)s: failed (%(error)s). The message stays in the outbox.")
                    % {"channel": channel, "error": message.last_error},
                    messages.ERROR,
                )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The outbox, read-only: what was sent, through which channel, how fast."""

    list_display = (
        "created_at",
        "level",
        "subject",
        "event",
        "status",
        "delivered_channel",
        "latency_display",
        "attempts",
    )
    list_filter = ("status", "level")
    # Exact match only: the event column is indexed, the subject is not.
    search_fields = ("=event",)
    list_select_related = ("delivered_channel",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now"]
    fields = (
        "created_at",
        "level",
        "subject",
        "text",
        "link",
        "event",
        "recipient_emails",
        "chain_display",
        "quiet_from",
        "quiet_until",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_channel",
        "delivered_at",
        "latency_display",
        "last_error",
    )
    readonly_fields = fields

    @admin.display(description=_("latency"))
    def latency_display(self, obj):
        latency = obj.latency
        if latency is None:
            return "-"
        if latency < timedelta(seconds=10):
            return f"{round(latency.total_seconds() * 1000)} ms"
        return str(timedelta(seconds=round(latency.total_seconds())))

    @admin.display(description=_("channel chain"))
    def chain_display(self, obj):
        names = NotificationChannel.objects.in_bulk(obj.chain)
        return " → ".join(str(names[pk]) if pk in names else f"#{pk}" for pk in obj.chain)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("notifications.change_message")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        count = 0
        for message in queryset.exclude(status=Message.Status.DELIVERED):
            message_retry(message=message, by=request.user)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d message queued for delivery.",
                "%(count)d messages queued for delivery.",
                count,
            )
            % {"count": count},
        )
