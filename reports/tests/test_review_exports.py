"""The review in the admin, as a PDF (its text holds the headline numbers) and as an
XLSX (one sheet per table)."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook
from pypdf import PdfReader

from backoffice.audit.models import AuditEvent
from orders.tests.factories import UserFactory
from reports.models import IncidentReview
from reports.review.charts import review_charts
from reports.review.export import review_pdf, review_xlsx
from reports.review.present import review_present
from reports.review.services import review_generate
from reports.tests import factories
from reports.tests.factories import END, START

pytestmark = pytest.mark.django_db
# The constructed episode's fixtures (shared with the other review tests).
travel = factories.travel
review_supervisor = factories.review_supervisor
episode_world = factories.episode_world


@pytest.fixture
def review(episode_world):
    return review_generate(window_start=START, window_end=END, episodes=[episode_world["episode"]])


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_opens_and_holds_the_headline_numbers(review, english):
    data = review_pdf(review)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Backlog 2026-11-24 14:00–18:00" in text
    assert "Orders received 3" in text
    assert "2.0" in text and "50.0%" in text  # baseline and change
    assert "150.0 min" in text  # extra dwell, all stages
    assert "Picking (pick list printed) (80.0%)" in text
    assert "printer down" in text  # the bypass, with its reason


def test_chinese_renders_in_the_pdf_with_a_cjk_font(review):
    with translation.override("zh-hans"):
        data = review_pdf(review)
    reader = PdfReader(io.BytesIO(data))
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Noto-Sans-CJK" in name for name in fonts), fonts
    assert "拣货" in pdf_text(data)


def test_the_charts_are_inline_svg_one_per_section(review, english):
    charts = review_charts(review_present(review))
    assert set(charts) == {"volume", "stages", "measures", "suggestions", "timeline"}
    for name, svg in charts.items():
        assert svg.startswith("<svg"), name
        assert f'aria-label="{name}"' in svg
        assert 'href="http' not in svg and "url(http" not in svg  # nothing fetched


def test_the_xlsx_has_one_sheet_per_table(review, english):
    book = load_workbook(io.BytesIO(review_xlsx(review)))
    assert book.sheetnames == [
        "Summary",
        "Volume",
        "Categories",
        "Stages",
        "Measures",
        "Suggestions",
        "Timeline",
    ]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Orders received"] == 3
    assert summary["Baseline orders"] == 2.0
    assert summary["Extra dwell (min, all stages)"] == 150.0
    assert book["Volume"].max_row == 1 + 4  # header + 4 hourly buckets
    assert book["Categories"].max_row == 1 + 1 + 1 + 2 + 3  # normal, type, channels, lanes
    assert book["Stages"].max_row == 1 + 7
    assert book["Measures"].max_row == 1 + 4
    assert book["Suggestions"].max_row == 1 + 1
    assert [r[1] for r in book["Timeline"].iter_rows(min_row=2, values_only=True)] == [
        "Backlog alarm started",
        "Bypass switched on",
        "Backlog alarm ended",
    ]


def login(client, user):
    client.force_login(user)


def test_the_list_shows_status_and_notes_and_the_page_the_report(
    client, review, review_supervisor, english
):
    login(client, review_supervisor)
    response = client.get(reverse("admin:reports_incidentreview_changelist"))
    assert response.status_code == 200
    assert str(review) in response.text
    page = client.get(reverse("admin:reports_incidentreview_change", args=[review.pk]))
    assert page.status_code == 200
    assert page.text.count('class="review-chart"') == 5
    assert 'id="review-finalize"' in page.text


def test_downloads_from_the_admin(client, review, review_supervisor, english):
    login(client, review_supervisor)
    pdf = client.get(reverse("admin:reports_incidentreview_pdf", args=[review.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert "attachment" in pdf["Content-Disposition"]
    assert pdf.content.startswith(b"%PDF")
    xlsx = client.get(reverse("admin:reports_incidentreview_xlsx", args=[review.pk]))
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames[0] == "Summary"


def test_regenerate_notes_and_finalise_from_the_admin(client, review, review_supervisor):
    login(client, review_supervisor)
    url = reverse("admin:reports_incidentreview_regenerate", args=[review.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    assert AuditEvent.objects.filter(verb="review.regenerated").count() == 1
    client.post(
        reverse("admin:reports_incidentreview_notes", args=[review.pk]), {"notes": "Printer."}
    )
    client.post(
        reverse("admin:reports_incidentreview_finalize", args=[review.pk]),
        {"notes": "Printer replaced; rule made permanent."},
    )
    review.refresh_from_db()
    assert review.status == IncidentReview.Status.FINAL
    assert review.notes == "Printer replaced; rule made permanent."
    assert review.finalized_by == review_supervisor
    client.post(url)  # refused: final
    assert AuditEvent.objects.filter(verb="review.regenerated").count() == 1
    page = client.get(reverse("admin:reports_incidentreview_change", args=[review.pk]))
    assert 'id="review-regenerate"' not in page.text
    assert "rule made permanent" in page.text


def test_a_supervisor_generates_a_review_for_a_window_they_pick(
    client, episode_world, review_supervisor
):
    login(client, review_supervisor)
    response = client.post(
        reverse("admin:reports_incidentreview_generate"),
        {"title": "", "window_start": "2026-11-24T14:00", "window_end": "2026-11-24T16:00"},
    )
    review = IncidentReview.objects.get()
    assert response.status_code == 302
    assert review.episode is None and review.created_by == review_supervisor
    assert (review.window_start, review.window_end) == (START, START.replace(hour=8))
    assert review.data["volume"]["orders"] == 3


def test_staff_without_the_permission_cannot_read_reviews(client, review):
    login(client, UserFactory(username="clerk2"))
    response = client.get(reverse("admin:reports_incidentreview_change", args=[review.pk]))
    assert response.status_code in (302, 403)
    response = client.get(reverse("admin:reports_incidentreview_pdf", args=[review.pk]))
    assert response.status_code in (302, 403)
