"""Every transition and guard, through the services, including the refusals."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backoffice.audit.models import AuditEvent
from orders import routing
from orders.models import Order, StageVisit, StockLevel
from orders.services import (
    ActionForbidden,
    ConcurrentChange,
    InvalidOrderInput,
    StockShortage,
    TransitionRefused,
    order_cancel,
    order_complete_stage,
    order_dispatch,
    order_hold,
    order_record_payment,
    order_release,
    order_transition,
    order_upload_qc_photo,
    order_verify_coupon,
    pick_list_print,
)
from orders.states import OrderStatus, PaymentMethod, Via
from orders.tests.factories import CouponFactory, CustomerFactory, make_order

S = OrderStatus
pytestmark = pytest.mark.django_db

PHOTO = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def photo():
    return SimpleUploadedFile("qc.png", PHOTO, content_type="image/png")


def visits(order):
    return list(StageVisit.objects.filter(order=order).order_by("entered_at", "id"))


def to_stage(order, stage, *, by):
    """Drive an order along the main line up to `stage` (supervisor does everything)."""
    while order.status != stage:
        if order.status == S.QUALITY_CHECK:
            raise AssertionError("cannot go past quality check here")
        if order.status == S.STOCK_RESERVATION:
            order_transition(order, name="reserve_stock", by=by)
        elif order.status == S.PICKING:
            pick_list_print([order], by=by)
            order_complete_stage(order, by=by)
        else:
            order_complete_stage(order, by=by)
    return order


def test_intake_creates_the_order_and_the_system_moves_it_to_sales_review():
    order = make_order()
    assert order.status == S.SALES_REVIEW
    received, sales = visits(order)
    assert (received.stage, received.via, received.actor) == (S.RECEIVED, Via.SYSTEM, None)
    assert received.left_at == received.entered_at  # zero-length: passed automatically
    assert (sales.stage, sales.left_at, sales.via) == (S.SALES_REVIEW, None, "")
    assert order.stage_entered_at == sales.entered_at
    verbs = list(AuditEvent.objects.filter(subject_id=str(order.pk)).values_list("verb", flat=True))
    assert "order.created" in verbs and "order.transition" in verbs


def test_intake_refuses_bad_input_listing_every_problem():
    from orders.services import AddressInput, LineInput, OrderInput, order_create
    from orders.tests.factories import ProductFactory

    data = OrderInput(
        customer=CustomerFactory(),
        lines=[
            LineInput(product=ProductFactory(), quantity=0),
            LineInput(product=ProductFactory(), quantity=1, unit_price=Decimal("-1")),
        ],
        shipping=AddressInput(name="", phone="1", province="p", city="c", line1="l"),
    )
    with pytest.raises(InvalidOrderInput) as exc:
        order_create(data)
    assert len(exc.value.reasons) == 3
    assert Order.objects.count() == 0


def test_full_main_line_with_each_team(
    sales_clerk, finance_clerk, warehouse_clerk, qc_clerk, stocked_product
):
    order = make_order(products=[stocked_product], quantity=2)
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW
    order_complete_stage(order, by=finance_clerk)
    assert order.status == S.STOCK_RESERVATION
    order_transition(order, name="reserve_stock", by=warehouse_clerk)
    assert order.status == S.PICKING
    assert StockLevel.objects.get(product=stocked_product, warehouse__code="hz").reserved == 2
    result = pick_list_print([order], by=warehouse_clerk)
    assert result.printed == [order] and "Hangzhou" in result.groups
    order_complete_stage(order, by=warehouse_clerk)
    assert order.status == S.QUALITY_CHECK
    order_upload_qc_photo(order, photo=photo(), by=qc_clerk)
    order_dispatch(order, by=qc_clerk, carrier="SF Express", tracking_number="SF123")
    order.refresh_from_db()
    assert order.status == S.DISPATCHED
    assert (order.carrier, order.tracking_number) == ("SF Express", "SF123")
    level = StockLevel.objects.get(product=stocked_product, warehouse__code="hz")
    assert (level.on_hand, level.reserved) == (8, 0)
    stages = [v.stage for v in visits(order)]
    assert stages == [
        S.RECEIVED,
        S.SALES_REVIEW,
        S.FINANCE_REVIEW,
        S.STOCK_RESERVATION,
        S.PICKING,
        S.QUALITY_CHECK,
    ]
    assert all(v.left_at is not None for v in visits(order))  # a closed order has no open visit
    actors = [v.actor for v in visits(order)]
    assert actors == [None, sales_clerk, finance_clerk, warehouse_clerk, warehouse_clerk, qc_clerk]


@pytest.mark.parametrize(
    ("stage", "person"),
    [
        (S.SALES_REVIEW, "finance_clerk"),
        (S.FINANCE_REVIEW, "sales_clerk"),
        (S.SALES_REVIEW, "outsider"),
    ],
)
def test_a_person_outside_the_stage_team_is_refused(request, stage, person, supervisor):
    order = to_stage(make_order(), stage, by=supervisor)
    before = AuditEvent.objects.count(), StageVisit.objects.count()
    with pytest.raises(ActionForbidden):
        order_complete_stage(order, by=request.getfixturevalue(person))
    assert order.status == stage
    assert (AuditEvent.objects.count(), StageVisit.objects.count()) == before


def test_sales_review_waits_for_the_coupon_check(sales_clerk):
    order = make_order(coupon=CouponFactory())
    with pytest.raises(TransitionRefused) as exc:
        order_complete_stage(order, by=sales_clerk)
    assert "coupon" in str(exc.value)
    order_verify_coupon(order, by=sales_clerk)
    order_complete_stage(order, by=sales_clerk)
    assert order.status == S.FINANCE_REVIEW


def test_an_ineligible_coupon_cannot_be_verified(sales_clerk):
    customer = CustomerFactory(orders_completed=5)
    order = make_order(customer=customer, coupon=CouponFactory(new_customers_only=True))
    with pytest.raises(TransitionRefused) as exc:
        order_verify_coupon(order, by=sales_clerk)
    assert exc.value.code == "coupon_invalid"
    order.refresh_from_db()
    assert order.coupon_verified_at is None


def test_finance_review_refuses_credit_orders_over_the_limit(supervisor):
    customer = CustomerFactory(credit_limit=Decimal("300.00"))
    first = make_order(customer=customer, payment_method=PaymentMethod.CREDIT, paid=False)
    second = make_order(customer=customer, payment_method=PaymentMethod.CREDIT, paid=False)
    to_stage(first, S.STOCK_RESERVATION, by=supervisor)  # 199 of 300 used
    to_stage(second, S.FINANCE_REVIEW, by=supervisor)
    with pytest.raises(TransitionRefused) as exc:
        order_complete_stage(second, by=supervisor)
    assert "Credit limit" in str(exc.value)
    order_record_payment(first, amount=Decimal("199.00"), by=supervisor)
    order_complete_stage(second, by=supervisor)
    assert second.status == S.STOCK_RESERVATION


def test_a_shortage_keeps_the_order_in_stock_reservation_with_the_reason(supervisor, warehouses):
    from orders.tests.factories import ProductFactory, StockLevelFactory

    product = ProductFactory(sku="SKU-SHORT")
    StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=1)
    StockLevelFactory(product=product, warehouse=warehouses[1], on_hand=1)
    order = to_stage(make_order(products=[product], quantity=3), S.STOCK_RESERVATION, by=supervisor)
    with pytest.raises(StockShortage) as exc:
        order_transition(order, name="reserve_stock", by=supervisor)
    assert "SKU-SHORT: 3 needed, 2 available" in str(exc.value)
    assert order.status == S.STOCK_RESERVATION
    assert sum(StockLevel.objects.filter(product=product).values_list("reserved", flat=True)) == 0


def test_reservation_splits_across_warehouses_when_no_single_one_can_serve(supervisor, warehouses):
    from orders.tests.factories import ProductFactory, StockLevelFactory

    product = ProductFactory(sku="SKU-SPLIT")
    StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=2)
    StockLevelFactory(product=product, warehouse=warehouses[1], on_hand=2)
    order = to_stage(make_order(products=[product], quantity=3), S.STOCK_RESERVATION, by=supervisor)
    order_transition(order, name="reserve_stock", by=supervisor)
    reserved = dict(
        StockLevel.objects.filter(product=product).values_list("warehouse__code", "reserved")
    )
    assert reserved == {"hz": 2, "sh": 1}


def test_cancel_releases_reserved_stock(supervisor, stocked_product):
    order = to_stage(make_order(products=[stocked_product], quantity=4), S.PICKING, by=supervisor)
    assert StockLevel.objects.get(product=stocked_product, warehouse__code="hz").reserved == 4
    order_cancel(order, by=supervisor, reason="customer changed their mind")
    order.refresh_from_db()
    assert order.status == S.CANCELLED and order.cancel_reason == "customer changed their mind"
    assert StockLevel.objects.get(product=stocked_product, warehouse__code="hz").reserved == 0
    assert not StageVisit.objects.filter(order=order, left_at=None).exists()


def test_cancel_needs_a_reason_and_a_dispatched_order_cannot_be_cancelled(supervisor):
    order = make_order()
    with pytest.raises(InvalidOrderInput):
        order_cancel(order, by=supervisor, reason="  ")
    assert order.status == S.SALES_REVIEW


@pytest.mark.parametrize("method", [PaymentMethod.PREPAID, PaymentMethod.TRANSFER])
def test_dispatch_is_refused_while_unpaid(method, supervisor, stocked_product):
    order = to_stage(
        make_order(products=[stocked_product], payment_method=method, paid=False),
        S.QUALITY_CHECK,
        by=supervisor,
    )
    order_upload_qc_photo(order, photo=photo(), by=supervisor)
    with pytest.raises(TransitionRefused) as exc:
        order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert "Payment missing" in str(exc.value)
    assert order.status == S.QUALITY_CHECK
    order_record_payment(order, amount=order.total_amount, reference="WX-1", by=supervisor)
    order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert order.status == S.DISPATCHED


def test_cash_on_delivery_dispatches_unpaid(supervisor, stocked_product):
    order = to_stage(
        make_order(products=[stocked_product], payment_method=PaymentMethod.COD, paid=False),
        S.QUALITY_CHECK,
        by=supervisor,
    )
    order_upload_qc_photo(order, photo=photo(), by=supervisor)
    order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert order.status == S.DISPATCHED


def test_dispatch_needs_the_qc_photo_and_carrier_details(supervisor, stocked_product):
    order = to_stage(make_order(products=[stocked_product]), S.QUALITY_CHECK, by=supervisor)
    with pytest.raises(TransitionRefused) as exc:
        order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert "QC photo" in str(exc.value)
    with pytest.raises(InvalidOrderInput):
        order_dispatch(order, by=supervisor, carrier="", tracking_number="1")


def test_picking_cannot_finish_before_the_pick_list_is_printed(supervisor, stocked_product):
    order = make_order(products=[stocked_product])
    to_stage(order, S.STOCK_RESERVATION, by=supervisor)
    order_transition(order, name="reserve_stock", by=supervisor)
    with pytest.raises(TransitionRefused) as exc:
        order_complete_stage(order, by=supervisor)
    assert "pick list" in str(exc.value)


def test_hold_and_release_return_to_the_stage_and_split_the_dwell(supervisor):
    order = to_stage(make_order(), S.FINANCE_REVIEW, by=supervisor)
    order_hold(order, by=supervisor, reason="address unclear")
    assert (order.status, order.held_from) == (S.ON_HOLD, S.FINANCE_REVIEW)
    order_release(order, by=supervisor, reason="customer called back")
    assert (order.status, order.held_from) == (S.FINANCE_REVIEW, "")
    stages = [v.stage for v in visits(order)]
    assert stages[-3:] == [S.FINANCE_REVIEW, S.ON_HOLD, S.FINANCE_REVIEW]


def test_a_held_order_cannot_be_completed_or_dispatched(supervisor):
    order = to_stage(make_order(), S.SALES_REVIEW, by=supervisor)
    order_hold(order, by=supervisor, reason="check")
    with pytest.raises(TransitionRefused):
        order_complete_stage(order, by=supervisor)
    with pytest.raises(TransitionRefused):
        order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert order.status == S.ON_HOLD


def test_a_stale_instance_is_refused_and_reloaded(supervisor):
    order = make_order()
    stale = Order.objects.get(pk=order.pk)
    order_complete_stage(order, by=supervisor)
    with pytest.raises(ConcurrentChange):
        order_complete_stage(stale, by=supervisor)
    assert stale.status == S.FINANCE_REVIEW  # reloaded, not left claiming a phantom state
    assert StageVisit.objects.filter(order=order, left_at=None).count() == 1


def test_a_failed_action_leaves_the_instance_as_the_database_has_it(supervisor, stocked_product):
    order = to_stage(
        make_order(products=[stocked_product], paid=False), S.QUALITY_CHECK, by=supervisor
    )
    order_upload_qc_photo(order, photo=photo(), by=supervisor)
    with pytest.raises(TransitionRefused):
        order_dispatch(order, by=supervisor, carrier="SF", tracking_number="1")
    assert order.status == S.QUALITY_CHECK and order.carrier == ""


class SkipFinanceForSmallOrders(routing.StageRouter):
    def auto_pass(self, order, stage):
        if stage == S.FINANCE_REVIEW and order.total_amount < 5000:
            return routing.StageDecision(
                via=Via.RULE, reason="amount < 5000", detail={"rule_id": 7, "rule_version": 2}
            )
        return None


def test_a_registered_router_passes_a_stage_as_a_zero_length_rule_visit(sales_clerk):
    routing.register_router(SkipFinanceForSmallOrders())
    try:
        order = make_order()
        order_complete_stage(order, by=sales_clerk)
    finally:
        routing.unregister_router(SkipFinanceForSmallOrders)
    assert order.status == S.STOCK_RESERVATION
    finance = StageVisit.objects.get(order=order, stage=S.FINANCE_REVIEW)
    assert finance.entered_at == finance.left_at
    assert (finance.via, finance.actor, finance.detail["rule_id"]) == (Via.RULE, None, 7)


def test_payment_validation(supervisor):
    order = make_order(paid=False)
    with pytest.raises(InvalidOrderInput):
        order_record_payment(order, amount=Decimal("0"), by=supervisor)
    order_record_payment(order, amount=Decimal("50"), by=supervisor)
    order.refresh_from_db()
    assert (order.amount_paid, order.payment_status) == (Decimal("50.00"), "partial")
