"""Price changes: asking, approving (price, totals, version, audit), rejecting,
withdrawing, what a pending change blocks, and the admin pages that call the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from approvals.models import PriceChangeRequest, RoutingRule
from approvals.services.prices import (
    price_change_approve,
    price_change_blockers,
    price_change_reject,
    price_change_request,
    price_change_withdraw,
)
from approvals.services.rules import rule_save
from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import teams
from orders.models import Order, OrderLine
from orders.services import (
    ActionForbidden,
    InvalidOrderInput,
    TransitionRefused,
    order_complete_stage,
    order_route_forward,
)
from orders.states import OrderStatus, PaymentStatus
from orders.tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db
S = OrderStatus
Status = PriceChangeRequest.Status


@pytest.fixture
def second_supervisor(db):
    return UserFactory(username="second_supervisor", groups=[teams.SUPERVISORS])


def order_of(*prices: str, quantity: int = 2) -> Order:
    """A paid order in sales review, one line per list price."""
    products = [ProductFactory(list_price=Decimal(p)) for p in prices]
    order = make_order(products=products, quantity=quantity)
    assert order.status == S.SALES_REVIEW
    return order


def ask(order, by, price="180.00", line=None, reason="Loyal customer, matched a competitor"):
    return price_change_request(
        order,
        line=line or order.lines.first(),
        new_unit_price=Decimal(price),
        reason=reason,
        by=by,
    )


def test_a_request_computes_the_deviation_and_is_audited_and_sent_to_approvers(
    sales_clerk, supervisor
):
    order = order_of("200.00")

    change = ask(order, sales_clerk, "183.33")

    assert change.status == Status.PENDING
    assert change.deviation_pct == Decimal("-8.34")  # (183.33 - 200) / 200 * 100
    assert (change.list_price, change.old_unit_price) == (Decimal("200.00"), Decimal("200.00"))
    event = AuditEvent.objects.get(verb="price_change.requested")
    assert (event.actor, event.subject_id) == (sales_clerk, str(order.pk))
    assert event.payload["sku"] == order.lines.first().sku
    assert event.payload["old_unit_price"] == "200.00"
    assert event.payload["new_unit_price"] == "183.33"
    assert event.payload["deviation_pct"] == "-8.34"
    [note] = Notification.objects.filter(recipient=supervisor)
    assert order.number in note.text and "183.33" in note.text
    assert not Notification.objects.filter(recipient=sales_clerk).exists()


def test_approval_applies_the_price_to_the_line_totals_and_version(sales_clerk, supervisor):
    order = order_of("200.00", "50.00")  # 2 x 200 + 2 x 50 = 500, paid in full
    version = order.version
    change = ask(order, sales_clerk, "180.00")

    price_change_approve(change, by=supervisor, note="ok")

    order.refresh_from_db()
    line = order.lines.get(pk=change.line_id)
    assert line.unit_price == Decimal("180.00")
    assert order.goods_amount == Decimal("460.00")
    assert order.total_amount == Decimal("460.00")
    assert order.payment_status == PaymentStatus.PAID  # 500 paid covers 460
    assert order.version == version + 1
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.decision_note) == (
        Status.APPROVED,
        supervisor,
        "ok",
    )
    event = AuditEvent.objects.get(verb="price_change.approved")
    assert (event.actor, event.subject_id) == (supervisor, str(order.pk))
    assert event.payload["total_before"] == "500.00" and event.payload["total_after"] == "460.00"
    assert Notification.objects.filter(recipient=sales_clerk).count() == 1


def test_a_higher_price_leaves_a_paid_order_partly_paid(sales_clerk, supervisor):
    order = order_of("100.00", quantity=1)
    price_change_approve(ask(order, sales_clerk, "110.00"), by=supervisor)
    order.refresh_from_db()
    assert (order.total_amount, order.payment_status) == (Decimal("110.00"), PaymentStatus.PARTIAL)


def test_the_total_never_drops_below_zero_with_a_discount(sales_clerk, supervisor):
    order = order_of("100.00", quantity=1)
    Order.objects.filter(pk=order.pk).update(discount_amount=Decimal("30.00"))
    price_change_approve(ask(order, sales_clerk, "10.00"), by=supervisor)
    order.refresh_from_db()
    assert (order.goods_amount, order.total_amount) == (Decimal("10.00"), Decimal("0.00"))


def test_rejecting_needs_a_note_and_changes_no_price(sales_clerk, supervisor):
    order = order_of("200.00")
    change = ask(order, sales_clerk)

    with pytest.raises(InvalidOrderInput) as refused:
        price_change_reject(change, by=supervisor, note="  ")
    assert refused.value.code == "note_required"
    price_change_reject(change, by=supervisor, note="Below our floor price")

    change.refresh_from_db()
    assert change.status == Status.REJECTED
    assert OrderLine.objects.get(pk=change.line_id).unit_price == Decimal("200.00")
    assert AuditEvent.objects.get(verb="price_change.rejected").reason == "Below our floor price"


def test_nobody_approves_their_own_request(supervisor, second_supervisor):
    order = order_of("200.00")
    change = ask(order, supervisor)

    with pytest.raises(ActionForbidden) as refused:
        price_change_approve(change, by=supervisor)

    assert refused.value.code == "own_price_change"
    price_change_approve(change, by=second_supervisor)
    assert OrderLine.objects.get(pk=change.line_id).unit_price == Decimal("180.00")


def test_a_sales_clerk_may_ask_but_not_approve_and_an_outsider_may_not_ask(
    sales_clerk, finance_clerk, outsider
):
    order = order_of("200.00")
    change = ask(order, sales_clerk)
    with pytest.raises(ActionForbidden):
        price_change_approve(change, by=finance_clerk)
    with pytest.raises(ActionForbidden):
        ask(order, outsider, line=order.lines.first())


def test_a_decided_request_cannot_be_decided_again(sales_clerk, supervisor):
    change = ask(order_of("200.00"), sales_clerk)
    price_change_approve(change, by=supervisor)
    with pytest.raises(TransitionRefused) as refused:
        price_change_reject(change, by=supervisor, note="too late")
    assert refused.value.code == "not_pending"


def test_one_pending_request_per_line(sales_clerk, supervisor):
    order = order_of("200.00", "50.00")
    first = ask(order, sales_clerk)
    ask(order, sales_clerk, "45.00", line=order.lines.last())  # another line: fine

    with pytest.raises(InvalidOrderInput) as refused:
        ask(order, sales_clerk, "170.00")

    assert refused.value.code == "price_change_pending"
    assert "waiting for approval" in str(refused.value)
    price_change_withdraw(first, by=sales_clerk)
    assert ask(order, sales_clerk, "170.00").status == Status.PENDING


@pytest.mark.parametrize(
    ("price", "reason", "code"),
    [
        ("-1.00", "x", "invalid_price"),
        ("200.00", "x", "price_unchanged"),
        ("2000.01", "x", "invalid_price"),  # more than ten times the list price
        ("180.001", "x", "invalid_price"),
        ("180.00", " ", "reason_required"),
    ],
)
def test_bad_requests_are_refused_clearly(sales_clerk, price, reason, code):
    order = order_of("200.00")
    with pytest.raises(InvalidOrderInput) as refused:
        ask(order, sales_clerk, price, reason=reason)
    assert refused.value.code == code
    assert not PriceChangeRequest.objects.exists()


def test_a_line_without_list_price_cannot_change_here(sales_clerk):
    order = order_of("0.00")
    with pytest.raises(InvalidOrderInput) as refused:
        ask(order, sales_clerk, "5.00")
    assert refused.value.code == "no_list_price"


def test_prices_change_only_before_stock_reservation(sales_clerk, supervisor):
    order = order_of("200.00")
    order_complete_stage(order, by=supervisor)
    assert order.status == S.FINANCE_REVIEW
    ask(order, sales_clerk)  # finance review: still fine
    PriceChangeRequest.objects.all().delete()
    order_complete_stage(order, by=supervisor)
    assert order.status == S.STOCK_RESERVATION

    with pytest.raises(TransitionRefused) as refused:
        ask(order, sales_clerk)

    assert refused.value.code == "price_change_too_late"


def test_a_pending_change_blocks_completing_sales_review(sales_clerk, supervisor):
    order = order_of("200.00")
    change = ask(order, sales_clerk)
    sku = order.lines.first().sku

    with pytest.raises(TransitionRefused) as refused:
        order_complete_stage(order, by=sales_clerk)

    assert any(sku in reason for reason in refused.value.reasons)
    assert Order.objects.get(pk=order.pk).status == S.SALES_REVIEW
    price_change_approve(change, by=supervisor)
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW


def test_a_pending_change_keeps_a_rule_from_passing_sales_review(sales_clerk, supervisor):
    order = order_of("200.00")
    change = ask(order, sales_clerk)
    rule_save(
        RoutingRule(
            name="Pass everything", target="sales_review", condition={"all": []}, enabled=True
        ),
        by=supervisor,
        reason="test",
    )

    order_route_forward(order)
    assert order.status == S.SALES_REVIEW

    # Withdrawing the last pending change lets the rule move the order on at once.
    price_change_withdraw(change, by=sales_clerk)
    assert Order.objects.get(pk=order.pk).status == S.FINANCE_REVIEW
    assert order.visits.get(stage=S.SALES_REVIEW).via == "rule"


def test_the_blockers_cost_one_query_and_none_for_an_unsaved_order(
    sales_clerk, django_assert_num_queries
):
    order = order_of("200.00", "50.00")
    ask(order, sales_clerk)
    ask(order, sales_clerk, "40.00", line=order.lines.last())

    with django_assert_num_queries(1):
        reasons = price_change_blockers(order, S.SALES_REVIEW)
    with django_assert_num_queries(0):
        assert price_change_blockers(order, S.FINANCE_REVIEW) == []
        assert price_change_blockers(Order(), S.SALES_REVIEW) == []

    assert len(reasons) == 2
    assert all("waiting for approval" in reason for reason in reasons)


def test_only_the_requester_or_an_approver_withdraws(sales_clerk, finance_clerk, supervisor):
    change = ask(order_of("200.00"), sales_clerk)
    with pytest.raises(ActionForbidden):
        price_change_withdraw(change, by=finance_clerk)
    price_change_withdraw(change, by=supervisor)
    change.refresh_from_db()
    assert change.status == Status.WITHDRAWN
    assert AuditEvent.objects.filter(verb="price_change.withdrawn", actor=supervisor).exists()


# --- Admin -------------------------------------------------------------------------------


def add_url(order) -> str:
    return reverse("admin:approvals_pricechangerequest_add") + f"?order={order.pk}"


def test_the_order_page_shows_pending_changes_and_the_request_link(client, sales_clerk):
    order = order_of("200.00")
    ask(order, sales_clerk)
    client.force_login(sales_clerk)

    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert 'class="blocking"' in html
    assert "Waiting for approval" in html
    assert add_url(order).replace("&", "&amp;") in html or add_url(order) in html


def test_a_sales_clerk_asks_for_a_price_change_in_the_admin(client, sales_clerk):
    order = order_of("200.00")
    client.force_login(sales_clerk)
    line = order.lines.first()

    form = client.get(add_url(order))
    assert form.status_code == 200 and line.sku in form.content.decode()
    response = client.post(
        add_url(order),
        {"order": order.pk, "line": line.pk, "new_unit_price": "190.00", "reason": "Scratched box"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    change = PriceChangeRequest.objects.get()
    assert (change.status, change.requested_by) == (Status.PENDING, sales_clerk)


def test_refusals_show_in_the_admin_form(client, sales_clerk):
    order = order_of("200.00")
    client.force_login(sales_clerk)
    line = order.lines.first()

    response = client.post(
        add_url(order),
        {"order": order.pk, "line": line.pk, "new_unit_price": "200.00", "reason": "same"},
    )

    assert response.status_code == 200
    assert "already has this price" in response.content.decode()
    assert not PriceChangeRequest.objects.exists()


def test_the_add_page_without_order_asks_for_the_number(client, sales_clerk):
    order = order_of("200.00")
    client.force_login(sales_clerk)
    url = reverse("admin:approvals_pricechangerequest_add")
    assert client.get(url).status_code == 200
    assert client.get(url, {"number": "nope"}).status_code == 200
    found = client.get(url, {"number": order.number})
    assert found.status_code == 302 and found["Location"].endswith(f"?order={order.pk}")


def test_a_supervisor_approves_with_the_button(client, sales_clerk, supervisor):
    order = order_of("200.00")
    change = ask(order, sales_clerk)
    client.force_login(supervisor)
    page = client.get(reverse("admin:approvals_pricechangerequest_change", args=[change.pk]))
    assert 'value="approve"' in page.content.decode()

    response = client.post(
        reverse("admin:approvals_pricechangerequest_decide", args=[change.pk]),
        {"decision": "approve", "note": "fine"},
    )

    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == Status.APPROVED
    assert OrderLine.objects.get(pk=change.line_id).unit_price == Decimal("180.00")


def test_the_requester_sees_no_approve_button_and_a_reject_without_note_is_refused(
    client, sales_clerk, supervisor
):
    change = ask(order_of("200.00"), sales_clerk)
    client.force_login(sales_clerk)
    page = client.get(reverse("admin:approvals_pricechangerequest_change", args=[change.pk]))
    html = page.content.decode()
    assert 'value="approve"' not in html and 'value="withdraw"' in html

    client.force_login(supervisor)
    client.post(
        reverse("admin:approvals_pricechangerequest_decide", args=[change.pk]),
        {"decision": "reject", "note": ""},
        follow=True,
    )
    change.refresh_from_db()
    assert change.status == Status.PENDING


def test_bulk_approve_and_reject_report_each_change(client, sales_clerk, supervisor):
    first, second, third = (ask(order_of("200.00"), sales_clerk) for _ in range(3))
    price_change_withdraw(third, by=sales_clerk)
    client.force_login(supervisor)
    changelist = reverse("admin:approvals_pricechangerequest_changelist")

    approved = client.post(
        changelist,
        {"action": "approve_selected", "_selected_action": [first.pk, third.pk], "index": 0},
        follow=True,
    )
    html = approved.content.decode()
    assert "1 price change decided." in html and "already been decided" in html
    confirm = client.post(
        changelist, {"action": "reject_selected", "_selected_action": [second.pk]}
    )
    assert confirm.status_code == 200 and 'name="note"' in confirm.content.decode()
    client.post(
        changelist,
        {"action": "reject_selected", "_selected_action": [second.pk], "apply": 1, "note": "no"},
    )

    statuses = dict(PriceChangeRequest.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: Status.APPROVED,
        second.pk: Status.REJECTED,
        third.pk: Status.WITHDRAWN,
    }


def test_the_list_is_a_few_queries(client, sales_clerk, supervisor, django_assert_max_num_queries):
    for _ in range(5):
        ask(order_of("200.00"), sales_clerk)
    client.force_login(supervisor)
    with django_assert_max_num_queries(12):
        response = client.get(
            reverse("admin:approvals_pricechangerequest_changelist"), {"status__exact": "pending"}
        )
    assert response.status_code == 200
    assert response.content.decode().count("-10.00 %") == 5
