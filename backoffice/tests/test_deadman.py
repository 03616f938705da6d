"""The dead-man alarm: a silent task queue shows a banner and alerts the supervisors
once per outage, without needing the task queue to send the alert."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from backoffice.models import Heartbeat, Outage
from backoffice.notifications.models import ChannelKind, Message, Notification, NotificationChannel
from backoffice.tasks import heartbeat
from orders import teams
from orders.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAX_AGE = 180
START = datetime(2025, 9, 29, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADMIN_PAGES = [
    "admin:index",
    "admin:orders_order_changelist",
    "admin:notifications_notification_changelist",
]
URGENT, INFO = Notification.Level.URGENT, Notification.Level.INFO


@pytest.fixture(autouse=True)
def max_age(settings):
    settings.HEARTBEAT_MAX_AGE = MAX_AGE


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def supervisor(db):
    return UserFactory(username="supervisor", email="sup@example.com", groups=[teams.SUPERVISORS])


@pytest.fixture
def ops_hook(httpserver):
    """The supervisors' alarm channel: a webhook at a real HTTP receiver."""
    httpserver.expect_request("/ops", method="POST").respond_with_data("", status=204)
    return NotificationChannel.objects.create(
        name="Ops hook",
        kind=ChannelKind.WEBHOOK,
        target=httpserver.url_for("/ops"),
        for_supervisors=True,
    )


def banner(client, page: str = "admin:index") -> str | None:
    """The dead-man banner's text on an admin page, or None."""
    response = client.get(reverse(page), follow=True)  # supervisors: to the dashboard
    assert response.status_code == 200
    found = re.search(
        r'<div[^>]*id="deadman-banner"[^>]*>(.*?)</div>', response.content.decode(), re.S
    )
    return " ".join(found.group(1).split()) if found else None


def deadman_check() -> str:
    out = io.StringIO()
    call_command("deadman_check", stdout=out)
    return out.getvalue()


def levels_of(user) -> list[str]:
    return sorted(Notification.objects.filter(recipient=user).values_list("level", flat=True))


def healthz_status(client) -> int:
    return client.get(reverse("healthz")).status_code


def test_a_fresh_heartbeat_shows_no_banner(admin_client, clock, supervisor):
    heartbeat()
    clock.shift(timedelta(seconds=MAX_AGE))  # exactly the allowed age: still fresh

    for page in ADMIN_PAGES:
        assert banner(admin_client, page) is None
    assert "heartbeat fresh" in deadman_check()
    assert not Outage.objects.exists()
    assert levels_of(supervisor) == []


def test_a_stale_heartbeat_shows_the_banner_everywhere_and_alerts_once_without_the_queue(
    admin_client,
    client,
    clock,
    supervisor,
    ops_hook,
    httpserver,
    django_capture_on_commit_callbacks,
):
    heartbeat()
    clock.shift(timedelta(minutes=10))

    with django_capture_on_commit_callbacks() as queued:
        for page in ADMIN_PAGES * 2:
            text = banner(admin_client, page)
            assert "silent for 10 min" in text
        assert "already open" in deadman_check()

    [outage] = Outage.objects.all()
    assert (outage.started_at, outage.last_beat_at, outage.ended_at) == (
        START + timedelta(minutes=10),
        START,
        None,
    )
    assert levels_of(supervisor) == [URGENT]
    # Delivered by the process that noticed, not queued for the (dead) task queue.
    assert queued == []
    [message] = Message.objects.filter(event=f"outage:{outage.pk}")
    assert (message.status, message.delivered_channel) == (Message.Status.DELIVERED, ops_hook)
    [(request, _response)] = httpserver.log
    assert request.get_json()["level"] == URGENT
    assert healthz_status(client) == 503


def test_the_command_alone_opens_the_outage_when_nobody_looks_at_the_admin(
    clock, supervisor, ops_hook, httpserver
):
    heartbeat()
    clock.shift(timedelta(seconds=MAX_AGE + 1))

    assert "outage opened" in deadman_check()
    assert "already open" in deadman_check()

    assert Outage.objects.filter(ended_at=None).count() == 1
    assert levels_of(supervisor) == [URGENT]
    assert len(httpserver.log) == 1


def test_a_new_heartbeat_ends_the_outage_and_a_later_one_alerts_again(
    admin_client, client, clock, supervisor
):
    heartbeat()
    clock.shift(timedelta(minutes=10))
    assert banner(admin_client) is not None
    first = Outage.objects.get()

    clock.shift(timedelta(minutes=5))
    heartbeat()  # the qcluster is back

    first.refresh_from_db()
    assert first.ended_at == START + timedelta(minutes=15)
    assert levels_of(supervisor) == [INFO, URGENT]
    notice = Notification.objects.get(recipient=supervisor, level=INFO).text
    assert "5 min" in notice
    assert banner(admin_client) is None
    assert healthz_status(client) == 200

    heartbeat()  # further beats change nothing
    assert levels_of(supervisor) == [INFO, URGENT]

    clock.shift(timedelta(hours=1))
    assert "silent for 60 min" in banner(admin_client)
    deadman_check()

    assert Outage.objects.count() == 2
    assert Outage.objects.filter(ended_at=None).count() == 1
    assert levels_of(supervisor) == [INFO, URGENT, URGENT]


def test_a_queue_that_never_beat_shows_not_started_and_alerts_nobody(
    admin_client, client, supervisor, ops_hook, httpserver
):
    assert not Heartbeat.objects.exists()

    for page in ADMIN_PAGES:
        assert "has not started yet" in banner(admin_client, page)
    assert "never started" in deadman_check()

    assert not Outage.objects.exists()
    assert levels_of(supervisor) == []
    assert httpserver.log == []
    assert healthz_status(client) == 503


def test_people_without_admin_access_do_not_trigger_the_alarm(client, clock, supervisor):
    heartbeat()
    clock.shift(timedelta(minutes=10))
    # The login page shares the admin layout; only staff see (and raise) the alarm.
    login = client.get(reverse("admin:login"))
    assert login.status_code == 200
    assert 'id="deadman-banner"' not in login.content.decode()
    assert healthz_status(client) == 503
    assert not Outage.objects.exists()
