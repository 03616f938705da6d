"""Detectors open the right case once, never when the order is not special, and close
their own case when the cause is gone.

Orders sends its signals after commit: every trigger here runs inside
`django_capture_on_commit_callbacks(execute=True)`, as the real commit would.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backoffice.audit.models import AuditEvent
from exceptions.detectors import (
    ADDRESS_CHANGE,
    INVOICE_REISSUE,
    PRESALE_PAYMENT_DUE,
    PRICE_DIFFERENCE,
    detect_details_change,
    detect_on_intake,
    detect_on_payment,
)
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from orders.models import Order
from orders.services import (
    order_complete_stage,
    order_hold,
    order_record_payment,
    order_update_details,
)
from orders.states import OrderStatus, Via
from orders.tests.factories import make_order

S = OrderStatus
pytestmark = pytest.mark.django_db

NEW_ADDRESS = {"ship_line1": "99 Moganshan Rd", "ship_city": "Hangzhou"}
NEW_INVOICE = {"invoice_title": "Hangzhou Tea Co.", "invoice_tax_id": "91330100MA27XXXX"}


@pytest.fixture(autouse=True)
def _types(exception_types):
    return exception_types


def cases(order, code=None):
    queryset = ExceptionCase.objects.filter(order_id=order.pk)
    if code:
        queryset = queryset.filter(type__code=code)
    return list(queryset.order_by("id"))


def fresh(order) -> Order:
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run a block as if it committed: orders' after-commit signals fire."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


# --- presale_payment_due --------------------------------------------------------


def test_an_unpaid_presale_order_gets_one_blocking_case_and_is_held(commit, presale_product):
    with commit():
        order = make_order(products=[presale_product], paid=False)

    [case] = cases(order)
    assert case.type.code == PRESALE_PAYMENT_DUE
    assert (case.status, case.source, case.blocking, case.held_order) == (
        CaseStatus.OPEN,
        CaseSource.DETECTOR,
        True,
        True,
    )
    assert case.opened_by is None
    order = fresh(order)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.SALES_REVIEW)
    hold_visit = order.visits.get(stage=S.SALES_REVIEW)
    assert hold_visit.detail == {"exception_case": case.pk}
    assert hold_visit.via == Via.SYSTEM


def test_the_presale_detector_run_twice_opens_one_case(commit, presale_product):
    with commit():
        order = make_order(products=[presale_product], paid=False)

    detect_on_intake(fresh(order))
    detect_on_intake(order)  # a stale copy too

    assert len(cases(order, PRESALE_PAYMENT_DUE)) == 1
    assert AuditEvent.objects.filter(verb="exception.opened").count() == 1


def test_partial_payments_on_a_presale_order_leave_one_case_open(
    commit, presale_product, supervisor
):
    with commit():
        order = make_order(products=[presale_product], paid=False)
    for amount in ("50.00", "60.00"):
        with commit():
            order_record_payment(order, amount=Decimal(amount), by=supervisor)

    [case] = cases(order, PRESALE_PAYMENT_DUE)
    assert case.status == CaseStatus.OPEN
    assert fresh(order).status == S.ON_HOLD


def test_a_presale_order_paid_in_full_gets_no_case(commit, presale_product):
    with commit():
        order = make_order(products=[presale_product], paid=True)

    assert cases(order) == []
    assert fresh(order).status == S.SALES_REVIEW


def test_an_ordinary_unpaid_order_gets_no_presale_case(commit, stocked_product):
    with commit():
        order = make_order(products=[stocked_product], paid=False)
    assert cases(order) == []


def test_paying_the_presale_balance_lets_the_system_close_the_case_and_release_the_order(
    commit, presale_product, supervisor
):
    with commit():
        order = make_order(products=[presale_product], paid=False)

    with commit():
        order_record_payment(order, amount=order.total_amount, by=supervisor)

    [case] = cases(order, PRESALE_PAYMENT_DUE)
    assert case.status == CaseStatus.RESOLVED
    assert case.closed_by is None and case.closed_at is not None
    assert "Paid in full" in case.resolution_note
    order = fresh(order)
    assert (order.status, order.held_from) == (S.SALES_REVIEW, "")
    resolved = AuditEvent.objects.get(verb="exception.resolved", subject_id=str(order.pk))
    assert (resolved.actor, resolved.actor_label) == (None, "exceptions")


# --- address_change ---------------------------------------------------------------


def test_an_address_edit_during_sales_review_is_part_of_the_review(commit, sales_clerk):
    with commit():
        order = make_order()
    assert order.status == S.SALES_REVIEW

    with commit():
        order_update_details(order, changes=NEW_ADDRESS, by=sales_clerk)

    assert cases(order) == []
    assert fresh(order).status == S.SALES_REVIEW


def test_an_address_edit_after_review_opens_one_blocking_case(commit, supervisor):
    with commit():
        order = make_order()
    order_complete_stage(order, by=supervisor)
    assert order.status == S.FINANCE_REVIEW

    with commit():
        order_update_details(order, changes=NEW_ADDRESS, by=supervisor)
    with commit():
        order_update_details(order, changes={"ship_line1": "100 Moganshan Rd"}, by=supervisor)

    [case] = cases(order)
    assert case.type.code == ADDRESS_CHANGE
    assert case.blocking and case.held_order
    assert case.payload["changes"]["ship_line1"][1] == "99 Moganshan Rd"
    order = fresh(order)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.FINANCE_REVIEW)


def test_an_address_edit_of_an_order_held_from_sales_review_opens_nothing(commit, supervisor):
    with commit():
        order = make_order()
    order_hold(order, by=supervisor, reason="customer called")

    with commit():
        order_update_details(order, changes=NEW_ADDRESS, by=supervisor)

    assert cases(order) == []


def test_editing_only_the_notes_after_review_opens_nothing(commit, supervisor):
    with commit():
        order = make_order()
    order_complete_stage(order, by=supervisor)
    with commit():
        order_update_details(order, changes={"notes": "ring twice"}, by=supervisor)
    assert cases(order) == []


def test_the_address_detector_called_twice_opens_one_case(supervisor):
    order = make_order()
    order_complete_stage(order, by=supervisor)
    changes = {"ship_line1": ["1 Wensan Rd", "99 Moganshan Rd"]}

    detect_details_change(order, changes)
    detect_details_change(fresh(order), changes)

    assert len(cases(order, ADDRESS_CHANGE)) == 1


# --- invoice_reissue ------------------------------------------------------------


def test_an_invoice_edit_before_any_payment_opens_nothing(commit, supervisor):
    with commit():
        order = make_order(paid=False)
    with commit():
        order_update_details(order, changes=NEW_INVOICE, by=supervisor)
    assert cases(order) == []


def test_an_invoice_edit_after_payment_opens_one_case_that_does_not_hold(commit, supervisor):
    with commit():
        order = make_order(paid=True)
    with commit():
        order_update_details(order, changes=NEW_INVOICE, by=supervisor)
    with commit():
        order_update_details(order, changes={"invoice_title": "Hangzhou Tea Ltd."}, by=supervisor)

    [case] = cases(order)
    assert case.type.code == INVOICE_REISSUE
    assert not case.blocking and not case.held_order
    assert sorted(case.payload["changes"]) == ["invoice_tax_id", "invoice_title"]
    assert fresh(order).status == S.SALES_REVIEW


# --- price_difference -------------------------------------------------------------


def test_a_paid_amount_short_of_the_total_opens_one_non_blocking_case(commit):
    with commit():
        order = make_order(paid=False, amount_paid=Decimal("150.00"))
    detect_on_intake(fresh(order))

    [case] = cases(order)
    assert case.type.code == PRICE_DIFFERENCE
    assert case.payload == {"amount_paid": "150.00", "total": str(order.total_amount)}
    assert not case.blocking
    assert fresh(order).status == S.SALES_REVIEW


@pytest.mark.parametrize("paid", ["total", "zero"])
def test_paying_exactly_the_total_or_nothing_opens_no_price_case(commit, paid):
    with commit():
        order = make_order(paid=paid == "total")
    detect_on_payment(order)
    assert cases(order, PRICE_DIFFERENCE) == []


def test_an_overpayment_opens_a_price_case(commit):
    with commit():
        order = make_order(paid=False, amount_paid=Decimal("250.00"))
    assert [c.type.code for c in cases(order)] == [PRICE_DIFFERENCE]


def test_a_matching_payment_later_closes_the_price_case(commit, supervisor):
    with commit():
        order = make_order(paid=False)
    with commit():
        order_record_payment(order, amount=Decimal("100.00"), by=supervisor)
    with commit():
        order_record_payment(order, amount=Decimal("50.00"), by=supervisor)
    [case] = cases(order, PRICE_DIFFERENCE)
    assert case.status == CaseStatus.OPEN

    with commit():
        order_record_payment(order, amount=fresh(order).amount_due, by=supervisor)

    case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED
    assert case.closed_by is None
    assert "matches the total" in case.resolution_note


# --- Detectors never break the change that triggered them ---------------------------


def test_no_case_is_opened_on_a_cancelled_order(presale_product, supervisor):
    order = make_order(products=[presale_product], paid=False)
    from orders.services import order_cancel

    order_cancel(order, by=supervisor, reason="customer cancelled")

    detect_on_intake(fresh(order))

    assert cases(order) == []


def test_a_detector_whose_type_is_missing_logs_and_lets_the_change_commit(
    commit, supervisor, caplog
):
    from exceptions.models import ExceptionType

    ExceptionType.objects.filter(code=INVOICE_REISSUE).update(is_active=False)
    with commit():
        order = make_order(paid=True)
    with commit():
        order_update_details(order, changes=NEW_INVOICE, by=supervisor)

    assert cases(order) == []
    assert fresh(order).invoice_title == NEW_INVOICE["invoice_title"]
    assert "detector invoice_reissue failed" in caplog.text
