"""A real browser drives the order page: log in, confirm, switch to Chinese.

Chromium is Debian's (`make apt-test`), launched by Playwright; `playwright install`
is never run (STYLE.md). Without Chromium the test skips locally and fails in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse
from playwright.sync_api import Page, expect, sync_playwright

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.models import StageVisit
from orders.states import OrderStatus
from orders.tests.factories import UserFactory, make_order

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: run `make apt-test` (apt-get install chromium fonts-noto-cjk)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)  # CI must run the browser test, never skip it silently
    pytest.skip(reason)


@pytest.fixture
def page(live_server, monkeypatch):
    """A Chromium page speaking English, pointed at the live server."""
    _require_chromium()
    # Playwright's sync API runs an event loop in this thread; Django would refuse
    # the test's own ORM calls as "async-unsafe" without this (browser tests only).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="en-US", base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The test's queries ran while Playwright's event loop was up; Django keeps
            # that connection apart from the one it closes at the end of the session,
            # and PostgreSQL would then refuse to drop the test database.
            connections.close_all()


class screenshot_on_failure:
    """Save the page to `<tmp_path>/failure.png` when the block fails, naming it in the error."""

    def __init__(self, page: Page, tmp_path: Path):
        self.page, self.path = page, tmp_path / "failure.png"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc is not None:
            try:
                self.page.screenshot(path=self.path, full_page=True)
                exc.add_note(f"screenshot of the page: {self.path}")
            except Exception as screenshot_error:  # the browser itself may be gone
                exc.add_note(f"no screenshot: {screenshot_error}")
        return False


def test_supervisor_confirms_an_order_then_reads_the_page_in_chinese(page, tmp_path):
    supervisor = UserFactory(
        username="supervisor", password="supervisor-demo", groups=[teams.SUPERVISORS]
    )
    assert supervisor.is_staff
    order = make_order()
    assert order.status == OrderStatus.SALES_REVIEW

    with screenshot_on_failure(page, tmp_path):
        page.goto(reverse("admin:login"))
        page.fill("#id_username", "supervisor")
        page.fill("#id_password", "supervisor-demo")
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("supervisor")

        page.goto(reverse("admin:orders_order_change", args=[order.pk]))
        expect(page.locator("#order-panel")).to_contain_text("Sales review")
        page.get_by_role("button", name="Confirm sales review").click()

        expect(page.locator(".messagelist")).to_contain_text(
            f"Order {order.number} is now in “Finance review (price check)”."
        )
        expect(page.locator("#order-panel")).to_contain_text("Finance review (price check)")
        expect(page.get_by_role("button", name="Approve price check")).to_be_visible()

        page.select_option("#language-select", "zh-hans")  # submits the switch form

        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("#order-panel")).to_contain_text("财务核价")
        expect(page.locator("#language-select")).to_have_value("zh-hans")
        assert page.url.endswith(reverse("admin:orders_order_change", args=[order.pk]))

    order.refresh_from_db()
    assert order.status == OrderStatus.FINANCE_REVIEW
    assert StageVisit.objects.get(order=order, stage=OrderStatus.SALES_REVIEW).actor == supervisor
    assert AuditEvent.objects.filter(
        subject_id=str(order.pk), verb="order.transition", actor=supervisor
    ).exists()
