"""Creating an order from the admin goes through the intake service."""

import pytest
from django.urls import reverse

from orders.models import Order, StageVisit
from orders.states import OrderStatus
from orders.tests.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _post_data(customer, product, **overrides):
    data = {
        "customer": customer.pk,
        "payment_method": "prepaid",
        "paid": "on",
        "ship_name": "Wang Fang",
        "ship_phone": "13900000000",
        "ship_province": "Zhejiang",
        "ship_city": "Hangzhou",
        "ship_line1": "8 Tianmushan Rd",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "1",
        "lines-MAX_NUM_FORMS": "200",
        "lines-0-product": product.pk,
        "lines-0-quantity": "2",
    }
    data.update(overrides)
    return data


def test_supervisor_creates_an_order_which_enters_sales_review(client, supervisor):
    customer, product = CustomerFactory(), ProductFactory(sku="SKU-ADMIN")
    client.force_login(supervisor)
    url = reverse("admin:orders_order_add")
    assert client.get(url).status_code == 200
    response = client.post(url, _post_data(customer, product))
    order = Order.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{order.pk}/change/")
    assert order.status == OrderStatus.SALES_REVIEW
    assert order.total_amount == product.list_price * 2 and order.payment_status == "paid"
    assert StageVisit.objects.filter(order=order).count() == 2


def test_an_order_without_lines_or_with_bad_quantity_is_refused(client, supervisor):
    customer, product = CustomerFactory(), ProductFactory()
    client.force_login(supervisor)
    url = reverse("admin:orders_order_add")
    response = client.post(url, _post_data(customer, product, **{"lines-0-quantity": "0"}))
    assert response.status_code == 200
    assert Order.objects.count() == 0


def test_a_team_member_without_add_permission_cannot_create(client, sales_clerk):
    client.force_login(sales_clerk)
    assert client.get(reverse("admin:orders_order_add")).status_code == 403
