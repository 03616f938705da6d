"""Orders made by a benchmark run (bulk, tagged so the run can delete them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from orders.models import Customer, Order, Product
from orders.states import Source


def bench_orders_create(
    count: int,
    *,
    stage: str,
    number: Callable[[int], str],
    external_ref: Callable[[int], str],
    placed_at: Callable[[int, datetime], datetime],
    **extra,
) -> list[Order]:
    """`count` paid one-product orders of good-credit customers waiting in `stage`."""
    now = timezone.now()
    customers = list(Customer.objects.filter(credit_rating="good").order_by("id")[:200])
    product = Product.objects.filter(is_presale=False).order_by("id").first()
    return Order.objects.bulk_create(
        [
            Order(
                number=number(i),
                external_ref=external_ref(i),
                source=Source.DEMO,
                customer=customers[i % len(customers)],
                status=stage,
                stage_entered_at=now,
                payment_status="paid",
                goods_amount=product.list_price,
                total_amount=product.list_price,
                amount_paid=product.list_price,
                ship_name="基准测试",
                ship_phone="13800000000",
                ship_province="浙江省",
                ship_city="杭州市",
                ship_line1="文三路 1 号",
                placed_at=placed_at(i, now),
                created_at=now,
                updated_at=now,
                **extra,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
