"""Notification channels and the outbox, against real peers.

A real SMTP server (aiosmtpd) and real HTTP receivers (pytest-httpserver) stand in
for the mail relay and the WeCom / DingTalk / Feishu robots; time-machine moves the
clock for backoff, quiet hours and giving up.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import socket
import threading
import time
import urllib.parse
from datetime import datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule
from pytest_httpserver import HTTPServer
from werkzeug import Response

from backoffice.audit.models import AuditEvent
from backoffice.notifications import tasks
from backoffice.notifications.delivery import backoff_delay, quiet_hours_end
from backoffice.notifications.events import MESSAGE_GIVEN_UP
from backoffice.notifications.models import (
    ChannelKind,
    DeliveryAttempt,
    Message,
    Notification,
    NotificationChannel,
)
from backoffice.notifications.selectors import channels_for_supervisors, messages_for_event
from backoffice.notifications.services import message_deliver, messages_sweep, notify

pytestmark = pytest.mark.django_db

URGENT, INFO = Notification.Level.URGENT, Notification.Level.INFO
OK, ERROR, TIMEOUT = (DeliveryAttempt.Outcome.OK, DeliveryAttempt.Outcome.ERROR,
                      DeliveryAttempt.Outcome.TIMEOUT)  # fmt: skip


# --- peers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps every envelope it receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER = False, ""
    yield mailbox
    controller.stop()


@pytest.fixture
def own_httpserver():
    """Start extra HTTP servers (threaded: a slow handler must not block the others)."""
    servers = []

    def start(*, port: int = 0) -> HTTPServer:
        server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.clear()
        server.stop()


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.NOTIFY_BASE_URL = "https://bo.example.com"


@pytest.fixture
def supervisor_li():
    return get_user_model().objects.create_user("li", email="li@example.com", is_staff=True)


@pytest.fixture
def supervisor_wang():
    return get_user_model().objects.create_user("wang", email="wang@example.com", is_staff=True)


def make_channel(kind, target="", **fields) -> NotificationChannel:
    return NotificationChannel.objects.create(
        name=fields.pop("name", f"{kind} channel"), kind=kind, target=target, **fields
    )


def attempts_of(message):
    return [(a.channel_id, a.outcome, a.http_status) for a in message.delivery_attempts.all()]


def send(capture, **kwargs) -> Message | None:
    """notify() the way a service does: inside a transaction, delivered after commit."""
    defaults = {
        "subject": "Picking backlog",
        "text": "52 orders wait in picking",
        "link": "/admin/",
    }
    with capture(execute=True):
        message = notify(**{**defaults, **kwargs})
    if message is not None:
        message.refresh_from_db()
    return message


# --- e-mail through a real SMTP server -------------------------------------------------


def test_urgent_email_reaches_the_smtp_server_once_with_both_recipients(
    smtp_server, supervisor_li, supervisor_wang, django_capture_on_commit_callbacks
):
    email = make_channel(ChannelKind.EMAIL)  # blank target: the recipients' own addresses
    message = send(
        django_capture_on_commit_callbacks,
        recipients=[supervisor_li, supervisor_wang],
        level=URGENT,
        channels=[email],
        event="breaker:picking:trip:12",
    )

    assert message.status == Message.Status.DELIVERED
    assert message.delivered_channel == email and message.delivered_at is not None
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert sorted(envelope.rcpt_tos) == ["li@example.com", "wang@example.com"]
    content = envelope.content.decode()
    assert "Subject: [URGENT] Picking backlog" in content
    assert "52 orders wait in picking" in content
    assert "https://bo.example.com/admin/" in content
    [attempt] = message.delivery_attempts.all()
    assert attempt.outcome == OK and attempt.channel == email and attempt.latency_ms >= 0
    in_app = Notification.objects.filter(level=URGENT, link="/admin/")
    assert sorted(in_app.values_list("recipient__username", flat=True)) == ["li", "wang"]


# --- the robots' exact formats ---------------------------------------------------------

MARKDOWN = (
    "### Picking backlog\n\n52 orders wait in picking\n\n"
    "[https://bo.example.com/admin/](https://bo.example.com/admin/)"
)


def test_wecom_robot_receives_markdown(httpserver, django_capture_on_commit_callbacks):
    httpserver.expect_request(
        "/cgi-bin/webhook/send",
        method="POST",
        query_string="key=abc",
        json={"msgtype": "markdown", "markdown": {"content": MARKDOWN}},
    ).respond_with_json({"errcode": 0, "errmsg": "ok"})
    wecom = make_channel(ChannelKind.WECOM, httpserver.url_for("/cgi-bin/webhook/send?key=abc"))

    message = send(django_capture_on_commit_callbacks, channels=[wecom])

    httpserver.check_assertions()
    assert message.status == Message.Status.DELIVERED
    assert attempts_of(message) == [(wecom.pk, OK, 200)]


def test_wecom_answer_with_an_error_code_is_a_failure(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/send").respond_with_json({"errcode": 93000, "errmsg": "bad key"})
    wecom = make_channel(ChannelKind.WECOM, httpserver.url_for("/send"))

    message = send(django_capture_on_commit_callbacks, channels=[wecom])

    assert message.status == Message.Status.PENDING
    assert attempts_of(message) == [(wecom.pk, ERROR, 200)]
    assert "errcode=93000: bad key" in message.last_error


def test_dingtalk_robot_receives_markdown_signed_with_timestamp_and_sign(
    httpserver, django_capture_on_commit_callbacks
):
    secret = "SEC-dingtalk-secret"
    httpserver.expect_request("/robot/send", method="POST").respond_with_json(
        {"errcode": 0, "errmsg": "ok"}
    )
    dingtalk = make_channel(
        ChannelKind.DINGTALK, httpserver.url_for("/robot/send?access_token=tok"), secret=secret
    )

    message = send(django_capture_on_commit_callbacks, channels=[dingtalk], level=URGENT)

    assert message.status == Message.Status.DELIVERED
    [(request, _response)] = httpserver.log
    assert request.get_json() == {
        "msgtype": "markdown",
        "markdown": {
            "title": "[URGENT] Picking backlog",
            "text": MARKDOWN.replace("### Picking", "### [URGENT] Picking", 1),
        },
    }
    timestamp = request.args["timestamp"]
    assert abs(int(timestamp) / 1000 - time.time()) < 60
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert request.args["sign"] == expected
    assert request.args["access_token"] == "tok"
    # The signature travels URL-encoded (base64 has +, / and =).
    assert f"sign={urllib.parse.quote_plus(expected)}" in request.query_string.decode()


@pytest.mark.parametrize("answer", [{"code": 0, "msg": "success"}, {"StatusCode": 0}])
def test_feishu_robot_receives_signed_text(httpserver, django_capture_on_commit_callbacks, answer):
    secret = "feishu-secret"
    httpserver.expect_request("/open-apis/bot/v2/hook/x", method="POST").respond_with_json(answer)
    feishu = make_channel(
        ChannelKind.FEISHU, httpserver.url_for("/open-apis/bot/v2/hook/x"), secret=secret
    )

    message = send(django_capture_on_commit_callbacks, channels=[feishu])

    assert message.status == Message.Status.DELIVERED
    [(request, _response)] = httpserver.log
    body = request.get_json()
    timestamp = body["timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = base64.b64encode(
        hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert body == {
        "timestamp": timestamp,
        "sign": expected,
        "msg_type": "text",
        "content": {
            "text": "Picking backlog\n52 orders wait in picking\n\nhttps://bo.example.com/admin/"
        },
    }


def test_generic_webhook_receives_json_signed_with_hmac(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hooks/ops", method="POST").respond_with_data("", status=204)
    hook = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/hooks/ops"), secret="k3y")

    message = send(
        django_capture_on_commit_callbacks, channels=[hook], event="sla:order:A1", level=URGENT
    )

    assert message.status == Message.Status.DELIVERED
    assert attempts_of(message) == [(hook.pk, OK, 204)]
    [(request, _response)] = httpserver.log
    body = request.get_json()
    assert datetime.fromisoformat(body.pop("sent_at")).tzinfo is not None
    assert body == {
        "event": "sla:order:A1",
        "level": "urgent",
        "subject": "Picking backlog",
        "text": "52 orders wait in picking",
        "link": "https://bo.example.com/admin/",
    }
    expected = hmac.new(b"k3y", request.get_data(), hashlib.sha256).hexdigest()
    assert request.headers["X-Backoffice-Signature"] == f"sha256={expected}"


# --- fallback through the chain -----------------------------------------------------------


def test_a_failing_webhook_falls_back_to_the_next_channel(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/broken").respond_with_data("boom", status=500)
    httpserver.expect_request("/wecom").respond_with_json({"errcode": 0, "errmsg": "ok"})
    broken = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/broken"))
    wecom = make_channel(ChannelKind.WECOM, httpserver.url_for("/wecom"))

    message = send(django_capture_on_commit_callbacks, channels=[broken, wecom], event="e:1")

    assert message.status == Message.Status.DELIVERED and message.delivered_channel == wecom
    assert attempts_of(message) == [(broken.pk, ERROR, 500), (wecom.pk, OK, 200)]
    assert "HTTP 500: boom" in message.delivery_attempts.first().error


def test_a_receiver_slower_than_its_budget_times_out_and_email_takes_over(
    own_httpserver, supervisor_li, django_capture_on_commit_callbacks
):
    slow_server = own_httpserver()

    def answer_late(request):
        time.sleep(1)
        return Response("late")

    slow_server.expect_request("/slow").respond_with_handler(answer_late)
    slow = make_channel(ChannelKind.WEBHOOK, slow_server.url_for("/slow"), timeout_ms=300)
    email = make_channel(ChannelKind.EMAIL, "ops@example.com")

    message = send(
        django_capture_on_commit_callbacks, recipients=[supervisor_li], channels=[slow, email]
    )

    assert message.status == Message.Status.DELIVERED and message.delivered_channel == email
    assert attempts_of(message) == [(slow.pk, TIMEOUT, None), (email.pk, OK, None)]
    timed_out = message.delivery_attempts.first()
    assert 250 <= timed_out.latency_ms < 900
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]


def test_disabled_channels_are_left_out_of_the_chain(
    httpserver, supervisor_li, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    off = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/off"), enabled=False)
    hook = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/hook"))

    message = send(django_capture_on_commit_callbacks, channels=[off, hook.pk])
    nothing = send(django_capture_on_commit_callbacks, recipients=[supervisor_li], channels=[off])

    assert message.chain == [hook.pk] and message.status == Message.Status.DELIVERED
    assert nothing is None
    assert Notification.objects.filter(recipient=supervisor_li).count() == 1


# --- outage, backoff, give-up ---------------------------------------------------------------


def test_a_message_survives_a_receiver_outage_and_is_sent_once_when_it_is_back(
    own_httpserver, django_capture_on_commit_callbacks
):
    port = free_port()  # nothing listens there yet
    hook = make_channel(ChannelKind.WEBHOOK, f"http://127.0.0.1:{port}/hook")

    message = send(django_capture_on_commit_callbacks, channels=[hook], event="outage:1")

    assert message.status == Message.Status.PENDING and message.attempts == 1
    assert message.next_attempt_at > timezone.now()
    assert attempts_of(message) == [(hook.pk, ERROR, None)]
    assert "connection failed" in message.last_error
    assert messages_sweep() == 0  # not due yet: nothing is tried
    assert message.delivery_attempts.count() == 1

    receiver = own_httpserver(port=port)
    receiver.expect_request("/hook").respond_with_data("ok")
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        assert messages_sweep() == 1
        assert messages_sweep() == 0
        assert tasks.message_deliver(message.pk) == "skipped"

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED and message.attempts == 2
    assert attempts_of(message) == [(hook.pk, ERROR, None), (hook.pk, OK, 200)]
    assert len(receiver.log) == 1


def test_retries_back_off_from_30_seconds_to_at_most_30_minutes():
    assert [backoff_delay(n).total_seconds() for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1800, 1800
    ]  # fmt: skip


def test_a_message_is_given_up_only_after_the_give_up_hours_and_audited(
    settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_GIVE_UP_HOURS = 48
    hook = make_channel(ChannelKind.WEBHOOK, f"http://127.0.0.1:{free_port()}/hook")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        message = send(django_capture_on_commit_callbacks, channels=[hook], event="down:1")
    give_up_at = message.created_at + timedelta(hours=48)

    with time_machine.travel(give_up_at - timedelta(seconds=30), tick=False):
        messages_sweep()
    message.refresh_from_db()
    assert message.status == Message.Status.PENDING
    assert message.next_attempt_at == give_up_at  # the last try is at the deadline itself
    assert not AuditEvent.objects.filter(verb=MESSAGE_GIVEN_UP).exists()

    with time_machine.travel(give_up_at + timedelta(seconds=1), tick=False):
        messages_sweep()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.attempts == 3
    event = AuditEvent.objects.get(verb=MESSAGE_GIVEN_UP)
    assert event.subject_id == str(message.pk) and "connection failed" in event.reason
    assert event.payload["event"] == "down:1" and event.payload["attempts"] == 3
    assert messages_sweep() == 0


# --- quiet hours ----------------------------------------------------------------------------

QUIET = (dt.time(22, 0), dt.time(8, 0))


def test_quiet_hours_defer_a_non_urgent_message_to_the_end_of_the_window(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/hook"))
    tz = timezone.get_current_timezone()
    late_evening = datetime(2026, 11, 24, 23, 0, tzinfo=tz)

    with time_machine.travel(late_evening, tick=False):
        with django_capture_on_commit_callbacks(execute=True) as queued:
            deferred = notify(subject="Daily report", text="", channels=[hook], quiet_hours=QUIET)
        assert queued == []  # nothing to queue: the sweeper sends it in the morning
        assert deferred.next_attempt_at == datetime(2026, 11, 25, 8, 0, tzinfo=tz)
        assert messages_sweep() == 0
        urgent = send(
            django_capture_on_commit_callbacks, channels=[hook], level=URGENT, quiet_hours=QUIET
        )
        assert urgent.status == Message.Status.DELIVERED  # urgent ignores quiet hours
    assert len(httpserver.log) == 1

    with time_machine.travel(datetime(2026, 11, 25, 7, 59, tzinfo=tz), tick=False):
        assert messages_sweep() == 0
    with time_machine.travel(datetime(2026, 11, 25, 8, 0, 5, tzinfo=tz), tick=False):
        assert messages_sweep() == 1
    deferred.refresh_from_db()
    assert deferred.status == Message.Status.DELIVERED and len(httpserver.log) == 2


@pytest.mark.parametrize(
    ("now", "window", "end"),
    [
        ("23:00", ("22:00", "08:00"), "2026-11-25 08:00"),
        ("03:00", ("22:00", "08:00"), "2026-11-24 08:00"),
        ("09:00", ("22:00", "08:00"), None),
        ("12:30", ("12:00", "13:30"), "2026-11-24 13:30"),
        ("13:30", ("12:00", "13:30"), None),
    ],
)
def test_quiet_hours_end(now, window, end):
    tz = timezone.get_current_timezone()
    hhmm = dt.time.fromisoformat
    moment = datetime.combine(dt.date(2026, 11, 24), hhmm(now), tzinfo=tz)
    expected = datetime.strptime(end, "%Y-%m-%d %H:%M").replace(tzinfo=tz) if end else None
    assert quiet_hours_end(moment, hhmm(window[0]), hhmm(window[1])) == expected


# --- synchronous delivery, selectors, validation, schedules ------------------------------


def test_deliver_now_sends_in_this_process_without_the_task_queue(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/hook"))

    with django_capture_on_commit_callbacks(execute=False) as queued:
        message = notify(subject="qcluster is down", text="", channels=[hook], deliver_now=True)

    assert queued == []
    assert message.status == Message.Status.DELIVERED and len(httpserver.log) == 1


def test_messages_for_event_shows_channels_and_latency_in_two_queries(
    httpserver, django_capture_on_commit_callbacks, django_assert_num_queries
):
    httpserver.expect_request("/broken").respond_with_data("", status=503)
    httpserver.expect_request("/ok").respond_with_data("ok")
    broken = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/broken"))
    ok = make_channel(ChannelKind.WEBHOOK, httpserver.url_for("/ok"))
    for _ in range(3):
        send(django_capture_on_commit_callbacks, channels=[broken, ok], event="breaker:7")
    send(django_capture_on_commit_callbacks, channels=[ok], event="another")

    with django_assert_num_queries(2):
        rows = [
            (m.delivered_channel.name, m.latency, [(a.channel.name, a.outcome) for a in
             m.delivery_attempts.all()])
            for m in messages_for_event("breaker:7")
        ]  # fmt: skip
    assert len(rows) == 3
    assert all(row[0] == ok.name and row[1] >= timedelta(0) for row in rows)
    assert rows[0][2] == [(broken.name, ERROR), (ok.name, OK)]


def test_channels_for_supervisors_are_the_enabled_ones_in_priority_order():
    second = make_channel(ChannelKind.EMAIL, for_supervisors=True, priority=20, name="mail")
    first = make_channel(ChannelKind.WECOM, "https://x.test/", for_supervisors=True, priority=10)
    make_channel(ChannelKind.FEISHU, "https://y.test/", for_supervisors=True, enabled=False)
    make_channel(ChannelKind.WEBHOOK, "https://z.test/")
    assert list(channels_for_supervisors()) == [first, second]


@pytest.mark.parametrize(
    ("kind", "target", "valid"),
    [
        (ChannelKind.EMAIL, "", True),
        (ChannelKind.EMAIL, "ops@example.com, boss@example.com", True),
        (ChannelKind.EMAIL, "ops@example.com, not-an-address", False),
        (ChannelKind.WEBHOOK, "https://hooks.example.com/x", True),
        (ChannelKind.DINGTALK, "ftp://oapi.dingtalk.com/robot/send", False),
        (ChannelKind.FEISHU, "", False),
    ],
)
def test_channel_target_is_validated_per_kind(kind, target, valid):
    channel = NotificationChannel(name="c", kind=kind, target=target)
    if valid:
        channel.full_clean()
    else:
        with pytest.raises(ValidationError) as refused:
            channel.full_clean()
        assert "target" in refused.value.message_dict


def test_setup_schedules_declares_the_outbox_sweeper():
    call_command("setup_schedules", stdout=io.StringIO())
    schedule = Schedule.objects.get(name="notifications: sweep outbox")
    assert schedule.func == "backoffice.notifications.tasks.messages_sweep"
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1


# --- PostgreSQL: concurrent deliveries of one message ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_message_send_it_once(own_httpserver):
    server = own_httpserver()

    def answer_slowly(request):
        time.sleep(0.3)
        return Response("ok")

    server.expect_request("/hook").respond_with_handler(answer_slowly)
    hook = make_channel(ChannelKind.WEBHOOK, server.url_for("/hook"))
    message = Message.objects.create(
        subject="race", chain=[hook.pk], next_attempt_at=timezone.now()
    )
    barrier = threading.Barrier(6)

    def worker():
        try:
            barrier.wait()
            message_deliver(message_id=message.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert len(server.log) == 1 and message.delivery_attempts.count() == 1
