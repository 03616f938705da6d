"""The exceptions section of the order page (open cases with tag, status and SLA
countdown, on top while one holds the order) and the staff form that raises a case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exceptions.demo import exceptions_types_ensure
from exceptions.models import CaseSource, ExceptionCase
from exceptions.services.cases import case_open
from exceptions.teams import CUSTOMER_SERVICE
from orders.models import Order
from orders.services import order_cancel
from orders.states import OrderStatus
from orders.tests.factories import UserFactory, make_order

S = OrderStatus
NEW = "/exceptions/new/"


@pytest.fixture
def types(db):
    return exceptions_types_ensure()


@pytest.fixture
def order(types):
    return make_order()


@pytest.fixture
def agent(db):
    return UserFactory(username="service_agent", groups=[CUSTOMER_SERVICE])


def order_page(client, user, order) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def panel_of(html: str) -> str:
    """The exceptions section of the order page."""
    start = html.index("<h2>Exception cases</h2>")
    return html[start : html.index("</section>", start)]


def test_open_cases_show_on_top_with_tag_status_countdown_and_links(client, agent, order, types):
    address, _ = case_open(order, type="address_change", source=CaseSource.STAFF)
    invoice, _ = case_open(order, type="invoice_reissue", source=CaseSource.STAFF)

    html = order_page(client, agent, order)

    assert html.index("<h2>Exception cases</h2>") < html.index("<h2>Now</h2>")  # on top
    panel = panel_of(html)
    tags = [types[code].tag_en for code in ("address_change", "invoice_reissue")]
    assert panel.index(f"{tags[0]} #{address.pk}") < panel.index(f"{tags[1]} #{invoice.pk}")
    assert "holds the order" in panel
    assert "Open" in panel and "left" in panel
    for case in (address, invoice):
        assert reverse("admin:exceptions_exceptioncase_change", args=[case.pk]) in panel
    assert f'href="{NEW}?order={order.pk}"' in panel
    assert 'class="blocking"' in panel


def test_a_case_running_alongside_stays_below_now(client, agent, order):
    case, _ = case_open(order, type="invoice_reissue", source=CaseSource.STAFF)
    ExceptionCase.objects.filter(pk=case.pk).update(
        sla_due_at=timezone.now() - timedelta(minutes=90)
    )

    html = order_page(client, agent, order)

    assert html.index("<h2>Now</h2>") < html.index("<h2>Exception cases</h2>")
    panel = panel_of(html)
    assert "overdue by 1 h 30 min" in panel
    assert 'class="overdue"' in panel
    assert "holds the order" not in panel


def test_without_cases_only_people_who_may_raise_one_see_the_section(
    client, agent, warehouse_clerk, order
):
    assert "Raise an exception case" in panel_of(order_page(client, agent, order))
    assert "Exception cases" not in order_page(client, warehouse_clerk, order)


def test_a_closed_order_offers_no_raise_link(client, agent, order):
    order_cancel(order, actor_label="test", reason="gone")
    assert "Raise an exception case" not in order_page(client, agent, order)


def test_the_section_costs_the_same_queries_for_one_case_or_three(client, agent, types):
    def queries(order) -> int:
        client.force_login(agent)
        url = reverse("admin:orders_order_change", args=[order.pk])
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    one, three = make_order(), make_order()
    case_open(one, type="invoice_reissue", source=CaseSource.STAFF)
    for code in ("invoice_reissue", "price_difference", "return_exchange_sync"):
        case_open(three, type=code, source=CaseSource.STAFF)
    queries(one)  # warm caches (content types, session)
    assert queries(three) == queries(one)


# --- The raise form -----------------------------------------------------------------


def test_a_team_member_raises_a_case_from_the_order_page(client, agent, order, types):
    tag = types["address_change"].tag_en
    client.force_login(agent)
    form = client.get(f"{NEW}?order={order.pk}")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'id="case-new-form"' in html and 'id="header"' in html  # the admin's frame
    assert f"{tag} {types['address_change'].name_en}" in html

    done = client.post(
        f"{NEW}?order={order.pk}",
        {"type": types_pk("address_change"), "description": "New address: 1 Binjiang Rd."},
        follow=True,
    )

    assert done.redirect_chain[-1][0] == reverse("admin:orders_order_change", args=[order.pk])
    case = ExceptionCase.objects.get()
    assert (case.source, case.opened_by, case.description) == (
        CaseSource.STAFF,
        agent,
        "New address: 1 Binjiang Rd.",
    )
    html = done.content.decode()
    assert f"Case {tag} #{case.pk} opened on order {order.number}." in html
    assert f"{tag} #{case.pk}" in panel_of(html)
    order.refresh_from_db()
    assert order.status == S.ON_HOLD

    again = client.post(
        f"{NEW}?order={order.pk}",
        {"type": types_pk("address_change"), "description": "Again."},
        follow=True,
    )
    assert f"already open on order {order.number}: #{case.pk}" in again.content.decode()
    assert ExceptionCase.objects.count() == 1


def types_pk(code: str) -> int:
    from exceptions.models import ExceptionType

    return ExceptionType.objects.get(code=code).pk


def test_the_form_refuses_what_it_must(client, agent, warehouse_clerk, order):
    anonymous = client.get(f"{NEW}?order={order.pk}")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))

    client.force_login(warehouse_clerk)
    assert client.get(f"{NEW}?order={order.pk}").status_code == 403

    client.force_login(agent)
    for bad in ("", "abc", "0", "-1", "99999999", "1%00", "٣", "9" * 30):
        assert client.get(f"{NEW}?order={bad}").status_code == 404, bad
    empty = client.post(f"{NEW}?order={order.pk}", {"type": types_pk("gift_addition")})
    assert empty.status_code == 200
    assert "This field is required." in empty.content.decode()
    assert not ExceptionCase.objects.exists()


def test_a_closed_order_is_refused_in_the_form(client, agent, order):
    Order.objects.filter(pk=order.pk).update(status=S.DISPATCHED)
    client.force_login(agent)

    response = client.post(
        f"{NEW}?order={order.pk}",
        {"type": types_pk("invoice_reissue"), "description": "Too late."},
    )

    assert response.status_code == 200
    assert "no exception case can be opened" in response.content.decode()
    assert not ExceptionCase.objects.exists()
