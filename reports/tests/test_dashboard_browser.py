"""A supervisor opens the back-office on the demo's backlog and acts on it (Chromium)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orders.demo import SUPERVISOR_LOGIN, demo_seed
from orders.tests.test_browser import page, screenshot_on_failure  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_demo_backlog_is_hot_and_one_click_lists_its_orders(page, tmp_path):  # noqa: F811
    demo_seed(seed=7, now=timezone.now(), days=3, orders_per_day=160, write_qc_photo=False)
    with screenshot_on_failure(page, tmp_path):
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", SUPERVISOR_LOGIN[0])
        page.fill("#id_password", SUPERVISOR_LOGIN[1])
        page.click("input[type=submit]")
        # Supervisors land on the dashboard.
        expect(page).to_have_url("/admin/dashboard/")
        picking = page.locator('#stages tr[data-stage="picking"]')
        expect(picking).to_have_attribute("data-cue", "hot")
        colour = picking.evaluate("row => getComputedStyle(row.cells[0]).borderLeftColor")
        assert colour == "rgb(220, 38, 38)"  # the hot red
        expect(page.locator("#heatmap table.heat")).to_be_visible()
        waiting = int(picking.locator("td").nth(1).inner_text())
        assert waiting > 5
        picking.locator("td").nth(1).locator("a").click()
        expect(page).to_have_url("/admin/orders/order/?status=picking&queue=unclaimed")
        expect(page.locator("#result_list tbody tr")).to_have_count(min(waiting, 50))
