"""A supervisor works the approvals admin in Chinese, in a real browser: creates the seed
rule, dry-runs it, enables it and sees a new order skip finance review; issues an
authorization code; switches urgent dispatch on and finds the owed photo in its queue."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from approvals.models import AuthorizationCode, BypassSwitch, RoutingRule
from orders import teams
from orders.models import StageVisit
from orders.services import order_complete_stage, order_dispatch, pick_list_print
from orders.states import OrderStatus, Via
from orders.tests.factories import CustomerFactory, UserFactory, make_order
from orders.tests.test_browser import page, screenshot_on_failure  # noqa: F401 (fixture)

S = OrderStatus
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in_in_chinese(page):  # noqa: F811
    page.goto(reverse("admin:login"))
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", "supervisor-demo")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("supervisor")
    page.select_option("#language-select", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")


def test_supervisor_rules_codes_and_urgent_dispatch_in_chinese(
    page,  # noqa: F811
    tmp_path,
    warehouses,
    stocked_product,
):
    supervisor = UserFactory(
        username="supervisor", password="supervisor-demo", groups=[teams.SUPERVISORS]
    )
    waiting = make_order(products=[stocked_product])
    order_complete_stage(waiting, by=supervisor)  # waits in finance review
    assert waiting.status == S.FINANCE_REVIEW

    with screenshot_on_failure(page, tmp_path):
        _log_in_in_chinese(page)

        # The seed rule: the form starts with its condition; dry-run, then enable and save.
        page.goto(reverse("admin:approvals_routingrule_add"))
        page.fill("#id_name", "金额<5000且信用良好免财务审核")
        page.select_option("#id_target", "finance_review")
        page.locator("input[name=_dryrun]").click()
        expect(page.locator("#dry-run")).to_contain_text("100.0%")
        expect(page.locator("#dry-run")).to_contain_text(waiting.number)
        assert not RoutingRule.objects.exists()  # a dry run saves nothing
        page.check("#id_enabled")
        page.locator("input[name=_save]").click()
        expect(page.locator(".messagelist")).to_be_visible()
        rule = RoutingRule.objects.get()
        assert rule.enabled and rule.version == 1

        # A new order now passes finance review by the rule.
        fresh = make_order(products=[stocked_product])
        order_complete_stage(fresh, by=supervisor)
        assert fresh.status == S.STOCK_RESERVATION
        passed = StageVisit.objects.get(order=fresh, stage=S.FINANCE_REVIEW)
        assert passed.via == Via.RULE and passed.detail["rule_version"] == 1
        page.goto(reverse("admin:orders_order_change", args=[fresh.pk]))
        expect(page.locator("body")).to_contain_text("仓储预占库存")
        expect(page.locator("body")).to_contain_text(rule.name)

        # An authorization code, shown once.
        page.goto(reverse("admin:approvals_authorizationcode_add"))
        page.fill("#id_label", "大促改价")
        page.locator("input[type=submit]").first.click()
        code_text = page.locator("#issued-code").inner_text().strip()
        assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4})+", code_text), code_text
        stored = AuthorizationCode.objects.get()
        assert code_text.replace("-", "") not in stored.code_hash

        # Urgent dispatch on; a returning customer's order ships without its photo.
        page.goto(reverse("admin:approvals_bypassswitch_changelist"))
        switch = BypassSwitch.objects.get(kind="urgent_dispatch")
        page.locator(
            f"a[href='{reverse('admin:approvals_bypassswitch_on', args=[switch.pk])}']"
        ).click()
        page.fill("#id_reason", "拣货积压，紧急发货")
        page.locator("input[type=submit]").first.click()
        expect(page.locator(".bypass-on")).to_be_visible()

        urgent = make_order(products=[stocked_product], customer=CustomerFactory())
        order_complete_stage(urgent, by=supervisor)  # sales; finance passed by the rule
        pick_list_print([urgent], by=supervisor)  # reserves the stock, prints the list
        urgent.refresh_from_db()
        order_complete_stage(urgent, by=supervisor)  # picking done: quality check
        assert urgent.status == S.QUALITY_CHECK
        order_dispatch(urgent, by=supervisor, carrier="顺丰", tracking_number="SF1", urgent=True)
        page.goto(reverse("admin:approvals_obligation_changelist"))
        expect(page.locator("#result_list")).to_contain_text(urgent.number)
