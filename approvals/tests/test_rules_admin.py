"""The routing-rule admin: dry run before saving, saving with a reason, version history."""

import json

import pytest
from django.urls import reverse

from approvals.demo import FINANCE_RULE
from approvals.models import RoutingRule
from approvals.services.rules import rule_save
from orders.services import order_complete_stage
from orders.tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        "name": "Small and good credit",
        "description": "",
        "target": "finance_review",
        "condition": json.dumps(FINANCE_RULE),
        "priority": "10",
        "effective_from_0": "",
        "effective_from_1": "",
        "effective_until_0": "",
        "effective_until_1": "",
        "change_reason": "",
        "dry_run_days": "7",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_the_supervisor_dry_runs_a_new_rule_without_saving_it(client, supervisor, sales_clerk):
    for _ in range(3):
        order = make_order(products=[ProductFactory()])
        order_complete_stage(order, by=sales_clerk)
    client.force_login(supervisor)
    url = reverse("admin:approvals_routingrule_add")
    assert client.get(url).status_code == 200
    response = client.post(url, form_data(_dryrun="1"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Dry run over the last 7 days" in page
    assert "100.0%" in page and "3 / 3" in page  # all three waiting orders would pass
    assert not RoutingRule.objects.exists()


def test_a_bad_condition_is_shown_as_a_form_error_not_a_500(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:approvals_routingrule_add")
    for condition in ("{not json", json.dumps({"fact": "amount", "op": "~", "value": 1})):
        for extra in ({"_dryrun": "1"}, {}):
            response = client.post(url, form_data(condition=condition, **extra))
            assert response.status_code == 200
            assert (
                "errornote" in response.content.decode() or "errorlist" in response.content.decode()
            )
    assert not RoutingRule.objects.exists()


def test_saving_creates_version_one_and_a_change_needs_a_reason(client, supervisor):
    client.force_login(supervisor)
    response = client.post(reverse("admin:approvals_routingrule_add"), form_data(enabled="on"))
    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert rule.enabled and rule.version == 1 and rule.updated_by == supervisor
    change = reverse("admin:approvals_routingrule_change", args=[rule.pk])
    refused = client.post(change, form_data(enabled="on", priority="5"))
    assert refused.status_code == 200 and "Say why the rule changes" in refused.content.decode()
    done = client.post(change, form_data(enabled="on", priority="5", change_reason="first"))
    assert done.status_code == 302
    rule.refresh_from_db()
    assert rule.version == 2 and rule.priority == 5
    page = client.get(change).content.decode()
    assert "version history" in page.lower() and "first" in page


def test_rules_cannot_be_deleted_only_disabled(client, supervisor):
    rule = rule_save(
        RoutingRule(name="r", target="finance_review", condition=FINANCE_RULE, enabled=True)
    )
    client.force_login(supervisor)
    assert (
        client.get(reverse("admin:approvals_routingrule_delete", args=[rule.pk])).status_code == 403
    )
    client.post(
        reverse("admin:approvals_routingrule_changelist"),
        {"action": "disable_rules", "_selected_action": [rule.pk]},
    )
    rule.refresh_from_db()
    assert not rule.enabled and rule.version == 2


def test_applying_a_rule_to_the_waiting_pile(client, supervisor, sales_clerk):
    waiting = [make_order(products=[ProductFactory()]) for _ in range(2)]
    for order in waiting:
        order_complete_stage(order, by=sales_clerk)
    rule = rule_save(
        RoutingRule(name="r", target="finance_review", condition=FINANCE_RULE, enabled=True)
    )
    client.force_login(supervisor)
    response = client.post(
        reverse("admin:approvals_routingrule_changelist"),
        {"action": "apply_to_waiting", "_selected_action": [rule.pk]},
        follow=True,
    )
    assert "2 waiting orders were passed on" in response.content.decode()
    for order in waiting:
        order.refresh_from_db()
        assert order.status == "stock_reservation"


def test_staff_without_rule_permissions_cannot_dry_run(client, sales_clerk):
    client.force_login(sales_clerk)
    response = client.post(reverse("admin:approvals_routingrule_add"), form_data(_dryrun="1"))
    assert response.status_code == 403


def test_the_page_after_a_dry_run_can_still_be_saved(client, supervisor):
    rule = rule_save(RoutingRule(name="r", target="finance_review", condition=FINANCE_RULE))
    client.force_login(supervisor)
    change = reverse("admin:approvals_routingrule_change", args=[rule.pk])
    data = form_data(
        **{"versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1", "versions-0-id": ""}
    )
    data["versions-0-id"] = str(rule.versions.get().pk)
    data["versions-0-rule"] = str(rule.pk)
    page = client.post(change, {**data, "_dryrun": "1"}).content.decode()
    assert 'name="versions-TOTAL_FORMS"' in page  # the inline's management form is back
    saved = client.post(change, {**data, "enabled": "on", "change_reason": "go"})
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert rule.enabled and rule.version == 2
