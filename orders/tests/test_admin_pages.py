"""Every admin page of the orders app renders (a smoke test against 500s)."""

import pytest
from django.urls import reverse

from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_the_order_change_page_renders_with_timeline_and_audit(client, supervisor):
    order = make_order()
    client.force_login(supervisor)
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="order-panel"' in html
    assert 'name="_fsm_transition_to"' in html


@pytest.mark.parametrize(
    "name",
    ["order", "customer", "product", "warehouse", "stocklevel", "coupon", "partner",
     "stagevisit", "payment"],
)  # fmt: skip
def test_changelists_render(client, admin_user, name):
    make_order()
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:orders_{name}_changelist")).status_code == 200
