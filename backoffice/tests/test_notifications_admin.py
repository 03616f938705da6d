"""The notification admin: channel test button, the outbox list, "retry now"."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from backoffice.notifications.events import MESSAGE_RETRIED
from backoffice.notifications.models import ChannelKind, Message, NotificationChannel
from backoffice.notifications.services import notify

pytestmark = pytest.mark.django_db

CHANNELS = reverse("admin:notifications_notificationchannel_changelist")
MESSAGES = reverse("admin:notifications_message_changelist")


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/hook"


def test_send_a_test_message_reports_delivery_with_latency(admin_client, admin_user):
    email = NotificationChannel.objects.create(name="Ops mail", kind=ChannelKind.EMAIL)

    response = admin_client.post(
        CHANNELS, {"action": "send_test_message", "_selected_action": [email.pk]}, follow=True
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Ops mail (E-mail): delivered in" in html
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [admin_user.email]
    message = Message.objects.get(event=f"channel-test:{email.pk}")
    assert message.status == Message.Status.DELIVERED


def test_send_a_test_message_reports_the_failure(admin_client):
    hook = NotificationChannel.objects.create(name="Hook", kind=ChannelKind.WEBHOOK,
                                              target=dead_url())  # fmt: skip

    response = admin_client.post(
        CHANNELS, {"action": "send_test_message", "_selected_action": [hook.pk]}, follow=True
    )

    html = response.content.decode()
    assert "Hook (Generic webhook): failed (Hook: connection failed" in html


def _outbox(count, hook, *, first=0):
    for n in range(first, first + count):
        notify(subject=f"Alarm {n}", text="", channels=[hook], event=f"alarm:{n}")


def test_outbox_list_and_page_render_with_a_fixed_number_of_queries(
    admin_client, httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = NotificationChannel.objects.create(name="Hook", kind=ChannelKind.WEBHOOK,
                                              target=httpserver.url_for("/hook"))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        _outbox(2, hook)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(MESSAGES).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        _outbox(10, hook, first=2)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(MESSAGES)
    assert response.status_code == 200 and "Alarm 11" in response.content.decode()
    assert len(many) == len(few)

    message = Message.objects.get(event="alarm:0")
    page = admin_client.get(reverse("admin:notifications_message_change", args=[message.pk]))
    assert page.status_code == 200 and "Hook (Generic webhook)" in page.content.decode()
    assert admin_client.get(CHANNELS).status_code == 200


def test_retry_now_sends_a_given_up_message_again(
    admin_client, admin_user, httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = NotificationChannel.objects.create(name="Hook", kind=ChannelKind.WEBHOOK,
                                              target=httpserver.url_for("/hook"))  # fmt: skip
    message = notify(subject="Stuck", text="", channels=[hook])  # not committed: never queued
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, attempts=7)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(MESSAGES, {"action": "retry_now", "_selected_action": [message.pk]})

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED and message.attempts == 8
    retried = AuditEvent.objects.get(verb=MESSAGE_RETRIED)
    assert retried.actor == admin_user and retried.payload["status_before"] == "failed"
