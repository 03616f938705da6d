"""Deterministic demo data: a mid-size Chinese e-commerce shop with 30 days of history.

`demo_seed()` creates the shop (channels, customers, products, three warehouses,
stock, coupons, the staff logins) and its order history with full stage timelines
and audit events, written with bulk inserts. The story it tells:

- a normal month: ~600 orders a day, quiet nights, peaks 10-12 h and 20-22 h, busier
  weekends; most orders dispatched within 2 hours; a few holds and cancellations;
- yesterday 14:00-18:00 picking slowed down (pick lists printed late, 2-3 h in
  picking): the post-incident review has something to show;
- right now the pick-list printer is down: 60+ orders wait in picking, the oldest
  for more than 3 hours, while the other stages flow and a couple of orders are on
  hold. The last few orders came in through the real services.

The same seed and the same `now` give the same data, row for row.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from orders.demo.catalog import (
    PARTNERS,
    PRODUCTS,
    STAFF,
    SUPERVISOR_LOGIN,
    TEAM_PASSWORD,
    Catalog,
    catalog_create,
    staff_ensure,
)
from orders.demo.flow import flow_demo_setup
from orders.demo.simulation import OrderFlow
from orders.demo.story import QC_PHOTO_NAME
from orders.demo.writer import OrderWriter, sink_for_connection
from orders.models import (
    Coupon,
    Customer,
    Order,
    OrderLine,
    Partner,
    Payment,
    Product,
    StageVisit,
    StockLevel,
    StockReservation,
    Warehouse,
)
from orders.states import OrderStatus, PaymentMethod, Source, Via

__all__ = [
    "STAFF",
    "SUPERVISOR_LOGIN",
    "TEAM_PASSWORD",
    "DemoConflict",
    "DemoSummary",
    "demo_reset",
    "demo_seed",
]

S = OrderStatus
BATCH = 500


class DemoConflict(Exception):
    """The database already holds data the demo would clash with."""


@dataclass
class DemoSummary:
    seconds: float
    orders: int
    visits: int
    audit_events: int
    customers: int
    products: int
    by_status: dict[str, int]
    picking_backlog: int
    oldest_in_picking: datetime | None
    live_orders: list[str] = field(default_factory=list)
    live_problems: list[str] = field(default_factory=list)


def demo_seed(
    *,
    seed: int = 42,
    days: int = 30,
    orders_per_day: int = 600,
    customers: int = 300,
    now: datetime | None = None,
    live_orders: int = 6,
    write_qc_photo: bool = True,
) -> DemoSummary:
    """Create the demo shop and its order history. Refuses to mix with existing data."""
    started = time.monotonic()
    now = now or timezone.now()
    conflicts = demo_conflicts()
    if conflicts:
        raise DemoConflict("; ".join(conflicts))
    rng = random.Random(seed)
    with transaction.atomic():
        users = staff_ensure(set_passwords=True)
        catalog = catalog_create(rng, now=now, customers=customers, users=users)
        flow = OrderFlow(
            rng,
            catalog,
            now=now,
            days=days,
            orders_per_day=orders_per_day,
            time_zone=settings.TIME_ZONE,
        )
        writer = OrderWriter(
            catalog,
            sink_for_connection(),
            order_type_id=ContentType.objects.get_for_model(Order).pk,
        )
        for batch in flow.generate():
            writer.write(batch)
        writer.finish()
        _stock_reserved_sync(catalog, flow.reserved)
        live, problems = _live_orders(rng, catalog, count=live_orders)
        flow_demo_setup()
        _app_demo_seeds(now=now)
        _evaluation_ensure()
    if write_qc_photo:
        _qc_photo_ensure()
    return demo_summary(seconds=time.monotonic() - started, live=live, problems=problems)


def _evaluation_ensure() -> None:
    """Every open order gets its evaluation card (local sources) and health score; the
    history behind them (dispatched and cancelled) does not need one."""
    from orders.models import EvaluationCard
    from orders.services.card import card_fetch
    from orders.services.health import health_rescore_open

    without_card = Order.objects.open().exclude(pk__in=EvaluationCard.objects.values("order_id"))
    for order in without_card.select_related("customer").order_by("id"):
        card_fetch(order)
    health_rescore_open()


def _app_demo_seeds(*, now: datetime) -> None:
    """Other apps' demo data (rules, switches, exception types...): each app that
    defines `AppConfig.demo_seed(now=...)` adds its own; orders imports none of them."""
    for config in apps.get_app_configs():
        seed = getattr(config, "demo_seed", None)
        if callable(seed):
            seed(now=now)


def demo_conflicts() -> list[str]:
    """Why seeding now would clash with what is in the database (empty: it would not)."""
    problems = []
    if Order.objects.exists():
        problems.append(f"{Order.objects.count()} orders exist")
    clashes = {
        "channel partners": Partner.objects.filter(code__in=[p[0] for p in PARTNERS]),
        "products": Product.objects.filter(
            sku__in=[f"SKU-{i:04d}" for i in range(1, len(PRODUCTS) + 1)]
        ),
        "warehouses": Warehouse.objects.filter(code__in=["hz", "sh", "gz"]),
        "coupons": Coupon.objects.filter(
            code__in=["STORE-ANNIV-30", "NEWBIE-20", "MEMBER-DAY-100", "FLASH-200"]
        ),
    }
    for label, queryset in clashes.items():
        if queryset.exists():
            problems.append(f"demo {label} exist")
    return problems


def demo_reset() -> None:
    """Delete every order, its history and the shop's master data (not the logins)."""
    order_type = ContentType.objects.get_for_model(Order)
    with transaction.atomic():
        for config in apps.get_app_configs():
            reset = getattr(config, "demo_reset", None)
            if callable(reset):  # other apps' demo data first (it may refer to orders)
                reset()
        AuditEvent.objects.filter(subject_type=order_type).delete()
        StockReservation.objects.all().delete()
        Payment.objects.all().delete()
        StageVisit.objects.all().delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        for model in (StockLevel, Coupon, Customer, Product, Warehouse, Partner):
            model.objects.all().delete()


def demo_summary(*, seconds: float = 0.0, live=(), problems=()) -> DemoSummary:
    by_status = dict(
        Order.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    picking = Order.objects.filter(status=S.PICKING).aggregate(
        n=Count("id"), oldest=Min("stage_entered_at")
    )
    return DemoSummary(
        seconds=seconds,
        orders=sum(by_status.values()),
        visits=StageVisit.objects.count(),
        audit_events=AuditEvent.objects.count(),
        customers=Customer.objects.count(),
        products=Product.objects.count(),
        by_status=by_status,
        picking_backlog=picking["n"],
        oldest_in_picking=picking["oldest"],
        live_orders=list(live),
        live_problems=list(problems),
    )


def _stock_reserved_sync(catalog: Catalog, reserved: dict) -> None:
    levels = []
    for key, level in catalog.stock.items():
        level.reserved = reserved.get(key, 0)
        levels.append(level)
    StockLevel.objects.bulk_update(levels, ["reserved"], batch_size=BATCH)


def _live_orders(rng: random.Random, catalog: Catalog, *, count: int):
    """The newest orders go through the real services (intake, reviews, reservation),
    so the audit and timeline path of the product is part of the demo too."""
    from orders.services import (
        AddressInput,
        LineInput,
        OrderActionError,
        OrderInput,
        order_complete_stage,
        order_create,
    )

    if count <= 0:
        return [], []
    staff = {u.username: u for u in get_user_model().objects.filter(username__in=STAFF)}
    stocked = [
        i
        for i, product in enumerate(catalog.products)
        if not product.is_presale
        and all(catalog.stock[(i, w)].available >= 20 for w in range(len(catalog.warehouses)))
    ]
    # How far each live order is taken: stays in sales review, or is moved on by staff.
    plan = [0, 0, 1, 1, 2, 3]
    created, problems = [], []
    for index in range(count):
        c_index = rng.randrange(len(catalog.customers))
        customer = catalog.customers[c_index]
        province, city, district, street, postal = catalog.addresses[c_index]
        partner = next(p for p in catalog.partners if p.pk == customer.partner_id)
        products = rng.sample(stocked, rng.choice((1, 1, 2)))
        data = OrderInput(
            customer=customer,
            partner=partner,
            external_ref=f"LIVE-{partner.code.upper()}-{rng.randrange(10**8, 10**9)}",
            lines=[
                LineInput(product=catalog.products[i], quantity=rng.choice((1, 1, 2)))
                for i in products
            ],
            shipping=AddressInput(
                name=customer.name,
                phone=customer.phone,
                province=province,
                city=city,
                district=district,
                line1=f"{street}{rng.randint(1, 300)}号",
                postal_code=postal,
            ),
            payment_method=PaymentMethod.PREPAID,
            paid=True,
            payment_reference=f"ALIPAY{rng.randrange(10**21, 10**22)}",
        )
        order = order_create(
            data, actor_label=f"partner:{partner.code}", source=Source.DEMO, via=Via.API
        )
        created.append(order.number)
        steps = plan[index % len(plan)]
        by_stage = {
            S.SALES_REVIEW: staff.get("sales1"),
            S.FINANCE_REVIEW: staff.get("finance1"),
            S.STOCK_RESERVATION: staff.get("warehouse1"),
        }
        for _step in range(steps):
            if order.status not in by_stage:
                break
            try:
                order_complete_stage(order, by=by_stage[order.status])
            except OrderActionError as exc:
                problems.append(f"{order.number}: {exc}")
                break
    return created, problems


def _qc_photo_ensure() -> None:
    """The one placeholder image every demo QC photo points to."""
    if not default_storage.exists(QC_PHOTO_NAME):
        default_storage.save(QC_PHOTO_NAME, ContentFile(_placeholder_png()))


def _placeholder_png(size: int = 64) -> bytes:
    """A plain grey PNG, built without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    raw = b"".join(b"\x00" + bytes([200]) * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
