"""Order intake: one service for the admin, the partner API, imports and demo data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_actor, audit_batched
from orders import events
from orders.models import (
    Coupon,
    Customer,
    Order,
    OrderLine,
    Partner,
    Payment,
    Product,
    StageVisit,
    order_number_new,
)
from orders.models.orders import CENT
from orders.models.webhooks import WebhookEvent
from orders.services.errors import InvalidOrderInput
from orders.services.evaluation import order_evaluate_at_intake
from orders.services.lifecycle import order_route_forward
from orders.services.webhooks import webhook_events_record
from orders.signals import order_created
from orders.states import Lane, OrderStatus, PaymentMethod, PaymentStatus, Source, Via

MAX_LINES = 200
MAX_QUANTITY = 10_000
MAX_AMOUNT = Decimal("99999999.99")


@dataclass(frozen=True)
class LineInput:
    product: Product
    quantity: int
    unit_price: Decimal | None = None  # None: the product's list price
    is_customised: bool = False
    is_split_shipment: bool = False


@dataclass(frozen=True)
class AddressInput:
    name: str
    phone: str
    province: str
    city: str
    line1: str
    district: str = ""
    postal_code: str = ""


@dataclass
class OrderInput:
    customer: Customer
    lines: list[LineInput]
    shipping: AddressInput
    payment_method: str = PaymentMethod.PREPAID
    partner: Partner | None = None
    external_ref: str = ""
    coupon: Coupon | None = None
    paid: bool = False
    amount_paid: Decimal | None = None
    payment_reference: str = ""
    placed_at: datetime | None = None
    notes: str = ""
    invoice_title: str = ""
    invoice_tax_id: str = ""
    is_expedited: bool = False
    extra: dict = field(default_factory=dict)


def _validate(data: OrderInput) -> list[str]:
    problems: list[str] = []
    if not data.lines:
        problems.append(_("An order needs at least one line."))
    if len(data.lines) > MAX_LINES:
        problems.append(_("An order may have at most %(n)s lines.") % {"n": MAX_LINES})
    for index, line in enumerate(data.lines, start=1):
        if not (1 <= line.quantity <= MAX_QUANTITY):
            problems.append(
                _("Line %(n)s: quantity must be between 1 and %(max)s.")
                % {"n": index, "max": MAX_QUANTITY}
            )
        if line.unit_price is not None and not (Decimal("0") <= line.unit_price <= MAX_AMOUNT):
            problems.append(_("Line %(n)s: the unit price is out of range.") % {"n": index})
        if not line.product.is_active:
            problems.append(
                _("Line %(n)s: product %(sku)s is not for sale.")
                % {"n": index, "sku": line.product.sku}
            )
    if data.payment_method not in PaymentMethod.values:
        problems.append(_("Unknown payment method."))
    if data.amount_paid is not None and not (Decimal("0") <= data.amount_paid <= MAX_AMOUNT):
        problems.append(_("The amount paid is out of range."))
    address = data.shipping
    for label, value in (
        (_("recipient"), address.name),
        (_("recipient phone"), address.phone),
        (_("province"), address.province),
        (_("city"), address.city),
        (_("address"), address.line1),
    ):
        if not (value or "").strip():
            problems.append(_("The shipping address needs a %(field)s.") % {"field": label})
    return [str(p) for p in problems]


def order_create(
    data: OrderInput,
    *,
    by=None,
    actor_label: str = "",
    source: str = Source.ADMIN,
    via: str = Via.MANUAL,
    retry_number: bool = True,
) -> Order:
    """Create an order in `received`, with its lines and first timeline visit, then
    let the router move it on. Raises InvalidOrderInput listing every problem."""
    problems = _validate(data)
    if problems:
        raise InvalidOrderInput(reasons=problems)
    now = timezone.now()
    goods = sum(
        (
            (line.unit_price if line.unit_price is not None else line.product.list_price)
            * line.quantity
            for line in data.lines
        ),
        Decimal("0"),
    )
    discount = min(data.coupon.discount_amount, goods) if data.coupon else Decimal("0")
    total = (goods - discount).quantize(CENT)
    if total > MAX_AMOUNT:
        raise InvalidOrderInput(reasons=[str(_("The order total is out of range."))])
    if data.amount_paid is not None:
        paid_amount = data.amount_paid.quantize(CENT)
    else:
        paid_amount = total if data.paid else Decimal("0")

    # A caller that retries the whole transaction on an IntegrityError (the partner
    # API: retry_number=False) needs no savepoint here: two statements less per order.
    # The intake's audit events (created, the payment if any, each stage the routing
    # passes) go out together in one INSERT at the end.
    with transaction.atomic(savepoint=retry_number), audit_batched():
        order = _insert_order(
            data,
            goods=goods,
            discount=discount,
            total=total,
            paid_amount=paid_amount,
            source=source,
            now=now,
            retry_number=retry_number,
        )
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    product=line.product,
                    sku=line.product.sku,
                    name=line.product.name,
                    quantity=line.quantity,
                    list_price=line.product.list_price,
                    unit_price=line.unit_price
                    if line.unit_price is not None
                    else line.product.list_price,
                    is_customised=line.is_customised,
                    is_split_shipment=line.is_split_shipment,
                )
                for line in data.lines
            ]
        )
        # This intake's webhook events read the partner's subscriptions once.
        order._webhook_memo = {}
        # Callers (the API's 201) read the lines back: hand them the ones just written.
        written = OrderLine.objects.filter(order=order)
        written._result_cache, written._prefetch_done = lines, True
        order._prefetched_objects_cache = {"lines": written}
        actor = audit_actor(by)
        events.order_created_event(order=order, by=actor, actor_label=actor_label, via=via, at=now)
        webhook_events_record(order=order, event_type=WebhookEvent.ORDER_CREATED, data={}, at=now)
        if paid_amount > 0:
            payment = Payment.objects.create(
                order=order,
                amount=paid_amount,
                reference=data.payment_reference[:100],
                paid_at=order.placed_at,
                recorded_by=actor,
                created_at=now,
            )
            events.payment_recorded_event(
                order=order, payment=payment, by=actor, actor_label=actor_label, at=now
            )
        transaction.on_commit(lambda: order_created.send(sender=Order, order=order))
        # The first visit is written by the routing: closed with the next one in one
        # INSERT when `received` is passed at once (the usual case), open otherwise.
        order.__dict__["_routing_at_intake"] = True  # see routing.is_being_created
        order_evaluate_at_intake(order)  # the evaluation card and the health score
        order_route_forward(
            order,
            now=now,
            pending_visit=StageVisit(order=order, stage=order.status, entered_at=now),
        )
        _lane_write_if_still_received(order)
    order.__dict__.pop("_webhook_memo", None)
    order.__dict__.pop("_routing_at_intake", None)
    return order


def _lane_write_if_still_received(order: Order) -> None:
    """The lane goes out with the order's first transition; an order that stayed in
    `received` (e.g. a person must accept it) gets it written here."""
    if order.status == OrderStatus.RECEIVED and order.lane != Lane.NORMAL:
        Order.objects.filter(pk=order.pk).update(lane=order.lane)


def _insert_order(
    data: OrderInput, *, goods, discount, total, paid_amount, source, now, retry_number=True
) -> Order:
    address = data.shipping
    fields = dict(
        external_ref=data.external_ref.strip()[:64],
        partner=data.partner,
        source=source,
        customer=data.customer,
        stage_entered_at=now,
        payment_method=data.payment_method,
        payment_status=payment_status_for(paid_amount, total),
        goods_amount=goods.quantize(CENT),
        discount_amount=discount.quantize(CENT),
        total_amount=total,
        amount_paid=paid_amount,
        coupon=data.coupon,
        is_presale=any(line.product.is_presale for line in data.lines),
        is_expedited=data.is_expedited,
        ship_name=address.name.strip()[:120],
        ship_phone=address.phone.strip()[:32],
        ship_province=address.province.strip()[:60],
        ship_city=address.city.strip()[:60],
        ship_district=address.district.strip()[:60],
        ship_line1=address.line1.strip()[:200],
        ship_postal_code=address.postal_code.strip()[:12],
        invoice_title=data.invoice_title.strip()[:120],
        invoice_tax_id=data.invoice_tax_id.strip()[:40],
        notes=data.notes,
        placed_at=data.placed_at or now,
        created_at=now,
        updated_at=now,
    )
    # A clash of random numbers is astronomically rare; a clash of external
    # references is a real duplicate and must surface to the caller.
    if not retry_number:
        # The caller retries the whole transaction on an IntegrityError (the partner
        # API does): no savepoint, two statements less on the busiest intake path.
        return Order.objects.create(number=order_number_new(now), **fields)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Order.objects.create(number=order_number_new(now), **fields)
        except IntegrityError:
            if (
                data.external_ref
                and Order.objects.filter(
                    partner=data.partner, external_ref=fields["external_ref"]
                ).exists()
            ):
                raise
    raise IntegrityError("could not allocate a unique order number")


def payment_status_for(amount_paid: Decimal, total: Decimal) -> str:
    if amount_paid <= 0:
        return PaymentStatus.UNPAID if total > 0 else PaymentStatus.PAID
    if amount_paid >= total:
        return PaymentStatus.PAID
    return PaymentStatus.PARTIAL
