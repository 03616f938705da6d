"""Surge staffing: a person lent to a stage team holds its permissions until the grant ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import events, teams
from orders.models import Order, SurgeGrant
from orders.services import (
    ActionForbidden,
    InvalidOrderInput,
    order_complete_stage,
    order_transition,
    pick_list_print,
)
from orders.services.queues import order_claim_next
from orders.services.surge import surge_grant, surge_grants_expire, surge_revoke
from orders.states import OrderStatus
from orders.tests.factories import CustomerFactory, make_order

S = OrderStatus
PICK = "orders.process_picking"
START = datetime(2025, 9, 29, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
UNTIL = START + timedelta(hours=2)

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as a new request would load it: permissions are cached per object."""
    return get_user_model().objects.get(pk=user.pk)


def team(name: str) -> Group:
    return Group.objects.get(name=name)


def to_picking(order, *, by):
    while order.status != S.PICKING:
        if order.status == S.STOCK_RESERVATION:
            order_transition(order, name="reserve_stock", by=by)
        else:
            order_complete_stage(order, by=by)
    return order


def waiting_picking_order() -> Order:
    return Order.objects.create(
        number="TS-000001",
        customer=CustomerFactory(),
        status=S.PICKING,
        placed_at=START - timedelta(hours=1),
        stage_entered_at=START - timedelta(hours=1),
        ship_name="A",
        ship_phone="1",
        ship_province="Z",
        ship_city="H",
        ship_line1="1",
    )


def surge_events(verb: str, grant: SurgeGrant):
    return AuditEvent.objects.filter(verb=verb, subject_id=str(grant.pk))


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lend_clerk(supervisor, sales_clerk):
    def lend(**overrides) -> SurgeGrant:
        arguments = {
            "user": sales_clerk,
            "team": team(teams.WAREHOUSE),
            "until": UNTIL,
            "reason": "Double 11 picking backlog",
            "by": supervisor,
            **overrides,
        }
        return surge_grant(**arguments)

    return lend


def test_supervisors_may_grant_and_revoke_surge_roles(supervisor):
    for perm in ("add_surgegrant", "change_surgegrant", "view_surgegrant"):
        assert supervisor.has_perm(f"orders.{perm}")


def test_a_sales_clerk_lent_to_the_warehouse_claims_and_finishes_picking(
    clock, lend_clerk, supervisor, sales_clerk, stocked_product
):
    order = to_picking(make_order(products=[stocked_product]), by=supervisor)
    assert not fresh(sales_clerk).has_perm(PICK)
    with pytest.raises(ActionForbidden):
        order_claim_next(stage=S.PICKING, user=fresh(sales_clerk))

    grant = lend_clerk()

    clerk = fresh(sales_clerk)
    assert clerk.has_perm(PICK)
    assert clerk.has_perm("orders.process_sales_review")  # their own team's too
    claimed = order_claim_next(stage=S.PICKING, user=clerk)
    assert (claimed.pk, claimed.claimed_by_id) == (order.pk, sales_clerk.pk)
    assert pick_list_print([claimed], by=clerk).failures == []
    order_complete_stage(claimed, by=clerk)
    assert Order.objects.get(pk=order.pk).status == S.QUALITY_CHECK

    [granted] = surge_events(events.SURGE_GRANTED, grant)
    assert (granted.actor, granted.reason) == (supervisor, "Double 11 picking backlog")
    assert granted.payload["team"] == teams.WAREHOUSE
    assert granted.payload["user"] == "sales_clerk"
    assert Notification.objects.filter(recipient=sales_clerk).count() == 1


def test_the_role_ends_at_its_time_even_before_the_expiry_job_runs(clock, lend_clerk, sales_clerk):
    grant = lend_clerk()
    waiting_picking_order()
    clock.move_to(UNTIL - timedelta(seconds=1))
    assert fresh(sales_clerk).has_perm(PICK)

    clock.move_to(UNTIL)

    clerk = fresh(sales_clerk)
    assert not clerk.has_perm(PICK)
    with pytest.raises(ActionForbidden):
        order_claim_next(stage=S.PICKING, user=clerk)
    grant.refresh_from_db()
    assert grant.ended_noted_at is None  # the job has not run yet

    clock.shift(timedelta(minutes=1))
    assert surge_grants_expire() == 1
    assert surge_grants_expire() == 0  # idempotent

    [ended] = surge_events(events.SURGE_ENDED, grant)
    assert ended.actor is None and ended.payload["why"] == "expired"
    grant.refresh_from_db()
    assert grant.ended_noted_at == UNTIL + timedelta(minutes=1)
    assert Notification.objects.filter(recipient=sales_clerk).count() == 2  # granted, ended


def test_revoking_ends_the_role_at_once(
    clock, lend_clerk, supervisor, sales_clerk, warehouse_clerk
):
    grant = lend_clerk()
    assert fresh(sales_clerk).has_perm(PICK)
    with pytest.raises(ActionForbidden):
        surge_revoke(grant, by=warehouse_clerk)

    surge_revoke(grant, by=supervisor, reason="backlog cleared")

    assert not fresh(sales_clerk).has_perm(PICK)
    assert (grant.revoked_at, grant.revoked_by) == (START, supervisor)
    surge_revoke(grant, by=supervisor)  # a second revoke records nothing more
    [ended] = surge_events(events.SURGE_ENDED, grant)
    assert (ended.actor, ended.reason, ended.payload["why"]) == (
        supervisor,
        "backlog cleared",
        "revoked",
    )
    clock.move_to(UNTIL + timedelta(minutes=5))
    assert surge_grants_expire() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"until": START - timedelta(minutes=1)}, "future", id="until in the past"),
        pytest.param({"until": START}, "future", id="until now"),
        pytest.param({"reason": "   "}, "reason", id="blank reason"),
        pytest.param({"team": "Supervisors"}, "stage teams", id="not a stage team"),
    ],
)
def test_a_grant_is_refused_with_bad_input(clock, lend_clerk, overrides, message):
    if "team" in overrides:
        overrides = {**overrides, "team": team(overrides["team"])}
    with pytest.raises(InvalidOrderInput) as refused:
        lend_clerk(**overrides)
    assert message in str(refused.value)
    assert not SurgeGrant.objects.exists()
    assert not AuditEvent.objects.filter(verb=events.SURGE_GRANTED).exists()


def test_only_supervisors_may_grant(clock, lend_clerk, warehouse_clerk):
    with pytest.raises(ActionForbidden):
        lend_clerk(by=warehouse_clerk)
    assert not SurgeGrant.objects.exists()


def test_the_admin_add_form_grants_through_the_service(client, clock, supervisor, sales_clerk):
    client.force_login(supervisor)
    url = reverse("admin:orders_surgegrant_add")
    assert client.get(url).status_code == 200
    form = {
        "user": sales_clerk.pk,
        "team": team(teams.WAREHOUSE).pk,
        "until_0": "2025-09-29",
        "until_1": "09:00:00",  # an hour ago
        "reason": "Double 11",
    }

    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "until" in refused.context["adminform"].form.errors
    assert not SurgeGrant.objects.exists()

    response = client.post(url, {**form, "until_1": "12:00:00"})

    assert response.status_code == 302
    grant = SurgeGrant.objects.get()
    assert (grant.user, grant.until, grant.granted_by) == (sales_clerk, UNTIL, supervisor)
    [granted] = surge_events(events.SURGE_GRANTED, grant)
    assert granted.actor == supervisor
    assert fresh(sales_clerk).has_perm(PICK)


def test_the_admin_action_revokes_through_the_service(client, clock, lend_clerk, supervisor):
    grant = lend_clerk()
    client.force_login(supervisor)

    response = client.post(
        reverse("admin:orders_surgegrant_changelist"),
        {"action": "revoke_action", "_selected_action": [grant.pk]},
    )

    assert response.status_code == 302
    grant.refresh_from_db()
    assert (grant.revoked_at, grant.revoked_by) == (START, supervisor)
    assert surge_events(events.SURGE_ENDED, grant).get().actor == supervisor
