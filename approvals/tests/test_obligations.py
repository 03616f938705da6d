"""Urgent dispatch: dispatching now with the QC photo owed afterwards, the obligation it
leaves, its fulfilment by the upload, and the overdue alarm and queue."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from approvals import events
from approvals.admin.panels import _bypass_rows
from approvals.models import BypassSwitch, BypassUse, Obligation
from approvals.services.switches import (
    bypass_switch_on,
    bypasses_expire,
    obligations_fulfil,
    obligations_open,
)
from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import events as order_events
from orders.services import (
    TransitionRefused,
    order_complete_stage,
    order_dispatch,
    order_transition,
    order_upload_qc_photo,
    pick_list_print,
)
from orders.states import OrderStatus, Via
from orders.tests.factories import CustomerFactory, make_order

S = OrderStatus
pytestmark = pytest.mark.django_db

URGENT = "urgent_dispatch"
PHOTO = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def photo():
    return SimpleUploadedFile("qc.png", PHOTO, content_type="image/png")


def at_quality_check(product, *, by, **order_fields):
    order = make_order(products=[product], **order_fields)
    while order.status != S.QUALITY_CHECK:
        if order.status == S.STOCK_RESERVATION:
            order_transition(order, name="reserve_stock", by=by)
        elif order.status == S.PICKING:
            pick_list_print([order], by=by)
            order_complete_stage(order, by=by)
        else:
            order_complete_stage(order, by=by)
    return order


def urgent_dispatch(order, by):
    return order_dispatch(order, by=by, carrier="SF", tracking_number="SF1", urgent=True)


@pytest.fixture
def urgent_on(supervisor):
    BypassSwitch.objects.update_or_create(kind=URGENT, defaults={"obligation_hours": 2})
    return bypass_switch_on(URGENT, by=supervisor, reason="QC camera broken")


def test_urgent_dispatch_of_a_returning_customer_leaves_the_photo_owed(
    urgent_on, supervisor, qc_clerk, stocked_product
):
    order = at_quality_check(stocked_product, by=supervisor, quantity=3)
    before = timezone.now()
    urgent_dispatch(order, qc_clerk)
    order.refresh_from_db()
    assert order.status == S.DISPATCHED and not order.qc_photo
    assert order.qc_photo_waived_at is not None
    use = BypassUse.objects.get(order=order)
    obligation = Obligation.objects.get(order=order)
    assert obligation.use == use and obligation.kind == Obligation.Kind.QC_PHOTO
    assert obligation.fulfilled_at is None
    expected_due = order.qc_photo_waived_at + timedelta(hours=2)
    assert obligation.due_at == expected_due and obligation.due_at > before
    urgent_on.refresh_from_db()
    assert urgent_on.uses == 1
    waived = AuditEvent.objects.get(verb=order_events.ORDER_CHECK_WAIVED, subject_id=order.pk)
    assert waived.actor == qc_clerk and waived.payload["via"] == Via.BYPASS
    used = AuditEvent.objects.get(verb=events.BYPASS_USED, subject_id=order.pk)
    assert used.payload["via"] == Via.BYPASS and used.payload["window_id"] == urgent_on.pk


@pytest.mark.parametrize(
    ("customer_orders", "quantity"), [(0, 1), (3, 4)], ids=["new customer", "four items"]
)
def test_urgent_dispatch_is_refused_for_new_customers_and_larger_orders(
    urgent_on, supervisor, stocked_product, customer_orders, quantity
):
    order = at_quality_check(
        stocked_product,
        by=supervisor,
        quantity=quantity,
        customer=CustomerFactory(orders_completed=customer_orders),
    )
    with pytest.raises(TransitionRefused) as exc:
        urgent_dispatch(order, supervisor)
    assert "QC photo" in str(exc.value)
    order.refresh_from_db()
    assert order.status == S.QUALITY_CHECK and order.qc_photo_waived_at is None
    assert not Obligation.objects.exists() and not BypassUse.objects.exists()


def test_a_normal_dispatch_still_needs_the_photo_while_the_switch_is_on(
    urgent_on, supervisor, stocked_product
):
    order = at_quality_check(stocked_product, by=supervisor)
    with pytest.raises(TransitionRefused):
        order_dispatch(order, by=supervisor, carrier="SF", tracking_number="SF1")
    assert order.status == S.QUALITY_CHECK and not Obligation.objects.exists()


def test_urgent_dispatch_is_refused_while_the_switch_is_off(supervisor, stocked_product):
    order = at_quality_check(stocked_product, by=supervisor)
    with pytest.raises(TransitionRefused):
        urgent_dispatch(order, supervisor)


def test_an_expired_urgent_dispatch_switch_is_refused(supervisor, stocked_product):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        bypass_switch_on(URGENT, by=supervisor, reason="camera", hours=1)
        order = at_quality_check(stocked_product, by=supervisor)
    with (
        time_machine.travel(start + timedelta(minutes=61), tick=False),
        pytest.raises(TransitionRefused),
    ):
        urgent_dispatch(order, supervisor)


def test_uploading_the_photo_afterwards_fulfils_the_obligation(
    urgent_on, supervisor, qc_clerk, stocked_product, django_capture_on_commit_callbacks
):
    order = at_quality_check(stocked_product, by=supervisor)
    urgent_dispatch(order, qc_clerk)
    assert obligations_open().count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        order_upload_qc_photo(order, photo=photo(), by=qc_clerk)
    obligation = Obligation.objects.get(order=order)
    assert obligation.fulfilled_at is not None and obligation.fulfilled_by == qc_clerk
    assert not obligations_open().exists()
    event = AuditEvent.objects.get(verb=events.OBLIGATION_FULFILLED, subject_id=order.pk)
    assert event.actor == qc_clerk and event.payload["late"] is False
    assert obligations_fulfil(order, kind="qc_photo", by=qc_clerk) == 0  # once


def test_a_photo_past_due_shows_overdue_in_the_selector_the_queue_and_the_order_page(
    urgent_on, supervisor, qc_clerk, stocked_product, client
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        order = at_quality_check(stocked_product, by=supervisor)
        urgent_dispatch(order, qc_clerk)
        (owed,) = obligations_open()
        assert owed.overdue is False
    with time_machine.travel(start + timedelta(hours=2, minutes=5), tick=False):
        (owed,) = obligations_open()
        assert owed.overdue is True
        client.force_login(qc_clerk)
        page = client.get(reverse("admin:approvals_obligation_changelist"))
        assert page.status_code == 200
        html = page.content.decode()
        assert "Photos owed after urgent dispatch" in html
        assert 'class="overdue" style="color:#dc2626"' in html
        assert "overdue by 5 min" in html
        assert reverse("admin:orders_order_qc_photo", args=[order.pk]) in html
        request = RequestFactory().get("/")
        request.user = qc_clerk
        rows, links = _bypass_rows(request, order)
        (owed_row,) = [row for row in rows if "QC photo owed" in row[0]]
        assert owed_row[2] == "overdue" and "overdue" in owed_row[0]
        assert links and links[0].url.endswith("/qc-photo/")


def test_the_qc_team_and_supervisors_are_told_once_when_a_photo_falls_overdue(
    urgent_on, supervisor, qc_clerk, stocked_product
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        order = at_quality_check(stocked_product, by=supervisor)
        urgent_dispatch(order, qc_clerk)
    due = Obligation.objects.get(order=order).due_at
    alarms = Notification.objects.filter(text__contains="overdue after urgent dispatch")
    with time_machine.travel(due - timedelta(seconds=30), tick=False):
        bypasses_expire()
    assert not alarms.exists()
    with time_machine.travel(due + timedelta(seconds=30), tick=False):
        bypasses_expire()
        bypasses_expire()  # the same minute again (a re-delivered task): no second alarm
    with time_machine.travel(due + timedelta(minutes=5), tick=False):
        bypasses_expire()
    assert {n.recipient for n in alarms} == {supervisor, qc_clerk}
    assert alarms.count() == 2
    assert order.number in alarms.first().text


def test_the_order_page_shows_the_bypass_and_the_owed_photo(
    urgent_on, supervisor, qc_clerk, stocked_product, client
):
    order = at_quality_check(stocked_product, by=supervisor)
    urgent_dispatch(order, qc_clerk)
    due = timezone.localtime(Obligation.objects.get(order=order).due_at)
    client.force_login(qc_clerk)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Approvals and bypasses" in html
    assert "Urgent dispatch (emergency bypass)" in html
    assert f"Urgent dispatch: QC photo owed, due {due:%H:%M}" in html
    assert "Upload the owed QC photo" in html
