from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice.audit.models import AuditEvent
from backoffice.audit.verbs import verb_choices, verb_label
from backoffice.paginator import EstimatedCountPaginator


class VerbFilter(admin.SimpleListFilter):
    title = _("action")
    parameter_name = "verb"

    def lookups(self, request, model_admin):
        return verb_choices()

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(verb=self.value())
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The process audit log: searchable, never editable."""

    list_display = ("at", "who", "verb_display", "subject_link", "reason_short")
    list_filter = (VerbFilter,)
    list_select_related = ("actor", "subject_type")
    search_fields = ("=subject_label", "=subject_id", "=actor__username", "=actor_label")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    @admin.display(description=_("who"))
    def who(self, obj):
        return obj.who

    @admin.display(description=_("action"), ordering="verb")
    def verb_display(self, obj):
        return verb_label(obj.verb)

    @admin.display(description=_("subject"))
    def subject_link(self, obj):
        if obj.subject_type_id and obj.subject_id:
            from django.urls import NoReverseMatch, reverse

            ct = obj.subject_type
            try:
                url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[obj.subject_id])
            except NoReverseMatch:
                return obj.subject_label
            return format_html('<a href="{}">{}</a>', url, obj.subject_label)
        return obj.subject_label

    @admin.display(description=_("reason"))
    def reason_short(self, obj):
        return (obj.reason[:80] + "…") if len(obj.reason) > 80 else obj.reason

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
