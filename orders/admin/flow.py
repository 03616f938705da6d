"""Admin of flow control: stage settings, breakers and their events, alarm episodes,
surge grants."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.admin_helpers import ReadOnlyAdmin
from backoffice.audit.services import audit_record
from backoffice.notifications.selectors import messages_for_event
from orders import events
from orders.admin.helpers import humanize_duration
from orders.models import (
    AlarmEpisode,
    BreakerEvent,
    BreakerState,
    StageBreaker,
    StageSetting,
    SurgeGrant,
)
from orders.services import OrderActionError
from orders.services.surge import GRANTABLE_TEAMS, surge_grant, surge_revoke


class StageSettingForm(forms.ModelForm):
    change_reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=300,
        help_text=_("Kept in the audit log with your name and the changed values."),
    )

    class Meta:
        model = StageSetting
        fields = (
            "owner_user",
            "owner_group",
            "sla_minutes",
            "calendar",
            "breaker_threshold",
            "breaker_reset_percent",
            "breaker_reset_minutes",
            "pin_count",
            "wip_limit",
            "person_cap",
            "reduced_wip_limit",
            "reduced_person_cap",
            "claim_idle_minutes",
            "channels",
            "quiet_start",
            "quiet_end",
        )


@admin.register(StageSetting)
class StageSettingAdmin(admin.ModelAdmin):
    form = StageSettingForm
    list_display = (
        "__str__",
        "owner",
        "sla_minutes",
        "breaker_threshold",
        "wip_limit",
        "person_cap",
        "reduced_wip_limit",
        "reduced_person_cap",
        "calendar",
        "breaker_state",
    )
    list_select_related = ("owner_user", "owner_group", "calendar")
    filter_horizontal = ("channels",)
    readonly_fields = ("stage", "updated_at")
    fieldsets = (
        (None, {"fields": ("stage", ("owner_user", "owner_group"), "sla_minutes", "calendar")}),
        (
            _("Circuit breaker"),
            {
                "fields": (
                    "breaker_threshold",
                    ("breaker_reset_percent", "breaker_reset_minutes"),
                    "pin_count",
                )
            },
        ),
        (
            _("Work in progress"),
            {
                "fields": (
                    ("wip_limit", "person_cap"),
                    ("reduced_wip_limit", "reduced_person_cap"),
                    "claim_idle_minutes",
                )
            },
        ),
        (_("Notifications"), {"fields": ("channels", ("quiet_start", "quiet_end"))}),
        (None, {"fields": ("change_reason", "updated_at")}),
    )

    def get_queryset(self, request):
        from orders.services.queues import stage_settings

        stage_settings()  # the rows exist before anyone lists them
        state = StageBreaker.objects.filter(stage=OuterRef("stage")).values("state")[:1]
        return super().get_queryset(request).annotate(breaker_state_now=Subquery(state))

    @admin.display(description=_("owner"))
    def owner(self, obj):
        return obj.owner_user or obj.owner_group or "–"

    @admin.display(description=_("circuit breaker"))
    def breaker_state(self, obj):
        state = getattr(obj, "breaker_state_now", None) or BreakerState.CLOSED
        return BreakerState(state).label

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changed = {
            name: str(form.cleaned_data.get(name))
            for name in form.changed_data
            if name not in ("change_reason", "channels")
        }
        super().save_model(request, obj, form, change)
        audit_record(
            verb=events.STAGE_SETTING_CHANGED,
            actor=request.user,
            subject=obj,
            reason=form.cleaned_data["change_reason"],
            payload={"stage": obj.stage, "changed": changed},
        )


@admin.register(StageBreaker)
class StageBreakerAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "state", "backlog", "changed_at", "below_since", "evaluated_at")
    list_filter = ("state",)


@admin.register(BreakerEvent)
class BreakerEventAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "stage",
        "kind",
        "backlog",
        "threshold",
        "oldest",
        "wip_limit",
        "person_cap",
        "pinned",
        "notified_list",
    )
    list_filter = ("stage", "kind")
    date_hierarchy = "at"
    readonly_fields = ("deliveries",)

    @admin.display(description=_("oldest waiting"))
    def oldest(self, obj):
        return humanize_duration(timezone.timedelta(seconds=obj.oldest_age_seconds))

    @admin.display(description=_("notified"))
    def notified_list(self, obj):
        return ", ".join(obj.notified) or "–"

    @admin.display(description=_("deliveries (channel, outcome, latency)"))
    def deliveries(self, obj):
        rows = []
        for message in messages_for_event(obj.notification_event):
            for attempt in message.delivery_attempts.all():
                rows.append(
                    (
                        attempt.channel.name,
                        attempt.get_outcome_display(),
                        attempt.latency_ms,
                        attempt.error or "",
                    )
                )
        if not rows:
            return gettext("In-app only.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {} ({} ms) {}</li>", rows),
        )


@admin.register(AlarmEpisode)
class AlarmEpisodeAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "kind",
        "stage",
        "ended_at",
        "duration",
        "first_count",
        "peak_count",
        "last_count",
    )
    list_filter = ("kind", "stage", ("ended_at", admin.EmptyFieldListFilter))
    date_hierarchy = "started_at"

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return humanize_duration((obj.ended_at or timezone.now()) - obj.started_at)


class SurgeGrantForm(forms.ModelForm):
    class Meta:
        model = SurgeGrant
        fields = ("user", "team", "until", "reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "team" in self.fields:
            self.fields["team"].queryset = Group.objects.filter(name__in=GRANTABLE_TEAMS)
        if "user" in self.fields:
            self.fields["user"].queryset = self.fields["user"].queryset.filter(
                is_active=True, is_staff=True
            )

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= timezone.now():
            raise forms.ValidationError(_("The end of the grant must be in the future."))
        return until


class ActiveGrantFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("Active")), ("no", _("Ended"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(revoked_at=None, until__gt=now)
        if self.value() == "no":
            return queryset.exclude(revoked_at=None, until__gt=now)
        return queryset


@admin.register(SurgeGrant)
class SurgeGrantAdmin(admin.ModelAdmin):
    """Supervisors lend people to a stage team until a time; it ends by itself."""

    form = SurgeGrantForm
    list_display = ("user", "team", "until", "active", "reason", "granted_by", "revoked_at")
    list_filter = (ActiveGrantFilter, "team")
    list_select_related = ("user", "team", "granted_by")
    actions = ["revoke_action"]
    show_full_result_count = False

    @admin.display(description=_("active"), boolean=True)
    def active(self, obj):
        return obj.is_active()

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        grant = surge_grant(
            user=form.cleaned_data["user"],
            team=form.cleaned_data["team"],
            until=form.cleaned_data["until"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
        obj.pk = grant.pk

    @admin.action(description=_("End the selected grants now"), permissions=["change"])
    def revoke_action(self, request, queryset):
        ended = 0
        for grant in queryset.select_related("user"):
            try:
                surge_revoke(grant, by=request.user, reason=gettext("Ended by a supervisor"))
                ended += 1
            except OrderActionError as exc:
                self.message_user(request, f"{grant}: {exc}", messages.ERROR)
        self.message_user(
            request, gettext("%(count)s grants ended.") % {"count": ended}, messages.SUCCESS
        )
