"""The exception pool in the admin: a queue per team with tags and SLA countdowns,
claim next, bulk assign, resolve or reject with a note; and the exception types."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.claims import ClaimRefused
from exceptions.models import CaseStatus, ExceptionCase, ExceptionType
from exceptions.models.cases import OPEN_STATUSES
from exceptions.resources import ExceptionTypeResource
from exceptions.services.cases import (
    case_assign,
    case_claim,
    case_claim_next,
    case_reject,
    case_release,
    case_reopen,
    case_resolve,
    may_work,
)
from orders.admin.catalog import BackofficeImportExportMixin
from orders.admin.helpers import humanize_duration
from orders.services.errors import OrderActionError


@admin.register(ExceptionType)
class ExceptionTypeAdmin(BackofficeImportExportMixin, admin.ModelAdmin):
    resource_classes = [ExceptionTypeResource]
    list_display = (
        "tag_zh",
        "code",
        "name_zh",
        "name_en",
        "team",
        "sla_minutes",
        "blocks_dispatch",
        "is_active",
    )
    list_filter = ("blocks_dispatch", "is_active", "team")
    search_fields = ("code", "name_zh", "name_en")

    def has_delete_permission(self, request, obj=None):
        return False


class MineFirstFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("open", _("Open (waiting or being handled)")),
            ("mine", _("Handled by me")),
            ("overdue", _("Overdue")),
            ("closed", _("Closed")),
            ("all", _("All")),
        ]

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        if value == "mine":
            return queryset.filter(claimed_by=request.user, status=CaseStatus.CLAIMED)
        if value == "overdue":
            return queryset.filter(status__in=OPEN_STATUSES, sla_due_at__lte=timezone.now())
        if value == "closed":
            return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


def _user_teams(request) -> list[int]:
    """The user's groups that own exception types (cached on the request)."""
    teams = getattr(request, "_exception_teams", None)
    if teams is None:
        teams = list(
            request.user.groups.filter(exception_types__isnull=False)
            .distinct()
            .values_list("pk", flat=True)
        )
        request._exception_teams = teams
    return teams


class TeamFilter(admin.SimpleListFilter):
    """Team members see their own teams' pool unless they pick another team or all:
    "my teams first" as a filter, so the list stays one index range scan."""

    title = _("team")
    parameter_name = "team"
    MINE, ALL = "mine", "all"

    def __init__(self, request, params, model, model_admin):
        self.request = request  # choices() gets no request
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        from django.contrib.auth.models import Group

        teams = Group.objects.filter(exception_types__isnull=False).distinct().order_by("name")
        mine = [(self.MINE, _("My teams"))] if _user_teams(request) else []
        return [*mine, (self.ALL, _("All teams")), *((str(g.pk), g.name) for g in teams)]

    def _effective(self, request) -> str:
        if self.value():
            return self.value()
        return self.MINE if _user_teams(request) else self.ALL

    def choices(self, changelist):
        value = self._effective(self.request)
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self._effective(request)
        if value == self.MINE:
            return queryset.filter(team_id__in=_user_teams(request))
        if value == self.ALL:
            return queryset
        if value.isdigit():
            return queryset.filter(team_id=int(value))
        return queryset.none()


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("1", _("over 1 hour")), ("4", _("over 4 hours")), ("24", _("over 1 day"))]

    def queryset(self, request, queryset):
        if self.value() in ("1", "4", "24"):
            cutoff = timezone.now() - timezone.timedelta(hours=int(self.value()))
            return queryset.filter(opened_at__lte=cutoff)
        return queryset


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )


class AssignForm(forms.Form):
    user = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .order_by("username"),
    )


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(admin.ModelAdmin):
    change_list_template = "admin/exceptions/exceptioncase/change_list.html"
    change_form_template = "admin/exceptions/exceptioncase/change_form.html"
    list_display = (
        "tag_badge",
        "order_link",
        "stage",
        "status",
        "team",
        "due",
        "claimed_by",
        "source",
        "short_description",
    )
    list_select_related = ("type", "order", "team", "claimed_by")
    list_filter = (MineFirstFilter, TeamFilter, "type", AgeFilter, "blocking", "source")
    search_fields = ("=order__number", "description")
    list_per_page = 50
    show_full_result_count = False
    actions = ["assign_action", "resolve_action"]
    readonly_fields = (
        "order",
        "type",
        "team",
        "blocking",
        "source",
        "description",
        "payload",
        "status",
        "opened_at",
        "opened_by",
        "sla_due_at",
        "claimed_by",
        "claimed_at",
        "closed_at",
        "closed_by",
        "resolution_note",
        "held_order",
    )
    fields = readonly_fields

    def get_ordering(self, request):
        # Holding cases first, then the earliest due: the order of the partial indexes
        # case_pool / case_pool_team. (My teams first is the team filter's default.)
        return ["-blocking", "sla_due_at", "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- Columns --------------------------------------------------------------

    @admin.display(description=_("type"), ordering="type__sort_order")
    def tag_badge(self, obj):
        css = "case-tag blocking" if obj.blocking else "case-tag"
        return format_html(
            '<span class="{}" title="{}">{}</span>', css, obj.type.name, obj.type.tag
        )

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description=_("stage"))
    def stage(self, obj):
        return obj.order.get_status_display()

    @admin.display(description=_("SLA"), ordering="sla_due_at")
    def due(self, obj):
        if not obj.is_open:
            return "–"
        left = obj.sla_due_at - timezone.now()
        if left.total_seconds() <= 0:
            return format_html(
                '<span class="sla-overdue">{}</span>',
                gettext("overdue by %(time)s") % {"time": humanize_duration(-left)},
            )
        return format_html(
            '<span class="sla-left">{}</span>',
            gettext("%(time)s left") % {"time": humanize_duration(left)},
        )

    @admin.display(description=_("description"))
    def short_description(self, obj):
        return obj.description[:80]

    # --- Claim next, claim, release, resolve, reject, reopen --------------------

    def get_urls(self):
        views = {
            "claim-next/": ("claim_next", self.claim_next_view),
            "<int:pk>/claim/": ("claim", self.claim_view),
            "<int:pk>/release/": ("release", self.release_view),
            "<int:pk>/resolve/": ("resolve", self.resolve_view),
            "<int:pk>/reject/": ("reject", self.reject_view),
            "<int:pk>/reopen/": ("reopen", self.reopen_view),
        }
        extra = [
            path(route, self.admin_site.admin_view(view), name=f"exceptions_exceptioncase_{name}")
            for route, (name, view) in views.items()
        ]
        return extra + super().get_urls()

    def _case(self, request, pk) -> ExceptionCase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # get_object: a malformed id in the URL is "not found", not a server error.
        case = self.get_object(request, str(pk))
        if case is None:
            raise Http404
        return case

    def _to_case(self, case):
        return HttpResponseRedirect(
            reverse("admin:exceptions_exceptioncase_change", args=[case.pk])
        )

    def _post_only(self, request, case, action, done):
        if request.method != "POST":
            return self._to_case(case)
        try:
            action()
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._to_case(case)

    def claim_next_view(self, request):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:exceptions_exceptioncase_changelist"))
        try:
            case = case_claim_next(user=request.user)
        except (OrderActionError, ClaimRefused) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:exceptions_exceptioncase_changelist"))
        if case is None:
            self.message_user(
                request, gettext("Nothing is waiting in your teams' pool."), messages.INFO
            )
            return HttpResponseRedirect(reverse("admin:exceptions_exceptioncase_changelist"))
        return self._to_case(case)

    def claim_view(self, request, pk):
        case = self._case(request, pk)
        return self._post_only(
            request, case, lambda: case_claim(case, by=request.user), gettext("The case is yours.")
        )

    def release_view(self, request, pk):
        case = self._case(request, pk)
        return self._post_only(
            request,
            case,
            lambda: case_release(case, by=request.user),
            gettext("The case is back in the pool."),
        )

    def _note_view(self, request, pk, *, perform, title, done):
        """A note form whose valid note is handed to `perform(case, note)` (a service)."""
        case = self._case(request, pk)
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                perform(case, form.cleaned_data["note"])
            except OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, done, messages.SUCCESS)
                return self._to_case(case)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": case,
            "form": form,
            "title": title,
            "checklist": case.type.checklist_items(),
        }
        return TemplateResponse(request, "admin/exceptions/exceptioncase/note_form.html", context)

    def resolve_view(self, request, pk):
        return self._note_view(
            request,
            pk,
            perform=lambda case, note: case_resolve(case, by=request.user, note=note),
            title=gettext("Resolve the case"),
            done=gettext("Case resolved."),
        )

    def reject_view(self, request, pk):
        return self._note_view(
            request,
            pk,
            perform=lambda case, note: case_reject(case, by=request.user, note=note),
            title=gettext("Reject the case"),
            done=gettext("Case rejected."),
        )

    def reopen_view(self, request, pk):
        return self._note_view(
            request,
            pk,
            perform=lambda case, note: case_reopen(case, by=request.user, reason=note),
            title=gettext("Reopen the case"),
            done=gettext("Case reopened."),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_claim_next": request.user.has_perm("exceptions.work_exceptioncase"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self._case(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "case": case,
            "may_work": may_work(request.user, case),
            "checklist": case.type.checklist_items(),
            "is_mine": case.claimed_by_id == request.user.pk,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Bulk actions -----------------------------------------------------------

    @admin.action(description=_("Assign the selected cases to a person"))
    def assign_action(self, request, queryset):
        if not request.user.has_perm("exceptions.assign_exceptioncase"):
            raise PermissionDenied
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            try:
                count = case_assign(list(queryset), user=form.cleaned_data["user"], by=request.user)
            except OrderActionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(count)s cases assigned.") % {"count": count},
                    messages.SUCCESS,
                )
            return None
        return self._bulk_form_page(
            request, queryset, form, title=gettext("Assign cases"), action="assign_action"
        )

    def _bulk_form_page(self, request, queryset, form, *, title, action):
        """The intermediate page of a bulk action: the chosen cases and the form."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "cases": queryset,
            "title": title,
            "action": action,
        }
        return TemplateResponse(request, "admin/exceptions/exceptioncase/bulk_form.html", context)

    @admin.action(description=_("Resolve the selected cases with one note"))
    def resolve_action(self, request, queryset):
        form = NoteForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, failed = 0, []
            for case in queryset:
                try:
                    case_resolve(case, by=request.user, note=form.cleaned_data["note"])
                    done += 1
                except OrderActionError as exc:
                    failed.append(f"#{case.pk}: {exc}")
            if done:
                self.message_user(
                    request,
                    gettext("%(count)s cases resolved.") % {"count": done},
                    messages.SUCCESS,
                )
            for failure in failed:
                self.message_user(request, failure, messages.ERROR)
            return None
        return self._bulk_form_page(
            request, queryset, form, title=gettext("Resolve cases"), action="resolve_action"
        )
