from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from orders.models import (
    Coupon,
    Customer,
    Order,
    Partner,
    Product,
    StageSetting,
    StockLevel,
    Warehouse,
)
from orders.services import AddressInput, LineInput, OrderInput, order_create
from orders.states import PaymentMethod, Source, Via


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "pw")
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"shop-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    ref = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    credit_limit = Decimal("10000.00")
    orders_completed = 3


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    list_price = Decimal("199.00")


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"wh{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    priority = factory.Sequence(lambda n: n + 1)


class StockLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLevel

    product = factory.SubFactory(ProductFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    on_hand = 100


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    code = factory.Sequence(lambda n: f"CPN{n}")
    name = "Double 11"
    discount_amount = Decimal("20.00")
    campaign_starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    campaign_ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))


ADDRESS = AddressInput(
    name="Li Ting",
    phone="13800000000",
    province="Zhejiang",
    city="Hangzhou",
    district="Xihu",
    line1="1 Wensan Rd",
)


def make_order(
    *,
    customer=None,
    products=None,
    quantity=1,
    payment_method=PaymentMethod.PREPAID,
    paid=True,
    coupon=None,
    by=None,
    unit_price=None,
    **extra,
):
    """An order created through the intake service (so it has its timeline)."""
    customer = customer or CustomerFactory()
    products = products or [ProductFactory()]
    data = OrderInput(
        customer=customer,
        lines=[LineInput(product=p, quantity=quantity, unit_price=unit_price) for p in products],
        shipping=ADDRESS,
        payment_method=payment_method,
        paid=paid,
        coupon=coupon,
        **extra,
    )
    return order_create(data, by=by, source=Source.ADMIN, via=Via.MANUAL)


_bulk_batches = itertools.count()


def bulk_waiting_orders(
    count: int, *, stage: str, start, step: timedelta = timedelta(seconds=1), **fields
) -> list[int]:
    """`count` orders in `stage`, placed (and entered) from `start` on, `step` apart.

    bulk_create: queue, breaker and alarm tests need many orders and no timeline.
    """
    customer = CustomerFactory()
    batch = next(_bulk_batches)
    rows = [
        Order(
            number=f"TB{batch:04d}-{index:06d}",
            customer=customer,
            status=stage,
            placed_at=start + step * index,
            stage_entered_at=start + step * index,
            ship_name="A",
            ship_phone="1",
            ship_province="Z",
            ship_city="H",
            ship_line1="1",
            **fields,
        )
        for index in range(count)
    ]
    return [o.pk for o in Order.objects.bulk_create(rows)]


def stage_configure(stage: str, **fields) -> StageSetting:
    """Set some of a stage's flow settings (the rows are created on first use)."""
    from orders.services.queues import stage_settings

    stage_settings()
    StageSetting.objects.filter(stage=stage).update(**fields)
    return StageSetting.objects.get(stage=stage)
