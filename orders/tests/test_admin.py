"""The order admin as operating UI: transition buttons, side forms, lists, bulk actions.

Every press goes through orders.services, so a press writes the timeline and the audit
log, and a refused press changes nothing and says why (never a 500). The order pages
are driven the way a browser would: the change form is read from the rendered page and
posted back with the button's name and value.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from html.parser import HTMLParser
from uuid import uuid4

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from backoffice.audit.models import AuditEvent
from orders.models import Order, StageVisit, StockReservation
from orders.services import (
    order_complete_stage,
    order_hold,
    order_transition,
    order_update_details,
    order_upload_qc_photo,
    pick_list_print,
)
from orders.states import OrderStatus, PaymentMethod, Via
from orders.tests.factories import (
    CouponFactory,
    PartnerFactory,
    ProductFactory,
    StockLevelFactory,
    UserFactory,
    make_order,
)

S = OrderStatus
pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


# --- Helpers ------------------------------------------------------------------


class _FormReader(HTMLParser):
    """Collects what a browser would submit from one <form id=...>, plus its buttons."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.buttons: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "button" and name:
            self.buttons.setdefault(name, []).append(a.get("value", ""))
        elif tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a and not self._select_chosen:
                self.fields.append((self._select, value))
                self._select_chosen = True

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            # Browsers drop the newline that directly follows <textarea>.
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            if not self._select_chosen and self._select_first is not None:
                self.fields.append((self._select, self._select_first))
            self._select = None


def read_form(html: str, form_id: str = "order_form") -> _FormReader:
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader


def as_post(fields: list[tuple[str, str]], **extra) -> dict:
    data: dict[str, object] = {}
    for name, value in fields:
        if name in data:
            previous = data[name]
            data[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[name] = value
    data.update(extra)
    return data


def change_url(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def transition_url(order, name: str) -> str:
    return reverse("admin:orders_order_transition", args=[order.pk, name])


def load_change_page(client, order):
    response = client.get(change_url(order))
    assert response.status_code == 200
    return read_form(response.content.decode())


def press(client, order, transition: str, *, page=None):
    """Press a transition button of the order page (`page`: a page loaded earlier)."""
    page = page or load_change_page(client, order)
    return client.post(change_url(order), as_post(page.fields, _fsm_transition_to=transition))


def offered_transitions(client, order) -> set[str]:
    return set(load_change_page(client, order).buttons.get("_fsm_transition_to", []))


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def snapshot(order):
    """What a refused action must leave untouched."""
    fresh = Order.objects.get(pk=order.pk)
    return (
        fresh.status,
        fresh.held_from,
        fresh.version,
        StageVisit.objects.filter(order=order).count(),
        list(StageVisit.objects.filter(order=order).values_list("left_at", "actor", "via")),
        AuditEvent.objects.filter(subject_id=str(order.pk)).count(),
    )


def to_stage(order, stage, *, by):
    """Drive an order along the main line up to `stage` through the services."""
    while order.status != stage:
        if order.status == S.STOCK_RESERVATION:
            order_transition(order, name="reserve_stock", by=by)
        elif order.status == S.PICKING:
            pick_list_print([order], by=by)
            order_complete_stage(order, by=by)
        else:
            order_complete_stage(order, by=by)
    return order


def ready_to_dispatch(*, product, by, paid=True):
    order = make_order(products=[product], paid=paid)
    to_stage(order, S.QUALITY_CHECK, by=by)
    photo = SimpleUploadedFile("qc.png", PNG, content_type="image/png")
    order_upload_qc_photo(order, photo=photo, by=by)
    return order


@pytest.fixture
def viewer(outsider):
    """The outsider, allowed to open orders (staff in no team: may look, may not act)."""
    outsider.user_permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="view_order")
    )
    return outsider


@pytest.fixture
def english():
    """Requests switch the active language; leave the next test in English."""
    yield
    translation.activate("en")


# --- Which buttons a person sees ------------------------------------------------


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("sales_clerk", {"approve_sales", "hold"}),
        ("finance_clerk", {"hold"}),
        ("supervisor", {"approve_sales", "hold", "cancel"}),
        ("viewer", set()),
    ],
)
def test_the_order_page_offers_only_the_steps_the_person_may_take(
    client, request, person, expected
):
    order = make_order()
    assert order.status == S.SALES_REVIEW
    client.force_login(request.getfixturevalue(person))
    assert offered_transitions(client, order) == expected


def test_sales_clerk_sees_confirm_by_its_label_and_not_finance_approval(client, sales_clerk):
    order = make_order()
    client.force_login(sales_clerk)
    html = client.get(change_url(order)).content.decode()
    assert 'name="_fsm_transition_to"' in html
    assert 'value="approve_sales"' in html and "Confirm sales review" in html
    assert 'value="approve_finance"' not in html and "Approve price check" not in html


def test_an_outsider_without_view_permission_cannot_open_the_order(client, outsider):
    order = make_order()
    client.force_login(outsider)
    assert client.get(change_url(order)).status_code == 403


# --- Pressing a button goes through the service ---------------------------------------


def test_pressing_confirm_moves_the_order_and_records_the_clicking_user(client, sales_clerk):
    order = make_order()
    audit_before = AuditEvent.objects.filter(subject_id=str(order.pk)).count()
    client.force_login(sales_clerk)

    response = press(client, order, "approve_sales")

    assert response.status_code == 302 and response.url == change_url(order)
    order.refresh_from_db()
    assert order.status == S.FINANCE_REVIEW
    closed = StageVisit.objects.get(order=order, stage=S.SALES_REVIEW)
    assert (closed.actor, closed.via) == (sales_clerk, Via.MANUAL)
    assert closed.left_at is not None
    assert StageVisit.objects.get(order=order, left_at=None).stage == S.FINANCE_REVIEW
    event = AuditEvent.objects.filter(subject_id=str(order.pk), verb="order.transition").first()
    assert event.actor == sales_clerk
    assert (event.payload["from"], event.payload["to"]) == (S.SALES_REVIEW, S.FINANCE_REVIEW)
    assert AuditEvent.objects.filter(subject_id=str(order.pk)).count() == audit_before + 1
    assert messages_of(response) == [
        f"Order {order.number} is now in “Finance review (price check)”."
    ]


def test_a_view_only_stage_team_can_press_its_buttons(client, warehouse_clerk, stocked_product):
    """The warehouse and QC teams may view orders but not edit their details."""
    order = make_order(products=[stocked_product])
    to_stage(order, S.PICKING, by=UserFactory(username="boss", is_superuser=True))
    pick_list_print([order], by=warehouse_clerk)
    client.force_login(warehouse_clerk)
    assert offered_transitions(client, order) == {"finish_picking", "hold"}

    response = press(client, order, "finish_picking")

    assert response.status_code == 302 and response.url == change_url(order)
    order.refresh_from_db()
    assert order.status == S.QUALITY_CHECK
    assert StageVisit.objects.get(order=order, stage=S.PICKING).actor == warehouse_clerk
    assert AuditEvent.objects.filter(
        subject_id=str(order.pk), verb="order.transition", actor=warehouse_clerk
    ).exists()


def test_a_view_only_team_cannot_edit_details_along_with_a_press(
    client, warehouse_clerk, stocked_product
):
    order = make_order(products=[stocked_product])
    to_stage(order, S.PICKING, by=UserFactory(username="boss", is_superuser=True))
    pick_list_print([order], by=warehouse_clerk)
    client.force_login(warehouse_clerk)
    page = load_change_page(client, order)
    data = as_post(page.fields, _fsm_transition_to="finish_picking", notes="Leave at the door")
    response = client.post(change_url(order), data)
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.notes) == (S.QUALITY_CHECK, "")


def test_qc_pressing_dispatch_opens_the_dispatch_form(
    client, supervisor, qc_clerk, stocked_product
):
    order = ready_to_dispatch(product=stocked_product, by=supervisor)
    client.force_login(qc_clerk)
    assert "dispatch" in offered_transitions(client, order)
    response = press(client, order, "dispatch")
    assert response.status_code == 302 and response.url == transition_url(order, "dispatch")
    assert Order.objects.get(pk=order.pk).status == S.QUALITY_CHECK


def test_the_warehouse_reserves_stock_with_the_button(client, warehouse_clerk, stocked_product):
    order = make_order(products=[stocked_product])
    to_stage(order, S.STOCK_RESERVATION, by=UserFactory(username="boss", is_superuser=True))
    client.force_login(warehouse_clerk)
    assert "reserve_stock" in offered_transitions(client, order)

    press(client, order, "reserve_stock")

    order.refresh_from_db()
    assert order.status == S.PICKING
    assert StockReservation.objects.filter(line__order=order).count() == 1


def test_pressing_a_form_step_opens_its_form(client, supervisor):
    order = make_order()
    client.force_login(supervisor)
    response = press(client, order, "hold")
    assert response.status_code == 302 and response.url == transition_url(order, "hold")
    assert Order.objects.get(pk=order.pk).status == S.SALES_REVIEW


# --- A refused press changes nothing and says why ---------------------------------


def test_a_press_without_the_stage_permission_is_refused_and_changes_nothing(client, finance_clerk):
    """The finance clerk never saw the button, but posts the sales step anyway."""
    order = make_order()
    before = snapshot(order)
    client.force_login(finance_clerk)

    response = press(client, order, "approve_sales")

    assert response.status_code == 302
    assert snapshot(order) == before
    assert messages_of(response) == ["You do not have permission for this step."]


def test_a_press_whose_guard_fails_is_refused_with_the_reason(client, supervisor):
    order = make_order(coupon=CouponFactory())
    before = snapshot(order)
    client.force_login(supervisor)

    response = press(client, order, "approve_sales")

    assert response.status_code == 302
    assert snapshot(order) == before
    [message] = messages_of(response)
    assert "The coupon has not been verified." in message


def test_a_press_for_a_step_of_another_stage_is_refused(client, supervisor):
    order = make_order()
    before = snapshot(order)
    client.force_login(supervisor)
    response = press(client, order, "approve_finance")
    assert response.status_code == 302
    assert snapshot(order) == before
    [message] = messages_of(response)
    assert "is not possible while the order is in “Sales review”" in message


@pytest.mark.parametrize("name", ["no_such_step", "save", "refresh_from_db"])
def test_a_forged_step_name_is_refused_without_a_server_error(client, supervisor, name):
    order = make_order()
    before = snapshot(order)
    client.force_login(supervisor)
    response = press(client, order, name)
    assert response.status_code == 302
    assert snapshot(order) == before
    assert messages_of(response) == [f"Unknown step “{name}”."]
    assert client.get(transition_url(order, name)).status_code == 404


def test_a_press_by_someone_who_may_only_look_is_refused(client, viewer):
    order = make_order()
    client.force_login(viewer)
    page = load_change_page(client, order)
    before = snapshot(order)
    response = press(client, order, "approve_sales", page=page)
    assert response.status_code == 302
    assert snapshot(order) == before
    assert messages_of(response) == ["You do not have permission for this step."]


def test_a_press_by_someone_who_may_not_even_look_is_forbidden(client, supervisor, outsider):
    order = make_order()
    client.force_login(supervisor)
    page = load_change_page(client, order)
    before = snapshot(order)
    client.force_login(outsider)
    assert press(client, order, "approve_sales", page=page).status_code == 403
    assert snapshot(order) == before


def test_dispatch_is_refused_while_unpaid_and_nothing_changes(
    client, supervisor, qc_clerk, stocked_product
):
    order = ready_to_dispatch(product=stocked_product, by=supervisor, paid=False)
    assert order.payment_method == PaymentMethod.PREPAID and not order.is_paid
    before = snapshot(order)
    client.force_login(qc_clerk)

    response = client.post(
        transition_url(order, "dispatch"), {"carrier": "SF Express", "tracking_number": "SF1"}
    )

    assert response.status_code == 200  # the form again, with the reason
    assert snapshot(order) == before
    [message] = messages_of(response)
    assert "Payment missing" in message
    assert Order.objects.get(pk=order.pk).tracking_number == ""


# --- A stale page is refused -----------------------------------------------------------


def test_a_press_from_a_page_older_than_an_edit_is_refused(client, sales_clerk, supervisor):
    """The page carries the version it showed; someone edited the order since."""
    order = make_order()
    client.force_login(sales_clerk)
    page = load_change_page(client, order)
    assert ("version", str(order.version)) in page.fields
    order_update_details(order, changes={"notes": "Call before delivery"}, by=supervisor)
    before = snapshot(order)

    response = press(client, order, "approve_sales", page=page)

    assert response.status_code == 200  # the form again, with the error
    assert snapshot(order) == before
    assert "Someone else changed this order while you were editing" in response.content.decode()


def test_a_press_from_a_page_older_than_a_move_is_refused(client, supervisor, sales_clerk):
    """Someone else already confirmed the order: the second press must not move it on."""
    order = make_order()
    client.force_login(supervisor)
    page = load_change_page(client, order)
    order_complete_stage(order, by=sales_clerk)
    before = snapshot(order)

    response = press(client, order, "approve_sales", page=page)

    assert response.status_code == 302
    assert snapshot(order) == before
    assert Order.objects.get(pk=order.pk).status == S.FINANCE_REVIEW
    [message] = messages_of(response)
    assert "is not possible while the order is in “Finance review (price check)”" in message


# --- Steps with a form: hold, release, cancel, dispatch ----------------------------------


def test_hold_form_asks_for_a_reason_then_holds_through_the_service(client, sales_clerk):
    order = make_order()
    client.force_login(sales_clerk)
    url = transition_url(order, "hold")

    page = client.get(url)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    before = snapshot(order)
    invalid = client.post(url, {"reason": ""})
    assert invalid.status_code == 200 and "This field is required." in invalid.content.decode()
    assert snapshot(order) == before

    response = client.post(url, {"reason": "Customer asked to wait"})

    assert response.status_code == 302 and response.url == change_url(order)
    order.refresh_from_db()
    assert (order.status, order.held_from) == (S.ON_HOLD, S.SALES_REVIEW)
    closed = StageVisit.objects.get(order=order, stage=S.SALES_REVIEW)
    assert (closed.actor, closed.reason) == (sales_clerk, "Customer asked to wait")
    event = AuditEvent.objects.filter(subject_id=str(order.pk), verb="order.transition").first()
    assert (event.actor, event.reason, event.payload["to"]) == (
        sales_clerk,
        "Customer asked to wait",
        S.ON_HOLD,
    )


def test_release_form_returns_the_order_to_the_stage_it_left(client, supervisor, sales_clerk):
    order = make_order()
    order_hold(order, by=sales_clerk, reason="Address unclear")
    client.force_login(supervisor)
    url = transition_url(order, "release")
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": ""}).status_code == 200
    assert Order.objects.get(pk=order.pk).status == S.ON_HOLD

    response = client.post(url, {"reason": "Customer confirmed the address"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.held_from) == (S.SALES_REVIEW, "")
    assert StageVisit.objects.get(order=order, stage=S.ON_HOLD).actor == supervisor


def test_release_is_refused_to_a_team_without_the_permission(client, sales_clerk):
    order = make_order()
    order_hold(order, by=sales_clerk, reason="Address unclear")
    before = snapshot(order)
    client.force_login(sales_clerk)
    response = client.post(transition_url(order, "release"), {"reason": "Let it go"})
    assert response.status_code == 302 and response.url == change_url(order)
    assert snapshot(order) == before
    assert messages_of(response) == ["“release” is not allowed."]


def test_cancel_form_cancels_with_the_reason(client, supervisor):
    order = make_order()
    client.force_login(supervisor)
    url = transition_url(order, "cancel")
    assert client.get(url).status_code == 200
    before = snapshot(order)
    assert client.post(url, {"reason": "   "}).status_code == 200
    assert snapshot(order) == before

    response = client.post(url, {"reason": "Duplicate order"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (S.CANCELLED, "Duplicate order")
    assert order.cancelled_at is not None
    assert AuditEvent.objects.filter(
        subject_id=str(order.pk),
        verb="order.transition",
        actor=supervisor,
        reason="Duplicate order",
    ).exists()


def test_dispatch_form_needs_carrier_and_tracking_then_dispatches(
    client, supervisor, qc_clerk, stocked_product
):
    order = ready_to_dispatch(product=stocked_product, by=supervisor)
    client.force_login(qc_clerk)
    url = transition_url(order, "dispatch")
    page = client.get(url).content.decode()
    assert 'name="carrier"' in page and 'name="tracking_number"' in page
    before = snapshot(order)
    invalid = client.post(url, {"carrier": "SF Express", "tracking_number": ""})
    assert invalid.status_code == 200 and "This field is required." in invalid.content.decode()
    assert snapshot(order) == before

    response = client.post(url, {"carrier": "SF Express", "tracking_number": "SF1234567"})

    assert response.status_code == 302 and response.url == change_url(order)
    order.refresh_from_db()
    assert order.status == S.DISPATCHED
    assert (order.carrier, order.tracking_number) == ("SF Express", "SF1234567")
    assert StageVisit.objects.get(order=order, stage=S.QUALITY_CHECK).actor == qc_clerk
    assert AuditEvent.objects.filter(
        subject_id=str(order.pk), verb="order.transition", actor=qc_clerk
    ).exists()


# --- The order list: bounded queries ------------------------------------------------------


def _changelist_queries(client, query: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:orders_order_changelist") + query)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _orders(count: int, *, stage, by, product, hours_ago: float = 0) -> list[Order]:
    """`count` orders in `stage`, placed `hours_ago`, from two channels and many customers."""
    partners = [PartnerFactory(code="tmall"), PartnerFactory(code="jd")]
    with time_machine.travel(timezone.now() - timedelta(hours=hours_ago), tick=True):
        return [
            to_stage(
                make_order(products=[product], partner=partners[i % 2], external_ref=uuid4().hex),
                stage,
                by=by,
            )
            for i in range(count)
        ]


@pytest.mark.parametrize(
    ("query", "stage", "hours_ago"),
    [
        ("", S.SALES_REVIEW, 0),
        ("?status=picking", S.PICKING, 0),
        ("?age=gt2", S.SALES_REVIEW, 2.5),
        ("?status=open&age=gt3", S.FINANCE_REVIEW, 4),
    ],
)
def test_the_order_list_costs_the_same_queries_for_5_or_30_orders(
    client, supervisor, warehouses, query, stage, hours_ago, django_assert_max_num_queries
):
    product = ProductFactory(sku="SKU-BULK")
    StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=1000)
    make = partial(_orders, stage=stage, by=supervisor, product=product, hours_ago=hours_ago)
    client.force_login(supervisor)

    first_five = make(5)
    five = _changelist_queries(client, query)
    make(25)
    thirty = _changelist_queries(client, query)

    assert five == thirty, f"{query or 'unfiltered'}: {five} queries for 5 orders, {thirty} for 30"
    with django_assert_max_num_queries(14):
        html = client.get(reverse("admin:orders_order_changelist") + query).content.decode()
    assert all(order.number in html for order in first_five)
    assert html.count('class="action-select"') == 30


def test_the_filters_select_the_right_orders(client, supervisor, stocked_product):
    fresh = make_order(products=[stocked_product])
    with time_machine.travel(timezone.now() - timedelta(hours=3), tick=True):
        old = make_order(products=[stocked_product])
    picking = to_stage(make_order(products=[stocked_product]), S.PICKING, by=supervisor)
    client.force_login(supervisor)
    url = reverse("admin:orders_order_changelist")

    def shown(query):
        html = client.get(url + query).content.decode()
        return {o.number for o in (fresh, old, picking) if o.number in html}

    assert shown("?status=picking") == {picking.number}
    assert shown("?age=gt2") == {old.number}
    assert shown("?age=lt1") == {fresh.number, picking.number}


# --- Bulk actions: each order on its own ---------------------------------------------------


def test_bulk_complete_reports_each_failure_and_moves_the_others(
    client, supervisor, stocked_product
):
    good = [make_order(), make_order()]
    coupon_unchecked = make_order(coupon=CouponFactory())
    at_qc = ready_to_dispatch(product=stocked_product, by=supervisor)
    bad = [coupon_unchecked, at_qc]
    before = {o.pk: snapshot(o) for o in bad}
    client.force_login(supervisor)

    response = client.post(
        reverse("admin:orders_order_changelist"),
        {
            "action": "complete_stage_action",
            "_selected_action": [o.pk for o in [*good, *bad]],
            "index": "0",
        },
    )

    assert response.status_code == 302
    assert [Order.objects.get(pk=o.pk).status for o in good] == [S.FINANCE_REVIEW] * 2
    assert all(
        StageVisit.objects.get(order=o, stage=S.SALES_REVIEW).actor == supervisor for o in good
    )
    assert {o.pk: snapshot(o) for o in bad} == before
    messages = messages_of(response)
    assert "2 orders done." in messages
    [coupon_message] = [m for m in messages if m.startswith(f"{coupon_unchecked.number}: ")]
    assert "The coupon has not been verified." in coupon_message
    [qc_message] = [m for m in messages if m.startswith(f"{at_qc.number}: ")]
    assert "Use “Dispatch” to complete the quality check." in qc_message
    assert len(messages) == 3


def test_bulk_cancel_asks_for_a_reason_and_reports_orders_it_could_not_cancel(
    client, supervisor, stocked_product
):
    open_orders = [make_order(), make_order()]
    dispatched = ready_to_dispatch(product=stocked_product, by=supervisor)
    order_transition(
        dispatched, name="dispatch", by=supervisor, carrier="SF Express", tracking_number="SF9"
    )
    before = snapshot(dispatched)
    client.force_login(supervisor)
    ids = [o.pk for o in [*open_orders, dispatched]]

    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "cancel_action", "_selected_action": ids, "index": "0"},
    )
    assert response.status_code == 302 and "/bulk/cancel/?ids=" in response.url
    form_page = client.get(response.url)
    assert form_page.status_code == 200 and 'name="reason"' in form_page.content.decode()
    ids_value = ",".join(str(pk) for pk in sorted(ids, reverse=True))
    refused = client.post(response.url, {"ids": ids_value, "reason": ""})
    assert refused.status_code == 200
    assert all(Order.objects.get(pk=o.pk).status == S.SALES_REVIEW for o in open_orders)

    done = client.post(response.url, {"ids": ids_value, "reason": "Fraud suspected"})

    assert done.status_code == 302
    assert all(Order.objects.get(pk=o.pk).status == S.CANCELLED for o in open_orders)
    assert snapshot(dispatched) == before
    messages = messages_of(done)
    assert "2 orders done." in messages
    assert any(m.startswith(f"{dispatched.number}: ") for m in messages)


# --- The language switch -------------------------------------------------------------------


def test_switching_to_chinese_shows_stage_names_and_buttons_in_chinese(client, supervisor, english):
    order = make_order()
    order_complete_stage(order, by=supervisor)
    client.force_login(supervisor)
    html = client.get(change_url(order)).content.decode()
    assert "Finance review (price check)" in html and "财务核价" not in html

    response = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": change_url(order)}
    )
    assert response.status_code == 302

    html = client.get(change_url(order)).content.decode()
    assert "财务核价" in html  # "Finance review (price check)"
    assert "Finance review (price check)" not in html
    assert 'lang="zh-hans"' in html
