"""A supervisor opens the latest post-incident review from the admin, sees its charts
and downloads the PDF (Playwright driving Debian's Chromium)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from orders.models import AlarmEpisode
from orders.states import OrderStatus
from orders.tests import test_browser
from reports.review.services import review_generate
from reports.tests.factories import order_with_timeline

S = OrderStatus
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
page = test_browser.page  # the Chromium fixture of the orders browser test
screenshot_on_failure = test_browser.screenshot_on_failure


def test_the_supervisor_opens_the_latest_review_sees_the_charts_and_downloads_the_pdf(
    page, tmp_path, supervisor
):
    supervisor.set_password("supervisor-demo")
    supervisor.save(update_fields=["password"])
    start = timezone.now().replace(microsecond=0) - timedelta(days=1, hours=6)
    for index in range(6):
        order_with_timeline(
            placed_at=start + timedelta(minutes=20 * index),
            stages=[(S.SALES_REVIEW, 15), (S.PICKING, 90 + index)],
        )
    older = review_generate(
        window_start=start - timedelta(days=2), window_end=start - timedelta(days=2, hours=-2)
    )
    episode = AlarmEpisode.objects.create(
        kind=AlarmEpisode.Kind.STAGE_SLA,
        stage=S.PICKING,
        started_at=start,
        ended_at=start + timedelta(hours=4),
        peak_count=6,
    )
    latest = review_generate(
        window_start=start, window_end=start + timedelta(hours=4), episodes=[episode]
    )
    assert older.window_start < latest.window_start

    with screenshot_on_failure(page, tmp_path):
        page.goto(reverse("admin:login"))
        page.fill("#id_username", "supervisor")
        page.fill("#id_password", "supervisor-demo")
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("supervisor")

        page.goto(reverse("admin:reports_incidentreview_changelist"))
        page.locator("#result_list tbody tr").first.locator("th a").click()
        assert page.url.endswith(reverse("admin:reports_incidentreview_change", args=[latest.pk]))
        expect(page.locator("#review-headline")).to_contain_text("6")
        charts = page.locator("svg.review-chart")
        expect(charts).to_have_count(5)
        for index in range(5):
            expect(charts.nth(index)).to_be_visible()
        box = charts.first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100

        with page.expect_download() as download_info:
            page.click("#review-pdf")
        download = download_info.value
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        assert download.suggested_filename.endswith(".pdf")
        assert path.read_bytes().startswith(b"%PDF")
