"""A blocking case holds the order and the last one to close releases it; dispatch is
refused while a blocking case is open, by every path (service, admin button, staff
API, bulk action)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from exceptions.services.cases import case_open, case_reject, case_reopen, case_resolve
from exceptions.tests.conftest import qc_photo
from orders.models import Order, StageVisit
from orders.services import (
    TransitionRefused,
    order_dispatch,
    order_hold,
    order_release,
    order_upload_qc_photo,
)
from orders.states import OrderStatus, Via
from orders.tests.factories import make_order
from orders.tests.test_admin import messages_of, press, snapshot, transition_url
from orders.tests.test_lifecycle import to_stage

S = OrderStatus
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _types(exception_types):
    return exception_types


def fresh(order) -> Order:
    return Order.objects.get(pk=order.pk)


def visits(order) -> list[StageVisit]:
    return list(StageVisit.objects.filter(order_id=order.pk).order_by("entered_at", "id"))


def open_case(order, code, **kwargs):
    case, created = case_open(order, type=code, source=CaseSource.STAFF, **kwargs)
    assert created
    return case


@pytest.fixture
def reserving(stocked_product, supervisor):
    """An order waiting in stock reservation."""
    order = make_order(products=[stocked_product])
    return to_stage(order, S.STOCK_RESERVATION, by=supervisor)


# --- Hold and release ---------------------------------------------------------------


def test_a_blocking_case_holds_the_order_and_resolving_it_returns_it_to_its_stage(
    stocked_product, supervisor, service_agent
):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        order = make_order(products=[stocked_product])
        to_stage(order, S.STOCK_RESERVATION, by=supervisor)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        case = open_case(order, "address_change", description="new flat number", by=service_agent)
        held = fresh(order)
        assert (held.status, held.held_from) == (S.ON_HOLD, S.STOCK_RESERVATION)
        assert case.held_order
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        case_resolve(case, by=service_agent, note="label updated, warehouse told")

    order = fresh(order)
    assert (order.status, order.held_from) == (S.STOCK_RESERVATION, "")
    assert order.stage_entered_at == start + timedelta(minutes=40)
    *_, reserving, hold, back = visits(order)
    assert (reserving.stage, reserving.dwell_seconds) == (S.STOCK_RESERVATION, 600)
    assert (reserving.via, reserving.detail) == (Via.SYSTEM, {"exception_case": case.pk})
    # The hold's own dwell: 30 minutes, counted apart from the stage's.
    assert (hold.stage, hold.dwell_seconds) == (S.ON_HOLD, 1800)
    assert (hold.via, hold.detail) == (Via.SYSTEM, {"exception_case": case.pk})
    assert (back.stage, back.entered_at, back.left_at) == (
        S.STOCK_RESERVATION,
        start + timedelta(minutes=40),
        None,
    )
    verbs = list(
        AuditEvent.objects.filter(subject_id=str(order.pk))
        .order_by("at", "id")
        .values_list("verb", flat=True)
    )
    assert verbs[-4:] == [
        "exception.opened",
        "order.transition",
        "exception.resolved",
        "order.transition",
    ]


def test_rejecting_the_blocking_case_also_releases_the_order(reserving, service_agent):
    case = open_case(reserving, "address_change")
    case_reject(case, by=service_agent, note="the customer withdrew the request")
    assert fresh(reserving).status == S.STOCK_RESERVATION
    case.refresh_from_db()
    assert case.status == CaseStatus.REJECTED


@pytest.mark.parametrize("first_closed", ["holding case", "second case"])
def test_with_two_blocking_cases_the_order_returns_only_when_both_are_closed(
    reserving, service_agent, first_closed
):
    address = open_case(reserving, "address_change")
    gift = open_case(reserving, "gift_addition")
    assert (address.held_order, gift.held_order) == (True, False)
    first, second = (address, gift) if first_closed == "holding case" else (gift, address)

    case_resolve(first, by=service_agent, note="done")

    assert fresh(reserving).status == S.ON_HOLD
    assert ExceptionCase.objects.get(pk=second.pk).held_order  # took over the hold

    case_resolve(second, by=service_agent, note="done")

    order = fresh(reserving)
    assert order.status == S.STOCK_RESERVATION
    assert [v.stage for v in visits(order)][-2:] == [S.ON_HOLD, S.STOCK_RESERVATION]


def test_a_non_blocking_case_does_not_hold_the_order(reserving, finance_agent):
    case = open_case(reserving, "invoice_reissue")
    assert not case.blocking and not case.held_order
    assert fresh(reserving).status == S.STOCK_RESERVATION
    case_resolve(case, by=finance_agent, note="reissued")
    assert fresh(reserving).status == S.STOCK_RESERVATION
    assert visits(reserving)[-1].stage == S.STOCK_RESERVATION


def test_opening_the_same_type_again_returns_the_open_case(reserving):
    case = open_case(reserving, "address_change")
    again, created = case_open(reserving, type="address_change", source=CaseSource.STAFF)
    assert (again.pk, created) == (case.pk, False)
    assert ExceptionCase.objects.filter(order=reserving).count() == 1


def test_reopening_a_blocking_case_holds_the_order_again(reserving, service_agent):
    case = open_case(reserving, "address_change")
    case_resolve(case, by=service_agent, note="done")
    assert fresh(reserving).status == S.STOCK_RESERVATION

    case_reopen(case, by=service_agent, reason="the customer called again")

    order = fresh(reserving)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.STOCK_RESERVATION)
    case.refresh_from_db()
    assert (case.status, case.held_order, case.closed_at) == (CaseStatus.OPEN, True, None)
    case_resolve(case, by=service_agent, note="done again")
    assert fresh(reserving).status == S.STOCK_RESERVATION


def test_a_case_does_not_end_a_hold_a_person_made(reserving, supervisor, service_agent):
    order_hold(reserving, by=supervisor, reason="fraud check")
    case = open_case(reserving, "address_change")
    assert not case.held_order

    case_resolve(case, by=service_agent, note="done")

    order = fresh(reserving)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.STOCK_RESERVATION)


def test_a_case_cannot_be_opened_on_a_dispatched_or_cancelled_order(supervisor):
    from orders.services import order_cancel

    order = make_order()
    order_cancel(order, by=supervisor, reason="customer cancelled")
    with pytest.raises(TransitionRefused):
        case_open(order, type="address_change", source=CaseSource.STAFF)
    assert not ExceptionCase.objects.exists()


def test_a_released_order_with_an_open_blocking_case_is_not_passed_automatically(
    supervisor, service_agent
):
    order = make_order()
    case = open_case(order, "address_change")
    assert fresh(order).held_from == S.SALES_REVIEW
    order_release(order, by=supervisor, reason="released by mistake")
    # Sales review is auto-passable, but not while the case is open.
    from orders.routing import hold_back_reason

    assert hold_back_reason(fresh(order), S.SALES_REVIEW)
    case_resolve(case, by=service_agent, note="done")
    assert fresh(order).status == S.SALES_REVIEW


# --- Dispatch refused while a blocking case is open, by every path ------------------


@pytest.fixture
def blocked_at_qc(stocked_product, supervisor):
    """Paid, photographed, in quality check, with an open blocking case that does not
    hold it (opened while a person held the order, then the person released it)."""
    order = make_order(products=[stocked_product])
    to_stage(order, S.QUALITY_CHECK, by=supervisor)
    order_upload_qc_photo(order, photo=qc_photo(), by=supervisor)
    order_hold(order, by=supervisor, reason="customer on the phone")
    case = open_case(order, "address_change")
    order_release(order, by=supervisor, reason="back to QC")
    order = fresh(order)
    assert order.status == S.QUALITY_CHECK and not case.held_order
    return order


def test_dispatch_service_is_refused_while_a_blocking_case_is_open(blocked_at_qc, qc_clerk):
    before = snapshot(blocked_at_qc)
    with pytest.raises(TransitionRefused) as refused:
        order_dispatch(blocked_at_qc, by=qc_clerk, carrier="SF", tracking_number="SF1")
    assert any("holds the order" in reason for reason in refused.value.reasons)
    assert snapshot(blocked_at_qc) == before
    assert blocked_at_qc.status == S.QUALITY_CHECK


def test_dispatch_is_refused_after_the_holding_case_was_released_by_hand(
    stocked_product, supervisor, qc_clerk
):
    order = make_order(products=[stocked_product])
    to_stage(order, S.QUALITY_CHECK, by=supervisor)
    order_upload_qc_photo(order, photo=qc_photo(), by=supervisor)
    open_case(order, "gift_addition")
    order_release(fresh(order), by=supervisor, reason="I know better")
    with pytest.raises(TransitionRefused):
        order_dispatch(fresh(order), by=qc_clerk, carrier="SF", tracking_number="SF1")
    assert fresh(order).status == S.QUALITY_CHECK


def test_dispatch_goes_through_once_the_case_is_resolved(blocked_at_qc, qc_clerk, service_agent):
    case_resolve(ExceptionCase.objects.get(order=blocked_at_qc), by=service_agent, note="done")
    order_dispatch(blocked_at_qc, by=qc_clerk, carrier="SF", tracking_number="SF1")
    assert fresh(blocked_at_qc).status == S.DISPATCHED


def test_the_admin_dispatch_button_is_refused_while_a_blocking_case_is_open(
    client, blocked_at_qc, qc_clerk
):
    client.force_login(qc_clerk)
    before = snapshot(blocked_at_qc)
    opened = press(client, blocked_at_qc, "dispatch")
    assert opened.status_code == 302 and opened.url == transition_url(blocked_at_qc, "dispatch")

    response = client.post(
        transition_url(blocked_at_qc, "dispatch"),
        {"carrier": "SF Express", "tracking_number": "SF1"},
    )

    assert response.status_code == 200  # the form again, with the reason
    [message] = messages_of(response)
    assert "holds the order" in message
    assert snapshot(blocked_at_qc) == before


def test_the_staff_api_dispatch_is_refused_while_a_blocking_case_is_open(blocked_at_qc, qc_clerk):
    phone = Client()
    phone.force_login(qc_clerk)
    before = snapshot(blocked_at_qc)

    response = phone.post(
        f"/api/v1/staff/orders/{blocked_at_qc.number}/transitions/dispatch/",
        {"carrier": "SF", "tracking_number": "SF1"},
        content_type="application/json",
    )

    assert response.status_code == 422, response.content
    body = response.json()
    assert "holds the order" in str(body)
    assert snapshot(blocked_at_qc) == before


def test_the_bulk_complete_action_does_not_dispatch_a_blocked_order(
    client, blocked_at_qc, supervisor
):
    """Orders has no bulk dispatch; its bulk "complete the stage" must not be one."""
    from django.urls import reverse

    client.force_login(supervisor)
    before = snapshot(blocked_at_qc)
    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "complete_stage_action", "_selected_action": [blocked_at_qc.pk]},
    )
    assert response.status_code == 302
    assert snapshot(blocked_at_qc) == before
    assert any(blocked_at_qc.number in m for m in messages_of(response))


def test_a_case_of_a_cancelled_order_cannot_be_reopened(reserving, supervisor, service_agent):
    from orders.services import order_cancel

    case = open_case(reserving, "address_change")
    order_cancel(fresh(reserving), by=supervisor, reason="customer cancelled")
    case_resolve(case, by=service_agent, note="order cancelled")

    with pytest.raises(TransitionRefused):
        case_reopen(case, by=service_agent, reason="the customer called again")

    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.RESOLVED
    assert fresh(reserving).status == S.CANCELLED


def test_closing_a_case_does_not_end_a_later_hold_by_a_person(reserving, supervisor, service_agent):
    """The case held the order; a person released it, then held it again for another
    reason: resolving the case must leave the person's hold alone."""
    case = open_case(reserving, "address_change")
    order_release(fresh(reserving), by=supervisor, reason="the warehouse may go on")
    order_hold(fresh(reserving), by=supervisor, reason="suspected fraud")

    case_resolve(case, by=service_agent, note="address confirmed")

    order = fresh(reserving)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.STOCK_RESERVATION)


def test_cancelling_the_order_closes_its_open_cases(
    reserving, supervisor, django_capture_on_commit_callbacks
):
    from orders.services import order_cancel

    address = open_case(reserving, "address_change")
    invoice = open_case(reserving, "invoice_reissue")
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(fresh(reserving), by=supervisor, reason="customer withdrew")
    for case in (address, invoice):
        case.refresh_from_db()
        assert case.status == CaseStatus.REJECTED
        assert case.resolution_note == "The order was cancelled."
    assert not ExceptionCase.objects.open().exists()


def test_a_partner_raised_case_is_audited_as_that_partner(reserving):
    case, _created = case_open(
        reserving, type="address_change", source=CaseSource.PARTNER_API, actor_label="partner:jd"
    )
    event = AuditEvent.objects.get(verb="exception.opened", subject_id=str(reserving.pk))
    assert event.actor is None and event.actor_label == "partner:jd"
    assert event.payload["case"] == case.pk


def test_an_order_with_an_open_holding_case_is_never_passed_by_a_rule(supervisor, sales_clerk):
    from approvals.models import RoutingRule
    from approvals.services.rules import rule_save
    from orders.services import order_complete_stage

    rule_save(
        RoutingRule(name="everything", target="finance_review", condition={"all": []}, enabled=True)
    )
    order = make_order()
    open_case(order, "address_change")  # holds the order from sales review
    order_release(fresh(order), by=supervisor, reason="released by hand")
    order = fresh(order)
    assert order.status == S.SALES_REVIEW
    order_complete_stage(order, by=sales_clerk)
    assert fresh(order).status == S.FINANCE_REVIEW  # the rule matched; the open case held it
    finance = StageVisit.objects.get(order=order, stage=S.FINANCE_REVIEW)
    assert finance.left_at is None
