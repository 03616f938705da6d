"""Partner webhooks, against a real HTTP receiver (pytest-httpserver).

The outbox row is written in the transaction of the change and POSTed after commit
(test settings run django-q2 tasks inline; `django_capture_on_commit_callbacks`
runs the on_commit callbacks); time-machine moves the clock for backoff, giving up
and retention.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from pytest_httpserver import HTTPServer
from werkzeug import Response

from backoffice.audit.models import AuditEvent
from orders import events, tasks
from orders.models import (
    IdempotencyRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from orders.services import (
    TransitionRefused,
    order_cancel,
    order_complete_stage,
    order_dispatch,
    order_hold,
    order_release,
    order_transition,
    order_upload_qc_photo,
    pick_list_print,
)
from orders.services.webhooks import (
    GIVE_UP_AFTER,
    backoff_delay,
    records_purge,
    webhook_deliver,
    webhook_events_record,
    webhook_replay,
    webhook_retry_now,
    webhooks_sweep,
)
from orders.states import OrderStatus
from orders.tests.factories import PartnerFactory, make_order

S = OrderStatus
D = WebhookDelivery.Status
OK, ERROR = WebhookAttempt.Outcome.OK, WebhookAttempt.Outcome.ERROR
pytestmark = pytest.mark.django_db


# --- peers and helpers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """A partner's endpoint: answers with the queued statuses (then 200) and keeps
    every request's headers and raw body."""

    def __init__(self, server: HTTPServer, path: str = "/hook", delay: float = 0.0):
        self.server, self.path, self.delay = server, path, delay
        self.answers: list[int] = []
        self.received: list[tuple[dict, bytes]] = []
        server.expect_request(path, method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for(self.path)

    def _handle(self, request):
        self.received.append((dict(request.headers), request.get_data()))
        if self.delay:
            time.sleep(self.delay)
        status = self.answers.pop(0) if self.answers else 200
        return Response("ok" if status < 300 else "unavailable", status=status)

    def events(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.received]


def signature_ok(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's side of the contract (orders.services.webhooks docstring)."""
    timestamp = headers["X-Webhook-Timestamp"]
    expected = (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    return hmac.compare_digest(expected, headers["X-Webhook-Signature"])


@pytest.fixture
def receiver(httpserver):
    return Receiver(httpserver)


@pytest.fixture
def acme():
    return PartnerFactory(code="acme", name="Acme Shop")


def subscribe(partner, url, **fields) -> WebhookSubscription:
    return WebhookSubscription.objects.create(partner=partner, url=url, **fields)


def photo():
    return SimpleUploadedFile("qc.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32, content_type="image/png")


def to_quality_check(order, *, by):
    while order.status != S.QUALITY_CHECK:
        if order.status == S.STOCK_RESERVATION:
            order_transition(order, name="reserve_stock", by=by)
        elif order.status == S.PICKING:
            pick_list_print([order], by=by)
            order_complete_stage(order, by=by)
        else:
            order_complete_stage(order, by=by)
    return order


def attempts_of(delivery) -> list[tuple[str, int | None]]:
    return [(a.outcome, a.http_status) for a in delivery.attempt_log.all()]


# --- recording and delivering -------------------------------------------------------


def test_a_partner_order_posts_every_stage_signed_and_dispatch_carries_the_tracking_number(
    acme, receiver, supervisor, stocked_product, django_capture_on_commit_callbacks
):
    receiver.delay = 0.05
    subscription = subscribe(acme, receiver.url)

    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(partner=acme, external_ref="SHOP-10001", products=[stocked_product])
        to_quality_check(order, by=supervisor)
        order_upload_qc_photo(order, photo=photo(), by=supervisor)
        order_dispatch(order, by=supervisor, carrier="SF Express", tracking_number="SF123")

    sent = receiver.events()
    assert [e["type"] for e in sent] == [
        "order.created",
        *["order.status_changed"] * 5,  # the automatic pass out of `received` included
        "order.dispatched",
    ]
    # Every stage is announced, each event naming the one before it.
    assert sent[0]["data"]["previous_status"] is None
    assert [e["data"]["previous_status"] for e in sent[1:]] == [
        e["data"]["status"] for e in sent[:-1]
    ]
    assert [e["data"]["status"] for e in sent] == [
        S.RECEIVED, S.SALES_REVIEW, S.FINANCE_REVIEW, S.STOCK_RESERVATION, S.PICKING,
        S.QUALITY_CHECK, S.DISPATCHED,
    ]  # fmt: skip

    now = int(time.time())
    for (headers, body), event in zip(receiver.received, sent, strict=True):
        assert signature_ok(subscription.secret, headers, body)
        assert not signature_ok("another-secret", headers, body)
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Webhook-Id"] == event["id"]
        assert abs(now - int(headers["X-Webhook-Timestamp"])) < 60

    dispatched = sent[-1]
    order.refresh_from_db()
    assert dispatched["data"] == {
        "number": order.number,
        "external_ref": "SHOP-10001",
        "status": "dispatched",
        "previous_status": "quality_check",
        "carrier": "SF Express",
        "tracking_number": "SF123",
        "dispatched_at": order.dispatched_at.isoformat(),
    }
    delivery = WebhookDelivery.objects.get(event_id=dispatched["id"])
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (D.DELIVERED, 1, 200)
    assert delivery.order == order and delivery.subscription == subscription
    [attempt] = delivery.attempt_log.all()
    assert (attempt.outcome, attempt.http_status) == (OK, 200)
    assert attempt.latency_ms >= 50  # the receiver took 50 ms to answer
    assert WebhookDelivery.objects.filter(status=D.DELIVERED).count() == len(sent)


def test_orders_without_partner_or_subscription_write_nothing_and_cost_almost_nothing(
    acme, receiver, supervisor, django_capture_on_commit_callbacks, django_assert_num_queries
):
    PartnerFactory(code="other").webhook_subscriptions.create(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        direct = make_order()
        partner_order = make_order(partner=acme, external_ref="SHOP-1")
        order_complete_stage(direct, by=supervisor)
        order_complete_stage(partner_order, by=supervisor)

    assert not WebhookDelivery.objects.exists()
    assert receiver.received == []
    now = timezone.now()
    with django_assert_num_queries(0):
        webhook_events_record(order=direct, event_type="order.status_changed", data={}, at=now)
    with django_assert_num_queries(1):  # the partner's subscriptions: none
        webhook_events_record(
            order=partner_order, event_type="order.status_changed", data={}, at=now
        )


def test_only_active_subscriptions_wanting_the_event_type_receive_it(
    acme, httpserver, supervisor, django_capture_on_commit_callbacks
):
    cancels = Receiver(httpserver, "/cancels")
    everything = Receiver(httpserver, "/everything")
    subscribe(acme, cancels.url, event_types=[WebhookEvent.ORDER_CANCELLED])
    subscribe(acme, everything.url, is_active=False)
    order = make_order(partner=acme, external_ref="SHOP-2")

    with django_capture_on_commit_callbacks(execute=True):
        order_hold(order, by=supervisor, reason="customer asked to wait")
        order_release(order, by=supervisor)
        order_cancel(order, by=supervisor, reason="customer changed mind")

    assert everything.received == []
    [cancelled] = cancels.events()
    assert cancelled["type"] == "order.cancelled"
    assert cancelled["data"]["previous_status"] == S.SALES_REVIEW
    assert cancelled["data"]["cancel_reason"] == "customer changed mind"
    assert cancelled["data"]["cancelled_at"] is not None
    assert WebhookDelivery.objects.count() == 1


def test_a_failing_receiver_is_retried_with_backoff_then_the_event_is_delivered(
    acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    order = make_order(partner=acme, external_ref="SHOP-3")
    subscription = subscribe(acme, receiver.url)
    receiver.answers = [500]
    start = timezone.now()

    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        order_hold(order, by=supervisor, reason="address check")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (D.PENDING, 1, 500)
    assert delivery.next_attempt_at == start + timedelta(seconds=30)
    assert "HTTP 500" in delivery.last_error
    with time_machine.travel(start + timedelta(seconds=29), tick=False):
        assert webhooks_sweep() == 0  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        assert webhooks_sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (D.DELIVERED, 2, 200)
    assert delivery.last_error == ""
    assert attempts_of(delivery) == [(ERROR, 500), (OK, 200)]
    assert all(a.latency_ms is not None and a.latency_ms >= 0 for a in delivery.attempt_log.all())
    # The same event twice (one id), each attempt signed with its own timestamp.
    (first_headers, first_body), (second_headers, second_body) = receiver.received
    assert first_headers["X-Webhook-Id"] == second_headers["X-Webhook-Id"] == str(delivery.event_id)
    assert first_body == second_body
    assert (
        int(second_headers["X-Webhook-Timestamp"]) - int(first_headers["X-Webhook-Timestamp"]) >= 30
    )
    assert signature_ok(subscription.secret, first_headers, first_body)
    assert signature_ok(subscription.secret, second_headers, second_body)


def test_retries_back_off_from_30_seconds_doubling_to_at_most_an_hour():
    assert [backoff_delay(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600
    ]  # fmt: skip


def test_nothing_is_lost_while_the_receiver_is_down_and_it_is_sent_once_when_back(
    acme, supervisor, django_capture_on_commit_callbacks
):
    order = make_order(partner=acme, external_ref="SHOP-4")
    port = free_port()  # nothing listens there yet
    subscribe(acme, f"http://127.0.0.1:{port}/hook")
    start = timezone.now()

    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        order_hold(order, by=supervisor, reason="waiting for stock")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == D.PENDING and "connection failed" in delivery.last_error

    # Down for about two hours: the sweeper keeps trying, further and further apart.
    waits = []
    while delivery.next_attempt_at < start + timedelta(hours=2):
        waits.append(delivery.next_attempt_at)
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
            assert webhooks_sweep() == 0
        delivery.refresh_from_db()
        assert delivery.status == D.PENDING
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(waits)]
    assert gaps == sorted(gaps) and max(gaps) <= 3600
    assert delivery.attempts == len(waits) + 1 >= 6

    with HTTPServer(host="127.0.0.1", port=port) as server:
        back = Receiver(server)
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
            assert webhooks_sweep() == 1
            assert webhooks_sweep() == 0
            assert tasks.webhook_deliver(delivery.pk) == "skipped"  # a duplicate task

    delivery.refresh_from_db()
    assert delivery.status == D.DELIVERED
    assert attempts_of(delivery)[-1] == (OK, 200)
    assert [e["id"] for e in back.events()] == [str(delivery.event_id)]  # exactly once


def test_an_event_is_given_up_after_72_hours_audited_and_can_be_replayed(
    acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    order = make_order(partner=acme, external_ref="SHOP-5")
    subscription = subscribe(acme, f"http://127.0.0.1:{free_port()}/hook")
    start = timezone.now()
    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        order_hold(order, by=supervisor, reason="fraud check")
    delivery = WebhookDelivery.objects.get()
    give_up_at = delivery.created_at + GIVE_UP_AFTER

    with time_machine.travel(give_up_at - timedelta(seconds=30), tick=False):
        webhooks_sweep()
    delivery.refresh_from_db()
    assert delivery.status == D.PENDING
    assert delivery.next_attempt_at == give_up_at  # the last try is at the deadline itself
    assert not AuditEvent.objects.filter(verb=events.WEBHOOK_GIVEN_UP).exists()

    with time_machine.travel(give_up_at + timedelta(seconds=1), tick=False):
        webhooks_sweep()
    delivery.refresh_from_db()
    assert delivery.status == D.FAILED and delivery.attempts == 3
    given_up = AuditEvent.objects.get(verb=events.WEBHOOK_GIVEN_UP)
    assert given_up.subject_id == str(delivery.pk) and "connection failed" in given_up.reason
    assert given_up.payload["order_number"] == order.number
    assert webhooks_sweep() == 0

    # The partner fixed its endpoint: replay sends the same event again.
    WebhookSubscription.objects.filter(pk=subscription.pk).update(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_replay(delivery=delivery, by=supervisor)
    delivery.refresh_from_db()
    assert delivery.status == D.DELIVERED
    assert [e["id"] for e in receiver.events()] == [str(delivery.event_id)]


def test_replay_sends_a_delivered_event_again_with_the_same_id_and_is_audited(
    acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    subscription = subscribe(acme, receiver.url, event_types=[WebhookEvent.ORDER_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        make_order(partner=acme, external_ref="SHOP-6")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == D.DELIVERED

    with django_capture_on_commit_callbacks(execute=True):
        webhook_replay(delivery=delivery, by=supervisor)

    delivery.refresh_from_db()
    assert delivery.status == D.DELIVERED and delivery.attempt_log.count() == 2
    (first_headers, first_body), (second_headers, second_body) = receiver.received
    assert first_headers["X-Webhook-Id"] == second_headers["X-Webhook-Id"]
    assert json.loads(first_body) == json.loads(second_body)
    assert signature_ok(subscription.secret, second_headers, second_body)
    replayed = AuditEvent.objects.get(verb=events.WEBHOOK_REPLAYED)
    assert replayed.actor == supervisor and replayed.payload["status_before"] == D.DELIVERED

    # Retry now only concerns pending events; a delivered one is left alone.
    with django_capture_on_commit_callbacks(execute=True) as queued:
        webhook_retry_now(delivery=delivery, by=supervisor)
    assert queued == [] and len(receiver.received) == 2


def test_a_refused_or_rolled_back_change_announces_nothing(
    acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    subscribe(acme, receiver.url)
    order = make_order(partner=acme, external_ref="SHOP-7")  # not committed: nothing sent

    with django_capture_on_commit_callbacks(execute=True) as queued:
        with pytest.raises(TransitionRefused):
            order_dispatch(order, by=supervisor, carrier="SF", tracking_number="SF1")
        with pytest.raises(RuntimeError), transaction.atomic():
            order_hold(order, by=supervisor, reason="will be rolled back")
            assert WebhookDelivery.objects.filter(payload__data__status=S.ON_HOLD).exists()
            raise RuntimeError("something later in the same transaction failed")

    assert queued == []
    assert receiver.received == []
    order.refresh_from_db()
    assert order.status == S.SALES_REVIEW
    assert not WebhookDelivery.objects.filter(payload__data__status=S.ON_HOLD).exists()
    assert set(WebhookDelivery.objects.values_list("event_type", flat=True)) == {
        "order.created",
        "order.status_changed",
    }


def test_events_of_a_subscription_deactivated_meanwhile_are_given_up_unsent(
    acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    order = make_order(partner=acme, external_ref="SHOP-9")
    subscription = subscribe(acme, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # its task never ran
        order_hold(order, by=supervisor, reason="customer asked to wait")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)

    assert webhooks_sweep() == 0

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == D.FAILED and "inactive" in delivery.last_error
    assert receiver.received == [] and delivery.attempts == 0
    assert AuditEvent.objects.filter(verb=events.WEBHOOK_GIVEN_UP).count() == 1


# --- retention and schedules --------------------------------------------------------


def test_purge_deletes_old_idempotency_records_and_logs_but_keeps_recent_and_pending(
    acme, settings
):
    settings.API_RETENTION_HOURS = 72
    now = timezone.now()
    old, recent = now - timedelta(hours=73), now - timedelta(hours=71)
    subscription = subscribe(acme, "https://partner.example.com/hook")

    def record(key, at):
        return IdempotencyRecord.objects.create(
            partner=acme, key=key, request_hash="x", status_code=201, response_body={},
            created_at=at,
        )  # fmt: skip

    def delivery(status, created_at, **fields):
        row = WebhookDelivery.objects.create(
            subscription=subscription, event_type="order.created", payload={}, status=status,
            created_at=created_at, give_up_at=created_at + GIVE_UP_AFTER, **fields,
        )  # fmt: skip
        WebhookAttempt.objects.create(
            delivery=row, started_at=created_at, latency_ms=12, http_status=200, outcome=OK
        )
        return row

    old_record, recent_record = record("old", old), record("recent", recent)
    old_delivered = delivery(D.DELIVERED, old, delivered_at=old)
    old_failed = delivery(D.FAILED, now - timedelta(hours=150))
    old_pending = delivery(D.PENDING, old)
    replayed = delivery(D.DELIVERED, old, delivered_at=now - timedelta(hours=1))
    recent_delivered = delivery(D.DELIVERED, recent, delivered_at=recent)

    assert records_purge(now=now) == {"idempotency_records": 1, "attempts": 4, "deliveries": 2}

    assert list(IdempotencyRecord.objects.all()) == [recent_record]
    assert not IdempotencyRecord.objects.filter(pk=old_record.pk).exists()
    kept = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert kept == {old_pending.pk, replayed.pk, recent_delivered.pk}
    assert not kept & {old_delivered.pk, old_failed.pk}
    assert list(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == [
        recent_delivered.pk
    ]
    assert records_purge(now=now) == {"idempotency_records": 0, "attempts": 0, "deliveries": 0}

    settings.API_RETENTION_HOURS = 24  # configurable: a shorter period purges the rest
    assert tasks.records_purge()["idempotency_records"] == 1


def test_setup_schedules_declares_the_webhook_sweeper_and_the_purge():
    call_command("setup_schedules", stdout=StringIO())
    sweeper = Schedule.objects.get(name="orders.webhooks_sweep")
    assert (sweeper.func, sweeper.schedule_type, sweeper.minutes, sweeper.repeats) == (
        "orders.tasks.webhooks_sweep", Schedule.MINUTES, 1, -1
    )  # fmt: skip
    purge = Schedule.objects.get(name="orders.records_purge")
    assert (purge.func, purge.schedule_type, purge.minutes, purge.repeats) == (
        "orders.tasks.records_purge", Schedule.MINUTES, 60, -1
    )  # fmt: skip
    assert tasks.webhooks_sweep() == 0


# --- the subscription model and the admin ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "event_types", "valid"),
    [
        ("https://partner.example.com/hooks/orders", [], True),
        ("http://10.0.0.5:8080/hook", ["order.dispatched", "order.cancelled"], True),
        ("ftp://partner.example.com/hook", [], False),
        ("javascript:alert(1)", [], False),
        ("https://partner.example.com/hook", ["order.shipped"], False),
    ],
)
def test_subscription_url_and_event_types_are_validated(acme, url, event_types, valid):
    subscription = WebhookSubscription(partner=acme, url=url, event_types=event_types)
    if valid:
        subscription.full_clean()
    else:
        with pytest.raises(ValidationError):
            subscription.full_clean()


def test_each_subscription_gets_its_own_generated_secret(acme):
    first, second = (
        subscribe(acme, "https://a.example.com/"),
        subscribe(acme, "https://b.example.com/"),
    )
    assert len(first.secret) >= 40 and first.secret != second.secret


def test_admin_subscription_shows_its_secret_and_deliveries_can_be_replayed(
    client, admin_user, acme, receiver, supervisor, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:orders_webhooksubscription_add"),
        {"partner": acme.pk, "url": receiver.url, "event_types": ["order.cancelled"],
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["order.cancelled"] and subscription.secret
    page = client.get(reverse("admin:orders_webhooksubscription_change", args=[subscription.pk]))
    assert subscription.secret in page.content.decode()
    assert client.get(reverse("admin:orders_webhooksubscription_changelist")).status_code == 200

    receiver.answers = [503]
    order = make_order(partner=acme, external_ref="SHOP-8")
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order, by=supervisor, reason="out of stock")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == D.PENDING and delivery.last_http_status == 503

    changelist = reverse("admin:orders_webhookdelivery_changelist")
    filtered = client.get(
        changelist,
        {"status__exact": "pending", "event_type__exact": "order.cancelled",
         "subscription__partner__id__exact": acme.pk},
    )  # fmt: skip
    assert filtered.status_code == 200 and order.number in filtered.content.decode()
    detail = client.get(reverse("admin:orders_webhookdelivery_change", args=[delivery.pk]))
    html = detail.content.decode()
    assert detail.status_code == 200 and "503" in html and "out of stock" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist, {"action": "retry_now", "_selected_action": [delivery.pk]}
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == D.DELIVERED and attempts_of(delivery) == [(ERROR, 503), (OK, 200)]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "replay", "_selected_action": [delivery.pk]})
    assert len(receiver.received) == 3
    assert AuditEvent.objects.filter(verb=events.WEBHOOK_REPLAYED).count() == 1
    assert AuditEvent.objects.filter(verb=events.WEBHOOK_RETRIED).count() == 1


# --- PostgreSQL: concurrent workers ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_post_an_event_once(httpserver):
    receiver = Receiver(httpserver, delay=0.3)
    subscription = subscribe(PartnerFactory(code="race"), receiver.url)
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event_type=WebhookEvent.ORDER_CREATED,
        payload={"id": "race", "type": "order.created", "data": {}},
        give_up_at=now + GIVE_UP_AFTER,
    )
    barrier = threading.Barrier(6)

    def worker(index):
        try:
            barrier.wait()
            # Half deliver the event directly (its task), half sweep (the schedule).
            if index % 2:
                webhook_deliver(delivery_id=delivery.pk)
            else:
                webhooks_sweep()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    delivery.refresh_from_db()
    assert delivery.status == D.DELIVERED and delivery.attempts == 1
    assert len(receiver.received) == 1 and delivery.attempt_log.count() == 1
