"""Random sequences of service calls never break the lifecycle's invariants.

Each Hypothesis example runs inside its own savepoint, rolled back at teardown, so
examples never see each other's rows (STYLE.md pitfall).
"""

import itertools
import os
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Sum
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.models import Order, Payment, StageVisit, StockLevel, StockReservation
from orders.services import (
    OrderActionError,
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
from orders.states import OPEN_STAGES, PaymentMethod
from orders.tests.factories import (
    CouponFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    UserFactory,
    WarehouseFactory,
    make_order,
)

pytestmark = pytest.mark.django_db
STATEFUL_EXAMPLES = int(os.environ.get("HYPOTHESIS_STATEFUL_EXAMPLES", "100"))


def _snapshot(order_pk):
    """Everything a refused action must leave untouched."""
    row = Order.objects.filter(pk=order_pk).values().first()
    row.pop("qc_photo", None)
    return (
        row,
        StageVisit.objects.count(),
        AuditEvent.objects.count(),
        Payment.objects.count(),
        StockReservation.objects.filter(released_at=None, consumed_at=None).count(),
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
    )


class LifecycleMachine(RuleBasedStateMachine):
    people: dict = {}
    products: list = []
    coupon = None

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        warehouses = [
            WarehouseFactory(code="hza", priority=1),
            WarehouseFactory(code="sha", priority=2),
        ]
        for product, stock in zip(self.products, (3, 5, 40), strict=True):
            StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=stock)
            StockLevelFactory(product=product, warehouse=warehouses[1], on_hand=1)
        self.orders: list[Order] = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- actions -------------------------------------------------------------

    def _attempt(self, order, action):
        """Run `action`; if it is refused, prove that nothing changed."""
        before = _snapshot(order.pk)
        try:
            action()
        except OrderActionError:
            assert _snapshot(order.pk) == before, "a refused action changed something"
            fresh = Order.objects.get(pk=order.pk)
            assert fresh.status == order.status, "the instance was not restored after refusal"

    @rule(
        method=st.sampled_from(list(PaymentMethod.values)),
        paid=st.booleans(),
        product_index=st.integers(0, 2),
        quantity=st.integers(1, 4),
        with_coupon=st.booleans(),
    )
    def new_order(self, method, paid, product_index, quantity, with_coupon):
        if len(self.orders) >= 4:
            return
        order = make_order(
            customer=CustomerFactory(credit_limit=Decimal("2000")),
            products=[self.products[product_index]],
            quantity=quantity,
            payment_method=method,
            paid=paid,
            coupon=self.coupon if with_coupon else None,
        )
        self.orders.append(order)

    def _pick(self, data):
        return data.draw(st.sampled_from(self.orders)) if self.orders else None

    @rule(data=st.data(), steps=st.integers(1, 7))
    def advance(self, data, steps):
        """Do the right next thing (as the supervisor) a few times: reaches deep states."""
        order = self._pick(data)
        if order is None:
            return
        boss = self.people["supervisor"]
        photo = SimpleUploadedFile("qc.png", b"\x89PNG" + b"0" * 16, content_type="image/png")
        next_action = {
            "sales_review": lambda: (
                order.coupon_check_done() or order_verify_coupon(order, by=boss),
                order_complete_stage(order, by=boss),
            ),
            "stock_reservation": lambda: order_transition(order, name="reserve_stock", by=boss),
            "picking": lambda: (
                pick_list_print([order], by=boss),
                order_complete_stage(order, by=boss),
            ),
            "quality_check": lambda: (
                order.qc_photo_done() or order_upload_qc_photo(order, photo=photo, by=boss),
                order_dispatch(order, by=boss, carrier="SF", tracking_number="SF2"),
            ),
            "on_hold": lambda: order_release(order, by=boss),
        }
        for _step in range(steps):
            if order.status in ("dispatched", "cancelled"):
                return
            action = next_action.get(order.status, lambda: order_complete_stage(order, by=boss))
            try:
                action()
            except OrderActionError:
                return

    @rule(
        data=st.data(),
        person=st.sampled_from(["supervisor", "sales", "finance", "warehouse", "outsider"]),
    )
    def complete_stage(self, data, person):
        if order := self._pick(data):
            self._attempt(order, lambda: order_complete_stage(order, by=self.people[person]))

    @rule(data=st.data())
    def reserve_stock(self, data):
        if order := self._pick(data):
            who = self.people["warehouse"]
            self._attempt(order, lambda: order_transition(order, name="reserve_stock", by=who))

    @rule(data=st.data())
    def print_pick_list(self, data):
        if order := self._pick(data):
            result = pick_list_print([order], by=self.people["warehouse"])
            assert len(result.printed) + len(result.failures) == 1

    @rule(data=st.data())
    def upload_photo(self, data):
        if order := self._pick(data):
            photo = SimpleUploadedFile("qc.png", b"\x89PNG" + b"0" * 16, content_type="image/png")
            self._attempt(
                order, lambda: order_upload_qc_photo(order, photo=photo, by=self.people["qc"])
            )

    @rule(data=st.data())
    def dispatch(self, data):
        if order := self._pick(data):
            self._attempt(
                order,
                lambda: order_dispatch(
                    order, by=self.people["qc"], carrier="SF", tracking_number="SF1"
                ),
            )

    @rule(data=st.data(), cents=st.integers(1, 200_000))
    def pay(self, data, cents):
        if order := self._pick(data):
            amount = Decimal(cents) / 100
            self._attempt(
                order, lambda: order_record_payment(order, amount=amount, by=self.people["finance"])
            )

    @rule(data=st.data(), reason=st.sampled_from(["", "address unclear"]))
    def hold(self, data, reason):
        if order := self._pick(data):
            self._attempt(
                order, lambda: order_hold(order, by=self.people["supervisor"], reason=reason)
            )

    @rule(data=st.data())
    def release(self, data):
        if order := self._pick(data):
            self._attempt(order, lambda: order_release(order, by=self.people["supervisor"]))

    @rule(data=st.data(), reason=st.sampled_from(["", "customer cancelled"]))
    def cancel(self, data, reason):
        if order := self._pick(data):
            self._attempt(
                order, lambda: order_cancel(order, by=self.people["supervisor"], reason=reason)
            )

    @rule(data=st.data())
    def verify_coupon(self, data):
        if order := self._pick(data):
            self._attempt(order, lambda: order_verify_coupon(order, by=self.people["sales"]))

    @rule(data=st.data())
    def stale_copy_is_refused(self, data):
        """Acting on an out-of-date copy never overwrites the current state."""
        if order := self._pick(data):
            stale = Order.objects.get(pk=order.pk)
            self._attempt(order, lambda: order_complete_stage(order, by=self.people["supervisor"]))
            self._attempt(stale, lambda: order_complete_stage(stale, by=self.people["supervisor"]))
            order.refresh_from_db()

    # --- invariants ------------------------------------------------------------

    @invariant()
    def state_matches_the_timeline(self):
        for order in self.orders:
            db_status = Order.objects.filter(pk=order.pk).values_list("status", flat=True).get()
            open_visits = list(StageVisit.objects.filter(order_id=order.pk, left_at=None))
            if db_status in OPEN_STAGES:
                assert len(open_visits) == 1, f"{db_status}: {len(open_visits)} open visits"
                assert open_visits[0].stage == db_status
            else:
                assert open_visits == []

    @invariant()
    def visits_are_contiguous(self):
        for order in self.orders:
            visits = list(StageVisit.objects.filter(order_id=order.pk).order_by("entered_at", "id"))
            for earlier, later in itertools.pairwise(visits):
                assert earlier.left_at == later.entered_at

    @invariant()
    def stock_never_negative_and_matches_reservations(self):
        for level in StockLevel.objects.all():
            assert 0 <= level.reserved <= level.on_hand
            open_units = (
                StockReservation.objects.filter(
                    stock_level=level, released_at=None, consumed_at=None
                ).aggregate(total=Sum("quantity"))["total"]
                or 0
            )
            assert level.reserved == open_units

    @invariant()
    def closed_orders_hold_no_stock(self):
        for order in self.orders:
            status = Order.objects.filter(pk=order.pk).values_list("status", flat=True).get()
            if status in ("dispatched", "cancelled"):
                assert not StockReservation.objects.filter(
                    line__order_id=order.pk, released_at=None, consumed_at=None
                ).exists(), f"a {status} order still holds stock"

    @invariant()
    def paid_amount_matches_payments(self):
        for order in self.orders:
            fresh = Order.objects.get(pk=order.pk)
            paid = Payment.objects.filter(order_id=order.pk).aggregate(t=Sum("amount"))["t"] or 0
            assert fresh.amount_paid == paid

    @invariant()
    def nothing_unpaid_was_dispatched(self):
        for order in self.orders:
            fresh = Order.objects.get(pk=order.pk)
            if fresh.status == "dispatched" and fresh.payment_method in ("prepaid", "transfer"):
                assert fresh.amount_paid >= fresh.total_amount


def test_random_action_sequences_keep_the_lifecycle_consistent(db):
    LifecycleMachine.people = {
        "supervisor": UserFactory(username="sm_supervisor", groups=[teams.SUPERVISORS]),
        "sales": UserFactory(username="sm_sales", groups=[teams.SALES]),
        "finance": UserFactory(username="sm_finance", groups=[teams.FINANCE]),
        "warehouse": UserFactory(username="sm_warehouse", groups=[teams.WAREHOUSE]),
        "qc": UserFactory(username="sm_qc", groups=[teams.QUALITY]),
        "outsider": UserFactory(username="sm_outsider"),
    }
    LifecycleMachine.products = [ProductFactory(sku=f"SM-{i}") for i in range(3)]
    LifecycleMachine.coupon = CouponFactory(code="SM-COUPON")
    # Deep states (dispatch, cancel after reservation) need a few more examples than
    # the suite's default; ~1 min on this machine.
    run_state_machine_as_test(
        LifecycleMachine, settings=settings(settings.default, max_examples=STATEFUL_EXAMPLES)
    )
