from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from backoffice.admin_helpers import ReadOnlyAdmin
from backoffice.models import BusinessCalendar, Outage, SpecialDay, WorkingPeriod, WorkLoad


class WorkingPeriodInline(admin.TabularInline):
    model = WorkingPeriod
    extra = 0


class SpecialDayInline(admin.TabularInline):
    model = SpecialDay
    extra = 0
    fields = ("date", "name", "is_open", "start", "end")


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    """Working hours and holidays that stage SLA clocks and backlog alarms count in."""

    list_display = ("name", "weekly_hours")
    inlines = [WorkingPeriodInline, SpecialDayInline]

    @admin.display(description=_("working periods"))
    def weekly_hours(self, obj):
        return ", ".join(str(p) for p in obj.periods.all()) or "–"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("periods")


@admin.register(Outage)
class OutageAdmin(ReadOnlyAdmin):
    """Times the task queue stopped beating (the dead-man alarm)."""

    list_display = ("name", "started_at", "last_beat_at", "ended_at")


@admin.register(WorkLoad)
class WorkLoadAdmin(ReadOnlyAdmin):
    """The WIP counters behind claim limits (rebuilt every minute from the claims)."""

    list_display = ("key", "in_progress")
    search_fields = ("key",)
