"""A real browser works the exception pool: a customer-service agent (Chinese UI) sees
the blocking 【改址】 case on top, claims it, resolves it with a note, and the order it
held returns to stock reservation.

Chromium is Debian's (`make apt-test`), launched by Playwright; `playwright install`
is never run (STYLE.md). Without Chromium the test skips locally and fails in CI.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from backoffice.audit.models import AuditEvent
from exceptions.demo import exceptions_types_ensure
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from exceptions.services.cases import case_open
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams
from orders.services import order_complete_stage
from orders.states import OrderStatus
from orders.tests.factories import UserFactory, make_order
from orders.tests.test_browser import page, screenshot_on_failure  # noqa: F401 (fixture)

S = OrderStatus

pytestmark = pytest.mark.browser


@pytest.fixture
def held_order(db):
    """An order in stock reservation, held by an address change; and, opened three
    hours earlier (so due first), a return sync of the same team on another order."""
    types = exceptions_types_ensure()
    boss = UserFactory(username="boss", groups=[teams.SUPERVISORS])
    order = make_order()
    while order.status != S.STOCK_RESERVATION:
        order_complete_stage(order, by=boss)
    earlier = timezone.now() - timedelta(hours=3)
    older, _ = case_open(
        make_order(),
        type=types["return_exchange_sync"],
        source=CaseSource.STAFF,
        description="上一单退货需同步",
        now=earlier,
    )
    address, _ = case_open(
        order,
        type=types["address_change"],
        source=CaseSource.PARTNER_API,
        description="客户来电改地址",
    )
    order.refresh_from_db()
    assert (order.status, order.held_from) == (S.ON_HOLD, S.STOCK_RESERVATION)
    assert older.sla_due_at < address.sla_due_at  # the older one is due first
    return order, address, older


def test_agent_claims_the_blocking_case_first_and_resolving_it_releases_the_order(
    page,  # noqa: F811 (the imported fixture)
    tmp_path,
    held_order,
):
    order, address, older = held_order
    agent = UserFactory(username="service1", password="demo-pass", groups=[CUSTOMER_SERVICE])
    tag, older_tag = address.type.tag_zh, older.type.tag_zh
    assert tag == "【改址】"

    with screenshot_on_failure(page, tmp_path):
        page.goto(reverse("admin:login"))
        page.fill("#id_username", "service1")
        page.fill("#id_password", "demo-pass")
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("service1")
        page.select_option("#language-select", "zh-hans")  # submits the switch form
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

        page.goto(reverse("admin:exceptions_exceptioncase_changelist"))
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text(tag)  # blocking first...
        expect(rows.nth(0)).to_contain_text(order.number)
        expect(rows.nth(1)).to_contain_text(older_tag)  # ...though this one is due first

        page.click("#claim-next-case")

        expect(page.locator("#case-head")).to_contain_text(tag)
        expect(page.locator("#case-head")).to_contain_text(order.number)
        expect(page.locator("#case-head")).to_contain_text(agent.username)
        page.click("#resolve-case")
        page.fill("textarea[name=note]", "已与客户确认新地址，面单已更新")
        page.click("input[type=submit]")

        expect(page.locator(".messagelist .success")).to_be_visible()
        expect(page.locator("#resolve-case")).to_have_count(0)  # closed: nothing to resolve
        page.goto(reverse("admin:orders_order_change", args=[order.pk]))
        expect(page.locator("#order-panel")).to_contain_text("仓储预占库存")
        panels = page.locator("#order-panel .extra-panel")  # the audit trail keeps the tag
        expect(panels.filter(has_text=tag)).to_have_count(0)

    address.refresh_from_db()
    order.refresh_from_db()
    assert address.status == CaseStatus.RESOLVED
    assert address.closed_by == agent
    assert address.resolution_note == "已与客户确认新地址，面单已更新"
    assert order.status == S.STOCK_RESERVATION
    assert order.held_from in ("", None)
    assert ExceptionCase.objects.get(pk=older.pk).status == CaseStatus.OPEN
    assert AuditEvent.objects.filter(
        subject_id=str(order.pk), verb="exception.resolved", actor=agent
    ).exists()
