"""Stage circuit breakers: trip at the threshold, hysteresis, reset, on-entry check, admin."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from backoffice.claims import ClaimLimits, ClaimRefused
from backoffice.notifications.models import (
    ChannelKind,
    DeliveryAttempt,
    Message,
    Notification,
    NotificationChannel,
)
from orders import events, teams
from orders.admin.flow import StageSettingForm
from orders.models import BreakerEvent, BreakerState, Order, StageBreaker, StageSetting
from orders.services import breakers, order_complete_stage
from orders.services.breakers import breakers_evaluate
from orders.services.queues import order_claim_next, order_pin, stage_limits
from orders.states import MAIN_LINE, OrderStatus
from orders.tests.factories import (
    UserFactory,
    bulk_waiting_orders,
    make_order,
    stage_configure,
)

S = OrderStatus
OPEN, HALF_OPEN, CLOSED = BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED
TRIP, RESET = BreakerEvent.Kind.TRIP, BreakerEvent.Kind.RESET
URGENT, INFO = Notification.Level.URGENT, Notification.Level.INFO

pytestmark = pytest.mark.django_db

# A Monday morning in the project's time zone; the clock stands still unless moved.
START = datetime(2025, 9, 29, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def bulk_orders(count: int, *, stage=S.PICKING, start=None, **fields) -> list[int]:
    start = start or START - timedelta(hours=5)
    return bulk_waiting_orders(count, stage=stage, start=start, **fields)


def configure(stage=S.PICKING, **fields) -> StageSetting:
    return stage_configure(stage, **fields)


def pinned_ids() -> set[int]:
    return set(Order.objects.filter(pinned=True).values_list("pk", flat=True))


def notifications_of(user, level=None) -> list[str]:
    rows = Notification.objects.filter(recipient=user)
    if level is not None:
        rows = rows.filter(level=level)
    return list(rows.values_list("text", flat=True))


@pytest.fixture(autouse=True)
def entry_check_every_time(settings):
    """The on-entry check is throttled per process: off in tests, and forget past checks."""
    settings.BREAKER_ENTRY_CHECK_SECONDS = 0
    breakers._entry_checked.clear()
    yield
    breakers._entry_checked.clear()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(db):
    """The picking stage's owner (a person)."""
    return UserFactory(username="picking_lead", email="lead@example.com")


@pytest.fixture
def picker(db):
    return UserFactory(username="picker", email="picker@example.com", groups=[teams.WAREHOUSE])


@pytest.fixture
def holder(db):
    """Someone holding claims (outside the owner team): a claimed order is not waiting."""
    return UserFactory(username="holder")


@pytest.fixture
def email_channel(db):
    # Blank target: written to the recipients' own addresses.
    return NotificationChannel.objects.create(name="Leads mail", kind=ChannelKind.EMAIL)


@pytest.fixture
def picking(lead, email_channel):
    setting = configure(
        S.PICKING,
        breaker_threshold=5,
        breaker_reset_percent=60,
        breaker_reset_minutes=5,
        pin_count=3,
        wip_limit=10,
        person_cap=5,
        reduced_wip_limit=4,
        reduced_person_cap=1,
        owner_user=lead,
        owner_group=Group.objects.get(name=teams.WAREHOUSE),
    )
    setting.channels.add(email_channel)
    return setting


def test_the_breaker_trips_at_the_threshold_pins_the_oldest_and_alarms_the_owner_once(
    clock, picking, lead, picker, sales_clerk, email_channel, django_capture_on_commit_callbacks
):
    ids = bulk_orders(4)
    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == CLOSED
    assert not BreakerEvent.objects.exists()
    assert not Notification.objects.exists() and mail.outbox == []

    ids += bulk_orders(1, start=START - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == OPEN

    [event] = BreakerEvent.objects.all()
    assert (event.stage, event.kind, event.backlog, event.threshold) == (S.PICKING, TRIP, 5, 5)
    assert event.oldest_age_seconds == 5 * 3600
    assert (event.pinned, event.wip_limit, event.person_cap) == (3, 4, 1)
    # The three oldest waiting orders, and only those, go to the top of the queue.
    assert pinned_ids() == set(ids[:3])
    assert StageBreaker.objects.get(stage=S.PICKING).pinned_ids == ids[:3]
    assert AuditEvent.objects.filter(verb=events.BREAKER_TRIPPED).count() == 1

    # The owner person and the owner team: one urgent in-app message each.
    for owner in (lead, picker):
        [text] = notifications_of(owner)
        assert Notification.objects.get(recipient=owner).level == URGENT
        assert str(S.PICKING.label) in text and "5 orders waiting" in text
    assert notifications_of(sales_clerk) == []
    assert sorted(event.notified) == sorted(["@picking_lead", "@picker", email_channel.name])
    # ...and the mail went out to their own addresses.
    [sent] = mail.outbox
    assert sorted(sent.to) == ["lead@example.com", "picker@example.com"]
    assert "[URGENT]" in sent.subject and str(S.PICKING.label) in sent.subject
    [message] = Message.objects.filter(event=event.notification_event)
    assert (message.status, message.delivered_channel) == (Message.Status.DELIVERED, email_channel)

    # While open the reduced limits apply to claims.
    assert stage_limits(picking, breaker_open=True) == ClaimLimits(wip_limit=4, person_cap=1)
    assert order_claim_next(stage=S.PICKING, user=picker).pk == ids[0]
    with pytest.raises(ClaimRefused) as refused:
        order_claim_next(stage=S.PICKING, user=picker)
    assert refused.value.code == "person_cap"

    # Still over the threshold a minute later: nobody is told again.
    bulk_orders(2)
    clock.shift(timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == OPEN
    assert BreakerEvent.objects.count() == 1
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 1
    assert StageBreaker.objects.get(stage=S.PICKING).backlog == 6


def set_waiting(ids: list[int], count: int, *, holder) -> None:
    """Exactly `count` of `ids` wait in the queue; the others are claimed by `holder`."""
    Order.objects.filter(pk__in=ids[:count]).update(claimed_by=None)
    Order.objects.filter(pk__in=ids[count:]).update(claimed_by=holder)


def test_a_backlog_oscillating_around_the_threshold_trips_once_and_recovers_slowly(
    clock, lead, holder, django_capture_on_commit_callbacks
):
    configure(
        breaker_threshold=10,
        breaker_reset_percent=60,  # the reset mark: below 6
        breaker_reset_minutes=5,
        owner_user=lead,
    )
    ids = bulk_orders(12)
    # (waiting orders, state after the evaluation), one minute apart.
    steps = [
        (10, OPEN),
        (9, OPEN),
        (11, OPEN),
        (7, OPEN),
        (6, OPEN),  # at the mark is not below it
        (10, OPEN),
        (5, HALF_OPEN),
        (8, OPEN),  # back up while recovering: open again, no new trip
        (5, HALF_OPEN),
        (4, HALF_OPEN),
        (6, OPEN),
        (3, HALF_OPEN),  # below since this minute...
        (2, HALF_OPEN),
        (5, HALF_OPEN),
        (1, HALF_OPEN),
        (5, HALF_OPEN),  # ...four minutes below
        (4, CLOSED),  # five minutes below: closed
        (9, CLOSED),  # under the threshold: stays closed
    ]
    seen = []
    for minute, (waiting, _expected) in enumerate(steps):
        clock.move_to(START + timedelta(minutes=minute))
        set_waiting(ids, waiting, holder=holder)
        with django_capture_on_commit_callbacks(execute=True):
            seen.append((waiting, breakers_evaluate(stages=[S.PICKING])[S.PICKING]))
        breaker = StageBreaker.objects.get(stage=S.PICKING)
        assert breaker.state == seen[-1][1]
        if breaker.state == HALF_OPEN:
            assert breaker.below_since is not None
        else:
            assert breaker.below_since is None
    assert seen == steps

    assert list(BreakerEvent.objects.order_by("at").values_list("kind", "at")) == [
        (TRIP, START),
        (RESET, START + timedelta(minutes=16)),
    ]
    assert len(notifications_of(lead, URGENT)) == 1
    assert len(notifications_of(lead, INFO)) == 1


def test_reset_closes_unpins_what_it_pinned_and_restores_the_limits(
    clock, picking, lead, picker, holder, supervisor, django_capture_on_commit_callbacks
):
    configure(pin_count=2)  # reset mark: 5 * 60 % = below 3
    manual, *rest = bulk_orders(5)
    order_pin(Order.objects.get(pk=manual), by=supervisor, pinned=True, reason="VIP")
    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == OPEN
    trip_pinned = rest[:2]
    assert pinned_ids() == {manual, *trip_pinned}
    assert BreakerEvent.objects.get().pinned == 2

    # The backlog drains: the manually pinned order is being worked, two others moved on.
    Order.objects.filter(pk=manual).update(claimed_by=holder)
    Order.objects.filter(pk__in=rest[2:]).update(status=S.QUALITY_CHECK)
    clock.shift(timedelta(minutes=1))
    assert breakers_evaluate()[S.PICKING] == HALF_OPEN
    clock.shift(timedelta(minutes=4, seconds=59))
    assert breakers_evaluate()[S.PICKING] == HALF_OPEN
    clock.shift(timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == CLOSED

    reset = BreakerEvent.objects.get(kind=RESET)
    assert (reset.backlog, reset.wip_limit, reset.person_cap) == (2, 10, 5)
    assert pinned_ids() == {manual}
    assert StageBreaker.objects.get(stage=S.PICKING).pinned_ids == []
    assert AuditEvent.objects.filter(verb=events.BREAKER_RESET).count() == 1
    [notice] = notifications_of(lead, INFO)
    assert "recovered" in notice and "2 orders unpinned" in notice
    assert len(notifications_of(lead, URGENT)) == 1
    assert len(mail.outbox) == 2  # the alarm and the recovery
    assert sorted(reset.notified) == sorted(["@picking_lead", "@picker", "Leads mail"])

    # Normal limits again: the per-person cap is 5, not 1.
    assert stage_limits(picking, breaker_open=False) == ClaimLimits(wip_limit=10, person_cap=5)
    claimed = [order_claim_next(stage=S.PICKING, user=picker).pk for _ in range(2)]
    assert sorted(claimed) == sorted(trip_pinned)


def test_completing_a_stage_that_fills_the_next_one_trips_its_breaker_after_commit(
    supervisor, django_capture_on_commit_callbacks
):
    configure(S.FINANCE_REVIEW, breaker_threshold=3)
    bulk_orders(2, stage=S.FINANCE_REVIEW)
    order = make_order()
    assert order.status == S.SALES_REVIEW

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order_complete_stage(order, by=supervisor)
        # Nothing is counted before the transition commits.
        assert not BreakerEvent.objects.exists()

    assert callbacks
    assert order.status == S.FINANCE_REVIEW
    assert StageBreaker.objects.get(stage=S.FINANCE_REVIEW).state == OPEN
    event = BreakerEvent.objects.get()
    assert (event.stage, event.kind, event.backlog) == (S.FINANCE_REVIEW, TRIP, 3)
    # No owner set: the supervisors are told.
    assert len(notifications_of(supervisor, URGENT)) == 1


def test_the_on_entry_check_is_throttled_per_stage(settings, supervisor):
    settings.BREAKER_ENTRY_CHECK_SECONDS = 3600
    configure(S.FINANCE_REVIEW, breaker_threshold=2)
    bulk_orders(1, stage=S.FINANCE_REVIEW)
    breakers.breaker_check_on_entry(S.FINANCE_REVIEW)  # 1 waiting: checked, nothing to do
    bulk_orders(1, stage=S.FINANCE_REVIEW)

    breakers.breaker_check_on_entry(S.FINANCE_REVIEW)  # within the throttle: skipped

    assert not BreakerEvent.objects.exists()
    breakers.breaker_check_on_entry(S.PICKING)  # another stage has its own throttle
    breakers._entry_checked.clear()
    breakers.breaker_check_on_entry(S.FINANCE_REVIEW)
    assert BreakerEvent.objects.get().stage == S.FINANCE_REVIEW


# --- admin -----------------------------------------------------------------------


def test_the_order_list_shows_the_breaker_banner_while_open(admin_client, picking):
    changelist = reverse("admin:orders_order_changelist")
    bulk_orders(5)
    breakers_evaluate()
    assert breakers_evaluate()[S.PICKING] == OPEN  # (the owner was told once)

    html = admin_client.get(changelist).content.decode()
    assert 'id="breaker-banner"' in html
    assert "5 waiting" in html

    StageBreaker.objects.filter(stage=S.PICKING).update(state=CLOSED)
    assert 'id="breaker-banner"' not in admin_client.get(changelist).content.decode()


def test_the_breaker_event_page_shows_who_was_told_and_the_deliveries(
    admin_client, picking, email_channel, django_capture_on_commit_callbacks
):
    bulk_orders(5)
    with django_capture_on_commit_callbacks(execute=True):
        breakers_evaluate()
    event = BreakerEvent.objects.get()
    assert DeliveryAttempt.objects.filter(message__event=event.notification_event).count() == 1

    response = admin_client.get(reverse("admin:orders_breakerevent_change", args=[event.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{email_channel.name}: OK (" in html
    assert "@picking_lead" in html
    assert admin_client.get(reverse("admin:orders_breakerevent_changelist")).status_code == 200


def stage_setting_form_data(setting: StageSetting, **changes) -> dict:
    data = model_to_dict(setting, fields=StageSettingForm.Meta.fields)
    data["channels"] = [channel.pk for channel in data["channels"]]
    data = {name: "" if value is None else value for name, value in data.items()}
    return {**data, **changes}


def test_changing_a_stage_setting_needs_a_reason_and_is_audited(admin_client, admin_user, picking):
    url = reverse("admin:orders_stagesetting_change", args=[picking.pk])
    assert admin_client.get(url).status_code == 200

    refused = admin_client.post(
        url, stage_setting_form_data(picking, breaker_threshold=20, change_reason="")
    )
    assert refused.status_code == 200
    assert "change_reason" in refused.context["adminform"].form.errors
    assert StageSetting.objects.get(pk=picking.pk).breaker_threshold == 5

    saved = admin_client.post(
        url,
        stage_setting_form_data(
            picking, breaker_threshold=20, reduced_person_cap=2, change_reason="Double 11 peak"
        ),
    )

    assert saved.status_code == 302
    picking.refresh_from_db()
    assert (picking.breaker_threshold, picking.reduced_person_cap) == (20, 2)
    [audit] = AuditEvent.objects.filter(verb=events.STAGE_SETTING_CHANGED)
    assert (audit.actor, audit.reason) == (admin_user, "Double 11 peak")
    assert audit.payload == {
        "stage": S.PICKING,
        "changed": {"breaker_threshold": "20", "reduced_person_cap": "2"},
    }


# --- cost ------------------------------------------------------------------------


def test_evaluating_the_breakers_costs_the_same_queries_for_10_or_200_orders(
    django_assert_max_num_queries,
):
    for stage in MAIN_LINE:
        configure(stage, breaker_threshold=1000)
    bulk_orders(10)
    breakers_evaluate()  # creates the breaker rows

    with CaptureQueriesContext(connection) as few:
        states = breakers_evaluate()
    for stage in MAIN_LINE:
        bulk_orders(190 // len(MAIN_LINE) + 1, stage=stage)
    assert Order.objects.count() >= 200
    with django_assert_max_num_queries(6), CaptureQueriesContext(connection) as many:
        assert breakers_evaluate() == states

    assert set(states.values()) == {CLOSED}
    assert len(many) == len(few)
    assert not BreakerEvent.objects.exists()


def test_an_urgent_trip_reaches_the_owners_by_mail_even_when_mail_is_not_the_first_channel(
    clock, picking, lead, email_channel, httpserver, django_capture_on_commit_callbacks
):
    robot = NotificationChannel.objects.create(
        name="Warehouse robot", kind=ChannelKind.WECOM, target=httpserver.url_for("/robot")
    )
    httpserver.expect_request("/robot", method="POST").respond_with_json({"errcode": 0})
    picking.channels.set([robot, email_channel])  # the robot has the lower id: tried first
    bulk_orders(5)

    with django_capture_on_commit_callbacks(execute=True):
        assert breakers_evaluate()[S.PICKING] == OPEN

    # One message per channel, each with the other as fallback; both delivered on their own.
    messages = Message.objects.filter(event=BreakerEvent.objects.get().notification_event)
    assert {m.delivered_channel for m in messages} == {robot, email_channel}
    assert "lead@example.com" in mail.outbox[0].to
    assert len(httpserver.log) == 1
    # The in-app copy is written once per owner, not once per channel.
    assert len(notifications_of(lead)) == 1
