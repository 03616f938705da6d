"""The exception pool: claim next (blocking and earliest due first, only my teams),
claim, assign, release, resolve and reject with their permissions, and the audit trail.
Plus two people claiming at once on PostgreSQL never get the same case."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from backoffice.claims import workload_counts
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from exceptions.services.cases import (
    case_assign,
    case_claim,
    case_claim_next,
    case_open,
    case_reject,
    case_release,
    case_reopen,
    case_resolve,
    queue_name,
)
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams
from orders.services import ActionForbidden, InvalidOrderInput, TransitionRefused
from orders.tests.factories import UserFactory, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _types(exception_types):
    return exception_types


def open_case(code, *, order=None, at=None):
    order = order or make_order()
    case, created = case_open(order, type=code, source=CaseSource.STAFF, now=at)
    assert created
    return case


def audit_of(case, verb):
    return AuditEvent.objects.filter(subject_id=str(case.order_id), verb=verb)


# --- Claim next ---------------------------------------------------------------------


def test_claim_next_hands_out_blocking_cases_first_then_the_earliest_due(service_agent):
    now = timezone.now()
    # Opened at different times: the SLA (30 min address, 60 min gift, 120 min returns)
    # gives the due times.
    returns_early = open_case("return_exchange_sync", at=now - timedelta(hours=5))  # overdue
    gift = open_case("gift_addition", at=now - timedelta(minutes=10))  # due in 50 min
    address = open_case("address_change", at=now)  # due in 30 min
    not_mine = open_case("presale_payment_due", at=now - timedelta(hours=9))  # finance

    got = [case_claim_next(user=service_agent) for _ in range(4)]

    assert [c.pk if c else None for c in got] == [address.pk, gift.pk, returns_early.pk, None]
    assert ExceptionCase.objects.get(pk=not_mine.pk).status == CaseStatus.OPEN
    for case in got[:3]:
        case.refresh_from_db()
        assert (case.status, case.claimed_by) == (CaseStatus.CLAIMED, service_agent)
    assert workload_counts(queue_name(address.team_id), service_agent.pk) == (3, 3)
    assert audit_of(address, "exception.claimed").get().actor == service_agent


def test_claim_next_orders_across_all_my_teams(service_agent):
    """Someone in two teams gets the blocking case of either team first."""
    service_agent.groups.add(Group.objects.get(name=teams.FINANCE))
    now = timezone.now()
    price = open_case("price_difference", at=now - timedelta(hours=5))  # finance, overdue
    address = open_case("address_change", at=now)  # customer service, blocking

    first = case_claim_next(user=service_agent)
    second = case_claim_next(user=service_agent)

    assert (first.pk, second.pk) == (address.pk, price.pk)


def test_claim_next_skips_cases_already_claimed(service_agent, service_agent2):
    first = open_case("address_change")
    second = open_case("gift_addition")
    case_claim(first, by=service_agent2)
    assert case_claim_next(user=service_agent).pk == second.pk
    assert case_claim_next(user=service_agent) is None


@pytest.mark.parametrize("who", ["qc_clerk", "outsider"])
def test_claim_next_is_refused_without_the_permission_to_work_cases(request, who):
    open_case("address_change")
    with pytest.raises(ActionForbidden):
        case_claim_next(user=request.getfixturevalue(who))
    assert not ExceptionCase.objects.filter(claimed_by__isnull=False).exists()


def test_claim_next_of_someone_whose_teams_have_nothing_waiting_is_none(sales_clerk):
    open_case("address_change")  # customer service's
    assert case_claim_next(user=sales_clerk) is None


# --- Claim, release -------------------------------------------------------------------


def test_claiming_a_case_of_another_team_is_refused(finance_agent):
    case = open_case("address_change")
    with pytest.raises(ActionForbidden):
        case_claim(case, by=finance_agent)
    case.refresh_from_db()
    assert case.claimed_by is None


def test_a_case_someone_handles_cannot_be_claimed_again(service_agent, service_agent2):
    case = open_case("address_change")
    case_claim(case, by=service_agent)
    with pytest.raises(TransitionRefused):
        case_claim(ExceptionCase.objects.get(pk=case.pk), by=service_agent2)
    assert ExceptionCase.objects.get(pk=case.pk).claimed_by == service_agent


def test_claiming_from_a_stale_page_leaves_the_counters_right(service_agent, service_agent2):
    """The page still showed the case as someone's; it was put back since."""
    kept = case_claim(open_case("gift_addition"), by=service_agent)
    case = case_claim(open_case("address_change"), by=service_agent)
    stale = ExceptionCase.objects.get(pk=case.pk)
    case_release(case, by=service_agent)

    case_claim(stale, by=service_agent2)

    queue = queue_name(case.team_id)
    assert ExceptionCase.objects.get(pk=kept.pk).claimed_by == service_agent
    assert workload_counts(queue, service_agent.pk) == (2, 1)
    assert workload_counts(queue, service_agent2.pk) == (2, 1)


def test_releasing_puts_the_case_back_in_the_pool(service_agent, service_agent2):
    case = open_case("address_change")
    case_claim(case, by=service_agent)
    with pytest.raises(ActionForbidden):
        case_release(case, by=UserFactory(username="stranger"))

    case_release(case, by=service_agent)

    case.refresh_from_db()
    assert (case.status, case.claimed_by) == (CaseStatus.OPEN, None)
    assert workload_counts(queue_name(case.team_id), service_agent.pk) == (0, 0)
    assert case_claim_next(user=service_agent2).pk == case.pk
    assert audit_of(case, "exception.released").get().actor == service_agent


# --- Assign ---------------------------------------------------------------------------


def test_a_supervisor_assigns_cases_to_a_team_member(supervisor, service_agent):
    cases = [open_case("address_change"), open_case("gift_addition")]

    assert case_assign(cases, user=service_agent, by=supervisor) == 2

    for case in cases:
        case.refresh_from_db()
        assert (case.status, case.claimed_by) == (CaseStatus.CLAIMED, service_agent)
        event = audit_of(case, "exception.assigned").get()
        assert (event.actor, event.payload["assignee"]) == (supervisor, "service_agent")
    assert workload_counts(queue_name(cases[0].team_id), service_agent.pk) == (2, 2)


def test_reassigning_moves_the_claim_and_its_counters(supervisor, service_agent, service_agent2):
    case = open_case("address_change")
    case_claim(case, by=service_agent)

    case_assign([ExceptionCase.objects.get(pk=case.pk)], user=service_agent2, by=supervisor)

    assert ExceptionCase.objects.get(pk=case.pk).claimed_by == service_agent2
    queue = queue_name(case.team_id)
    assert workload_counts(queue, service_agent.pk) == (1, 0)
    assert workload_counts(queue, service_agent2.pk) == (1, 1)


def test_assigning_needs_the_assign_permission(service_agent, service_agent2):
    case = open_case("address_change")
    with pytest.raises(ActionForbidden):
        case_assign([case], user=service_agent2, by=service_agent)
    assert ExceptionCase.objects.get(pk=case.pk).claimed_by is None


def test_assigning_to_someone_outside_a_case_team_assigns_none_of_them(supervisor, service_agent):
    service_case = open_case("address_change")
    finance_case = open_case("price_difference")

    with pytest.raises(InvalidOrderInput):
        case_assign([service_case, finance_case], user=service_agent, by=supervisor)

    assert not ExceptionCase.objects.filter(claimed_by__isnull=False).exists()
    assert not AuditEvent.objects.filter(verb="exception.assigned").exists()


def test_closed_cases_are_skipped_by_assign(supervisor, service_agent):
    case = open_case("address_change")
    case_resolve(case, by=supervisor, note="done")
    assert case_assign([case], user=service_agent, by=supervisor) == 0


# --- Resolve, reject, reopen ----------------------------------------------------------


def test_resolving_needs_a_note(service_agent):
    case = open_case("address_change")
    with pytest.raises(InvalidOrderInput):
        case_resolve(case, by=service_agent, note="   ")
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_resolving_needs_the_team_or_the_assign_permission(finance_agent, supervisor):
    case = open_case("address_change")
    with pytest.raises(ActionForbidden):
        case_resolve(case, by=finance_agent, note="done")
    with pytest.raises(ActionForbidden):
        case_reject(case, by=finance_agent, note="no")
    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.OPEN

    case_resolve(case, by=supervisor, note="done by the supervisor")

    case.refresh_from_db()
    assert (case.status, case.closed_by, case.resolution_note) == (
        CaseStatus.RESOLVED,
        supervisor,
        "done by the supervisor",
    )


def test_a_team_member_without_the_work_permission_may_not_resolve(service_agent):
    team = Group.objects.get(name=CUSTOMER_SERVICE)
    team.permissions.remove(*team.permissions.filter(codename="work_exceptioncase"))
    viewer = UserFactory(username="cs_viewer", groups=[CUSTOMER_SERVICE])
    case = open_case("address_change")
    with pytest.raises(ActionForbidden):
        case_resolve(case, by=viewer, note="done")


def test_resolving_a_claimed_case_frees_the_claimers_slot(service_agent):
    case = case_claim(open_case("address_change"), by=service_agent)
    case_resolve(case, by=service_agent, note="done")
    case.refresh_from_db()
    assert (case.status, case.claimed_by) == (CaseStatus.RESOLVED, None)
    assert workload_counts(queue_name(case.team_id), service_agent.pk) == (0, 0)


def test_a_closed_case_cannot_be_closed_again(service_agent):
    case = open_case("address_change")
    case_resolve(case, by=service_agent, note="done")
    with pytest.raises(TransitionRefused):
        case_reject(ExceptionCase.objects.get(pk=case.pk), by=service_agent, note="no")


def test_reopening_needs_a_reason_and_is_refused_next_to_an_open_twin(service_agent):
    order = make_order(paid=True)
    case = open_case("invoice_reissue", order=order)
    case_resolve(case, by=None, note="reissued")
    with pytest.raises(InvalidOrderInput):
        case_reopen(case, by=None, reason="")
    open_case("invoice_reissue", order=order)

    with pytest.raises(TransitionRefused):
        case_reopen(case, by=None, reason="again")

    assert ExceptionCase.objects.get(pk=case.pk).status == CaseStatus.RESOLVED


def test_every_change_is_audited_on_the_order_with_who_did_it(
    supervisor, service_agent, service_agent2
):
    case, _ = case_open(
        make_order(), type="address_change", source=CaseSource.STAFF, by=service_agent
    )
    case_claim(case, by=service_agent)
    case_release(case, by=service_agent)
    case_assign([case], user=service_agent2, by=supervisor)
    case_resolve(case, by=service_agent2, note="label changed")
    case_reopen(case, by=service_agent, reason="wrong house number")
    case_reject(case, by=supervisor, note="customer gave up")

    rows = list(
        AuditEvent.objects.filter(subject_id=str(case.order_id), verb__startswith="exception.")
        .order_by("at", "id")
        .values_list("verb", "actor__username", "payload__case")
    )
    assert rows == [
        ("exception.opened", "service_agent", case.pk),
        ("exception.claimed", "service_agent", case.pk),
        ("exception.released", "service_agent", case.pk),
        ("exception.assigned", "supervisor", case.pk),
        ("exception.resolved", "service_agent2", case.pk),
        ("exception.reopened", "service_agent", case.pk),
        ("exception.rejected", "supervisor", case.pk),
    ]
    resolved = AuditEvent.objects.get(verb="exception.resolved")
    assert resolved.reason == "label changed"
    assert resolved.payload["tag"] == "【改址】"


# --- Concurrency (PostgreSQL) -------------------------------------------------------------

CASES, PEOPLE, ATTEMPTS = 60, 2, 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_claiming_next_at_once_never_get_the_same_case():
    from exceptions.demo import exceptions_types_ensure

    exceptions_types_ensure()
    start = timezone.now() - timedelta(hours=2)
    for index in range(CASES):
        case_open(
            make_order(),
            type="address_change" if index % 3 else "return_exchange_sync",
            source=CaseSource.STAFF,
            now=start + timedelta(seconds=index),
        )
    people = [UserFactory(username=f"cs{i}", groups=[CUSTOMER_SERVICE]) for i in range(PEOPLE)]
    claimed: dict[int, list[int]] = {p.pk: [] for p in people}
    errors: list[str] = []
    barrier = threading.Barrier(PEOPLE)

    def worker(person):
        try:
            barrier.wait()
            for _ in range(ATTEMPTS):
                case = case_claim_next(user=person)
                if case is not None:
                    claimed[person.pk].append(case.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    handed_out = [pk for pks in claimed.values() for pk in pks]
    assert len(handed_out) == len(set(handed_out)), "a case was claimed twice"
    assert len(handed_out) == CASES
    in_db = dict(
        ExceptionCase.objects.filter(claimed_by__isnull=False).values_list("pk", "claimed_by_id")
    )
    assert in_db == {pk: person for person, pks in claimed.items() for pk in pks}
    assert not ExceptionCase.objects.filter(status=CaseStatus.OPEN).exists()
    assert AuditEvent.objects.filter(verb="exception.claimed").count() == CASES
    team = ExceptionCase.objects.first().team_id
    assert workload_counts(queue_name(team))[0] == CASES
    assert sum(workload_counts(queue_name(team), p.pk)[1] for p in people) == CASES
