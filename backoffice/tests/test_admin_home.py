import pytest
from django.urls import reverse

from backoffice.notifications.services import notification_send_in_app
from orders import teams
from orders.tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db


def test_home_shows_waiting_orders_by_stage_and_my_notifications(client):
    user = UserFactory(username="boss", groups=[teams.SUPERVISORS])
    make_order()
    make_order()
    notification_send_in_app(recipients=[user], text="Picking backlog over 50", link="/admin/")
    client.force_login(user)
    # Supervisors land on the bottleneck dashboard; ?home=1 is the home page itself.
    assert client.get(reverse("admin:index"))["Location"] == reverse("admin:dashboard")
    response = client.get(reverse("admin:index") + "?home=1")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-stages"' in html and "?status=sales_review" in html
    assert "Picking backlog over 50" in html


def test_home_stage_panel_is_hidden_from_people_who_cannot_view_orders(client):
    user = UserFactory(username="nobody")
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="panel-stages"' not in html
