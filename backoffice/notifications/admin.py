from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.notifications.models import Notification
from backoffice.notifications.services import notifications_mark_read


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
