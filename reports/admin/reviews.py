"""Post-incident reviews in the admin: the list (draft / final, notes), one page per
review (the report with its charts, regenerate while draft, notes, finalise), the PDF
and XLSX downloads, and "generate a review for a window".

Every write goes through reports.review.services (audited); nothing here saves a
review directly.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders.admin.helpers import humanize_duration
from orders.services.errors import OrderActionError
from reports.models import IncidentReview
from reports.review import events  # noqa: F401  (registers the audit verbs)
from reports.review.export import review_context, review_file_name, review_pdf, review_xlsx
from reports.review.services import (
    FINALIZE_PERMISSION,
    GENERATE_PERMISSION,
    review_finalize,
    review_generate,
    review_notes_save,
    review_regenerate,
)

GREEN, AMBER = "#15803d", "#b45309"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class WindowForm(forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        help_text=_("Empty: “Backlog <day> <from>–<until>”."),
    )
    window_start = forms.DateTimeField(
        label=_("From"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    window_end = forms.DateTimeField(
        label=_("Until"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end <= start:
            raise forms.ValidationError(_("The window must end after it starts."))
        if end and end > timezone.now():
            raise forms.ValidationError(_("The window cannot end in the future."))
        return data


class NotesForm(forms.Form):
    notes = forms.CharField(
        label=_("Supervisor's notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 90}),
    )


@admin.register(IncidentReview)
class IncidentReviewAdmin(admin.ModelAdmin):
    list_display = (
        "heading",
        "window_start",
        "duration",
        "status_badge",
        "notes_excerpt",
        "finalized_by",
        "generated_at",
        "downloads",
    )
    list_filter = ("status",)
    search_fields = ("title",)
    list_select_related = ("finalized_by",)
    show_full_result_count = False
    actions = None
    date_hierarchy = "window_start"

    @admin.display(description=_("title"), ordering="window_start")
    def heading(self, review):
        return str(review)

    def get_queryset(self, request):
        # The report data can be large: the list never needs it.
        return super().get_queryset(request).defer("data")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status == IncidentReview.Status.FINAL:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return humanize_duration(obj.window_end - obj.window_start)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        colour = GREEN if obj.status == IncidentReview.Status.FINAL else AMBER
        return format_html(
            '<strong class="review-status-{}" style="color:{}">{}</strong>',
            obj.status,
            colour,
            obj.get_status_display(),
        )

    @admin.display(description=_("supervisor's notes"))
    def notes_excerpt(self, obj):
        return Truncator(obj.notes).chars(80) or "–"

    @admin.display(description=_("download"))
    def downloads(self, obj):
        return format_html(
            '<a href="{}">PDF</a> · <a href="{}">XLSX</a>',
            reverse("admin:reports_incidentreview_pdf", args=[obj.pk]),
            reverse("admin:reports_incidentreview_xlsx", args=[obj.pk]),
        )

    # --- URLs --------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("generate/", view(self.generate_view), name="reports_incidentreview_generate"),
            path("<int:object_id>/pdf/", view(self.pdf_view), name="reports_incidentreview_pdf"),
            path("<int:object_id>/xlsx/", view(self.xlsx_view), name="reports_incidentreview_xlsx"),
            path(
                "<int:object_id>/regenerate/",
                view(self.regenerate_view),
                name="reports_incidentreview_regenerate",
            ),
            path(
                "<int:object_id>/finalize/",
                view(self.finalize_view),
                name="reports_incidentreview_finalize",
            ),
            path(
                "<int:object_id>/notes/", view(self.notes_view), name="reports_incidentreview_notes"
            ),
            *super().get_urls(),
        ]

    def _review(self, request, object_id) -> IncidentReview:
        if not self.has_view_permission(request):
            raise PermissionDenied
        review = (
            IncidentReview.objects.select_related("finalized_by", "created_by", "episode")
            .filter(pk=object_id)
            .first()
        )
        if review is None:
            raise Http404
        return review

    def _back(self, review):
        return HttpResponseRedirect(
            reverse("admin:reports_incidentreview_change", args=[review.pk])
        )

    # --- The report page ---------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:reports_incidentreview_generate"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        review = self._review(request, object_id)
        user = request.user
        is_draft = review.status == IncidentReview.Status.DRAFT
        context = {
            **self.admin_site.each_context(request),
            **review_context(review),
            "opts": self.opts,
            "title": str(review),
            "subtitle": None,
            "original": review,
            "is_draft": is_draft,
            "may_regenerate": is_draft and user.has_perm(GENERATE_PERMISSION),
            "may_edit_notes": is_draft and user.has_perm("reports.change_incidentreview"),
            "may_finalize": is_draft and user.has_perm(FINALIZE_PERMISSION),
            "notes_form": NotesForm(initial={"notes": review.notes}),
            "pdf_url": reverse("admin:reports_incidentreview_pdf", args=[review.pk]),
            "xlsx_url": reverse("admin:reports_incidentreview_xlsx", args=[review.pk]),
        }
        return TemplateResponse(request, "reports/review/page.html", context)

    # --- Downloads ---------------------------------------------------------------

    def pdf_view(self, request, object_id):
        review = self._review(request, object_id)
        response = HttpResponse(review_pdf(review), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="{review_file_name(review, "pdf")}"'
        )
        return response

    def xlsx_view(self, request, object_id):
        review = self._review(request, object_id)
        response = HttpResponse(review_xlsx(review), content_type=XLSX_TYPE)
        response["Content-Disposition"] = (
            f'attachment; filename="{review_file_name(review, "xlsx")}"'
        )
        return response

    # --- Writes (POST only, through the services) --------------------------------

    def _post(self, request, object_id, perform, done):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        review = self._review(request, object_id)
        try:
            perform(review)
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._back(review)

    def regenerate_view(self, request, object_id):
        return self._post(
            request,
            object_id,
            lambda review: review_regenerate(review=review, by=request.user),
            gettext("The review was generated again from the recorded data."),
        )

    def notes_view(self, request, object_id):
        form = NotesForm(request.POST or None)
        notes = form.cleaned_data.get("notes", "") if form.is_valid() else ""
        return self._post(
            request,
            object_id,
            lambda review: review_notes_save(review=review, by=request.user, notes=notes),
            gettext("The notes were saved."),
        )

    def finalize_view(self, request, object_id):
        form = NotesForm(request.POST or None)
        notes = form.cleaned_data.get("notes", "") if form.is_valid() else None
        return self._post(
            request,
            object_id,
            lambda review: review_finalize(review=review, by=request.user, notes=notes),
            gettext("The review is final."),
        )

    # --- Generate for a window ---------------------------------------------------

    def generate_view(self, request):
        if not request.user.has_perm(GENERATE_PERMISSION):
            raise PermissionDenied
        form = WindowForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                review = review_generate(
                    window_start=form.cleaned_data["window_start"],
                    window_end=form.cleaned_data["window_end"],
                    title=form.cleaned_data["title"],
                    by=request.user,
                )
            except OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request,
                    gettext("The review of %(title)s was generated.") % {"title": review},
                    messages.SUCCESS,
                )
                return self._back(review)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": gettext("Generate a review for a window"),
        }
        return TemplateResponse(request, "reports/review/window_form.html", context)
