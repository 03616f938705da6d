"""The exception pool in the admin, driven with the test client: my team's cases first
with their tag and SLA countdown, claim next, resolve with a note, bulk assign and bulk
resolve, every filter; never a server error."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from exceptions.models import CaseSource, CaseStatus, ExceptionCase, ExceptionType
from exceptions.services.cases import case_claim, case_open, case_resolve
from orders.models import Order
from orders.states import OrderStatus
from orders.tests.factories import make_order
from orders.tests.test_lifecycle import to_stage

S = OrderStatus
pytestmark = pytest.mark.django_db
POOL = "admin:exceptions_exceptioncase_changelist"


@pytest.fixture(autouse=True)
def _types(exception_types):
    return exception_types


def open_case(code, *, order=None, at=None):
    case, created = case_open(
        order or make_order(), type=code, source=CaseSource.STAFF, now=at, description="why"
    )
    assert created
    return case


def case_url(case, view="change"):
    return reverse(f"admin:exceptions_exceptioncase_{view}", args=[case.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def listed(response) -> list[int]:
    return [case.pk for case in response.context["cl"].result_list]


@pytest.fixture
def agent_client(client, service_agent):
    client.force_login(service_agent)
    return client


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


# --- The list --------------------------------------------------------------------------


def test_a_team_member_sees_the_team_cases_first_with_tag_and_countdown(agent_client):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        finance = open_case("price_difference", at=now - timedelta(hours=3))  # not my team
        returns = open_case("return_exchange_sync", at=now - timedelta(minutes=30))
        address = open_case("address_change", at=now)

        response = agent_client.get(reverse(POOL))
        everyone = agent_client.get(reverse(POOL), {"team": "all"})

    assert response.status_code == everyone.status_code == 200
    # My teams' pool by default, holding cases on top, then by due time; all teams
    # one click away, in the same order.
    assert listed(response) == [address.pk, returns.pk]
    assert listed(everyone) == [address.pk, finance.pk, returns.pk]
    html = response.content.decode() + everyone.content.decode()
    assert '<span class="case-tag blocking" title="Address change">[Address change]</span>' in html
    assert '<span class="case-tag" title="Price difference">[Price difference]</span>' in html
    assert '<span class="sla-left">30 min left</span>' in html
    assert '<span class="sla-left">1 h 30 min left</span>' in html
    assert '<span class="sla-overdue">overdue by 1 h 00 min</span>' in html
    assert 'id="claim-next-case"' in html


def test_the_tags_are_chinese_when_the_language_is_chinese(agent_client):
    open_case("address_change")
    agent_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = agent_client.get(reverse(POOL))
    assert response.status_code == 200
    html = response.content.decode()
    assert "【改址】" in html
    assert "[Address change]" not in html


def test_a_case_turns_red_overdue_after_its_due_time(agent_client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        case = open_case("address_change")  # 30 minutes
        html = agent_client.get(reverse(POOL)).content.decode()
        assert 'class="sla-left"' in html and 'class="sla-overdue"' not in html
    with time_machine.travel(start + timedelta(minutes=45), tick=False):
        response = agent_client.get(reverse(POOL))
        page = agent_client.get(case_url(case))
        overdue = agent_client.get(reverse(POOL), {"state": "overdue"})
    assert 'class="sla-overdue">overdue by 15' in response.content.decode()
    assert page.status_code == 200
    assert '<span class="sla-overdue">overdue</span>' in page.content.decode()
    assert listed(overdue) == [case.pk]


def test_the_list_page_reads_a_fixed_number_of_queries(agent_client, django_assert_max_num_queries):
    for code in ("address_change", "gift_addition", "return_exchange_sync", "price_difference"):
        for _ in range(4):
            open_case(code)
    with django_assert_max_num_queries(20):
        response = agent_client.get(reverse(POOL), {"team": "all"})
    assert len(listed(response)) == 16


def test_the_team_filter_defaults_to_my_teams_and_offers_all(agent_client, supervisor, client):
    mine, other = open_case("address_change"), open_case("price_difference")
    html = agent_client.get(reverse(POOL)).content.decode()
    assert "My teams" in html and "All teams" in html
    assert listed(agent_client.get(reverse(POOL))) == [mine.pk]
    client.force_login(supervisor)  # in no exception team: sees every team's cases
    assert set(listed(client.get(reverse(POOL)))) == {mine.pk, other.pk}
    assert agent_client.get(reverse(POOL), {"team": "nonsense"}).status_code == 200


# --- Claim next, claim, resolve on the page ---------------------------------------------


def test_the_claim_next_button_hands_me_the_most_urgent_case(agent_client, service_agent):
    open_case("return_exchange_sync")
    address = open_case("address_change")

    response = agent_client.post(reverse("admin:exceptions_exceptioncase_claim_next"))

    assert response.status_code == 302 and response.url == case_url(address)
    address.refresh_from_db()
    assert (address.status, address.claimed_by) == (CaseStatus.CLAIMED, service_agent)
    page = agent_client.get(response.url)
    assert page.status_code == 200
    assert "handled by service_agent" in page.content.decode()


def test_claim_next_with_nothing_waiting_says_so(agent_client):
    response = agent_client.post(reverse("admin:exceptions_exceptioncase_claim_next"), follow=True)
    assert response.status_code == 200
    assert "Nothing is waiting in your teams' pool." in messages_of(response)


def test_claim_next_without_permission_is_refused_with_a_message(client, qc_clerk):
    open_case("address_change")
    client.force_login(qc_clerk)
    page = client.get(reverse(POOL))
    assert page.status_code == 200 and 'id="claim-next-case"' not in page.content.decode()

    response = client.post(reverse("admin:exceptions_exceptioncase_claim_next"))

    assert response.status_code == 302
    assert messages_of(response) == ["You do not have permission for this step."]
    assert not ExceptionCase.objects.filter(claimed_by__isnull=False).exists()


def test_the_claim_button_on_the_case_page(agent_client, service_agent):
    case = open_case("gift_addition")
    page = agent_client.get(case_url(case))
    html = page.content.decode()
    assert 'id="claim-case"' in html and "确认赠品库存" in html  # the checklist
    response = agent_client.post(case_url(case, "claim"))
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.claimed_by == service_agent
    again = agent_client.post(case_url(case, "claim"))
    assert "Someone else is already handling this case." in messages_of(again)


def test_resolving_with_a_note_returns_the_order_to_its_stage(
    agent_client, stocked_product, supervisor
):
    order = to_stage(make_order(products=[stocked_product]), S.PICKING, by=supervisor)
    case = open_case("address_change", order=order)
    assert Order.objects.get(pk=order.pk).status == S.ON_HOLD
    form = agent_client.get(case_url(case, "resolve"))
    assert form.status_code == 200 and "通知仓库" in form.content.decode()

    response = agent_client.post(case_url(case, "resolve"), {"note": "label reprinted"})

    assert response.status_code == 302 and response.url == case_url(case)
    case.refresh_from_db()
    assert (case.status, case.resolution_note) == (CaseStatus.RESOLVED, "label reprinted")
    assert Order.objects.get(pk=order.pk).status == S.PICKING
    assert "Case resolved." in messages_of(response)


def test_resolving_without_a_note_shows_the_form_again(agent_client):
    case = open_case("address_change")
    response = agent_client.post(case_url(case, "resolve"), {"note": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_resolving_another_teams_case_shows_the_refusal(client, finance_agent):
    case = open_case("address_change")
    client.force_login(finance_agent)
    response = client.post(case_url(case, "resolve"), {"note": "done"})
    assert response.status_code == 200
    assert "You do not have permission for this step." in response.content.decode()
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_reject_release_and_reopen_pages(agent_client, service_agent):
    case = case_claim(open_case("address_change"), by=service_agent)
    assert agent_client.post(case_url(case, "release")).status_code == 302
    assert ExceptionCase.objects.get(pk=case.pk).claimed_by is None
    assert agent_client.get(case_url(case, "reject")).status_code == 200
    assert agent_client.post(case_url(case, "reject"), {"note": "duplicate"}).status_code == 302
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.REJECTED
    closed_page = agent_client.get(case_url(case))
    assert closed_page.status_code == 200 and "Reopen" in closed_page.content.decode()
    assert agent_client.get(case_url(case, "reopen")).status_code == 200
    assert agent_client.post(case_url(case, "reopen"), {"note": "called again"}).status_code == 302
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN
    # A GET on a POST-only endpoint just shows the case.
    assert agent_client.get(case_url(case, "claim")).status_code == 302


def test_someone_without_view_permission_cannot_open_the_pool(client, warehouse_clerk, outsider):
    case = open_case("address_change")
    client.force_login(outsider)
    assert client.get(reverse(POOL)).status_code == 403
    assert client.get(case_url(case)).status_code == 403
    assert client.post(case_url(case, "resolve"), {"note": "x"}).status_code == 403
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN


# --- Bulk actions --------------------------------------------------------------------------


def test_bulk_assign_asks_for_the_person_then_assigns(supervisor_client, service_agent):
    cases = [open_case("address_change"), open_case("gift_addition")]
    selected = [c.pk for c in cases]

    form = supervisor_client.post(
        reverse(POOL), {"action": "assign_action", "_selected_action": selected}
    )
    assert form.status_code == 200
    assert 'name="apply"' in form.content.decode()

    response = supervisor_client.post(
        reverse(POOL),
        {
            "action": "assign_action",
            "_selected_action": selected,
            "apply": "1",
            "user": service_agent.pk,
        },
    )

    assert response.status_code == 302
    assert "2 cases assigned." in messages_of(response)
    assert set(
        ExceptionCase.objects.filter(pk__in=selected).values_list("claimed_by", flat=True)
    ) == {service_agent.pk}


def test_bulk_assign_to_someone_outside_the_team_assigns_nothing(supervisor_client, finance_agent):
    case = open_case("address_change")
    response = supervisor_client.post(
        reverse(POOL),
        {
            "action": "assign_action",
            "_selected_action": [case.pk],
            "apply": "1",
            "user": finance_agent.pk,
        },
    )
    assert response.status_code == 302
    assert any("is not in the team" in m for m in messages_of(response))
    assert ExceptionCase.objects.get(pk=case.pk).claimed_by is None


def test_bulk_assign_is_forbidden_without_the_assign_permission(agent_client, service_agent):
    case = open_case("address_change")
    response = agent_client.post(
        reverse(POOL),
        {
            "action": "assign_action",
            "_selected_action": [case.pk],
            "apply": "1",
            "user": service_agent.pk,
        },
    )
    assert response.status_code == 403
    assert ExceptionCase.objects.get(pk=case.pk).claimed_by is None


def test_bulk_resolve_closes_each_case_with_one_note_and_reports_failures(
    agent_client, finance_agent
):
    mine = [open_case("address_change"), open_case("gift_addition")]
    other_team = open_case("price_difference")
    selected = [c.pk for c in [*mine, other_team]]

    pool = reverse(POOL) + "?team=all"
    form = agent_client.post(pool, {"action": "resolve_action", "_selected_action": selected})
    assert form.status_code == 200

    response = agent_client.post(
        pool,
        {
            "action": "resolve_action",
            "_selected_action": selected,
            "apply": "1",
            "note": "called the customers",
        },
    )

    assert response.status_code == 302
    msgs = messages_of(response)
    assert "2 cases resolved." in msgs
    assert any(m.startswith(f"#{other_team.pk}:") for m in msgs)
    for case in mine:
        case.refresh_from_db()
        assert case.status == CaseStatus.RESOLVED
        assert Order.objects.get(pk=case.order_id).status == S.SALES_REVIEW
    assert ExceptionCase.objects.get(pk=other_team.pk).status == CaseStatus.OPEN


# --- Filters and pages: never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"state": "open"},
        {"state": "mine"},
        {"state": "overdue"},
        {"state": "closed"},
        {"state": "all"},
        {"state": "nonsense"},
        {"age": "1"},
        {"age": "4"},
        {"age": "24"},
        {"age": "x"},
        {"blocking__exact": "1"},
        {"source__exact": "detector"},
        {"q": "SO"},
        {"o": "1"},
    ],
)
def test_the_filters_render(supervisor_client, service_agent, query):
    case_claim(open_case("address_change"), by=service_agent)
    closed = open_case("return_exchange_sync", at=timezone.now() - timedelta(days=2))
    case_resolve(closed, by=service_agent, note="synced")
    response = supervisor_client.get(reverse(POOL), query)
    assert response.status_code in (200, 302)


def test_the_state_filters_select_the_right_cases(client, service_agent):
    mine = case_claim(open_case("address_change"), by=service_agent)
    waiting = open_case("gift_addition")
    closed = open_case("return_exchange_sync")
    case_resolve(closed, by=service_agent, note="synced")
    client.force_login(service_agent)

    def state(value):
        return set(listed(client.get(reverse(POOL), {"state": value})))

    assert state("open") == {mine.pk, waiting.pk}
    assert state("mine") == {mine.pk}
    assert state("closed") == {closed.pk}
    assert state("all") == {mine.pk, waiting.pk, closed.pk}


def test_the_team_and_type_filters(supervisor_client):
    address = open_case("address_change")
    price = open_case("price_difference")
    team = supervisor_client.get(reverse(POOL), {"team": address.team_id})
    assert team.status_code == 200 and listed(team) == [address.pk]
    kind = supervisor_client.get(reverse(POOL), {"type__id__exact": price.type_id})
    assert kind.status_code == 200 and listed(kind) == [price.pk]


def test_the_age_filter(supervisor_client):
    old = open_case("address_change", at=timezone.now() - timedelta(hours=5))
    open_case("gift_addition")
    response = supervisor_client.get(reverse(POOL), {"age": "4"})
    assert listed(response) == [old.pk]


def test_the_exception_type_pages_render(supervisor_client):
    listing = supervisor_client.get(reverse("admin:exceptions_exceptiontype_changelist"))
    assert listing.status_code == 200
    assert "【改址】" in listing.content.decode()
    kind = ExceptionType.objects.get(code="address_change")
    page = supervisor_client.get(reverse("admin:exceptions_exceptiontype_change", args=[kind.pk]))
    assert page.status_code == 200


@pytest.mark.parametrize("object_id", ["999", "abc", "1%00"])
def test_a_missing_or_malformed_case_id_is_not_a_server_error(supervisor_client, object_id):
    open_case("address_change")
    url = reverse("admin:exceptions_exceptioncase_change", args=[object_id])
    assert supervisor_client.get(url).status_code in (302, 403, 404)


def test_the_case_pages_of_a_missing_case_are_refused(supervisor_client):
    for view in ("resolve", "reject", "reopen", "claim", "release"):
        response = supervisor_client.post(
            reverse(f"admin:exceptions_exceptioncase_{view}", args=[999]), {"note": "x"}
        )
        assert response.status_code in (403, 404)
