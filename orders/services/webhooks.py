"""Partner webhooks: record order events in an outbox, POST them signed, retry, purge.

Every state change of a partner's order writes one `WebhookDelivery` per matching
active subscription inside the transaction of the change (`webhook_events_record`,
called by `_apply_transition` and `order_create`): a change that rolls back
announces nothing, and a committed one is never lost. After the commit a django-q2
task POSTs it; a sweeper (every minute) retries what failed, with backoff.

As in `backoffice.notifications.delivery`, no transaction is held open while a
receiver is called: a delivery is claimed in one short transaction (its
`next_attempt_at` is moved past the time the POST may take, which keeps every other
worker and the sweeper away), POSTed outside any transaction, and its attempt and
result recorded in a second short transaction. A worker that dies in between leaves
the delivery pending; the sweeper takes it up again once the claim has expired.

The contract, for partners (the README quotes it)
-------------------------------------------------
Each event is one ``POST`` to the subscription's URL with a JSON body::

    {"id": "5f0c…-uuid", "type": "order.dispatched", "created_at": "2026-11-25T08:30:00+00:00",
     "data": {"number": "SO261125-…", "external_ref": "SHOP-10001",
              "status": "dispatched", "previous_status": "quality_check",
              "carrier": "SF Express", "tracking_number": "SF1234567890",
              "dispatched_at": "2026-11-25T08:30:00+00:00"}}

Types: ``order.created`` (``previous_status`` null), ``order.status_changed`` (every
other stage change, stages passed automatically included), ``order.dispatched``
(with ``carrier``, ``tracking_number``, ``dispatched_at``) and ``order.cancelled``
(with ``cancel_reason``, ``cancelled_at``). Headers::

    Content-Type: application/json
    X-Webhook-Id: <the event id>              the same on every retry and replay
    X-Webhook-Timestamp: <unix seconds>       when this attempt was sent
    X-Webhook-Signature: sha256=<hex>         HMAC-SHA256(secret, "<timestamp>.<raw body>")

To verify, compute the HMAC over the raw body bytes as received (before parsing the
JSON) with the subscription's secret, compare in constant time, and refuse stale
timestamps (a replayed capture)::

    import hashlib, hmac, time

    def webhook_verified(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
        timestamp = headers["X-Webhook-Timestamp"]
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
        expected = "sha256=" + hmac.new(
            secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, headers["X-Webhook-Signature"])

Answer any 2xx within ``WEBHOOK_TIMEOUT_SECONDS`` (5 s) to acknowledge. Anything
else (another status, a redirect, no answer) is retried after 30 s, 1 min, 2 min, …
at most 1 h apart, for 72 h; then the delivery is marked failed and can be replayed
from the admin. Delivery is at least once and not ordered: deduplicate on
``X-Webhook-Id`` and order one order's events by ``created_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from backoffice.notifications.channels import DeliveryError, post_bytes
from backoffice.outbox import backoff_delay as outbox_backoff
from backoffice.outbox import outbox_sweep
from orders import events
from orders.models import (
    IdempotencyRecord,
    Order,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from orders.states import OrderStatus

logger = logging.getLogger(__name__)

DELIVER_TASK = "orders.tasks.webhook_deliver"
ID_HEADER = "X-Webhook-Id"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
USER_AGENT = "backoffice-webhooks/1"
# Retry after 30 s, 1 min, 2 min, 4 min... never waiting more than 1 h.
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# A receiver may be down for a long weekend before an event is given up.
GIVE_UP_AFTER = timedelta(hours=72)
# Added to the POST timeout while a delivery is claimed.
CLAIM_MARGIN = timedelta(seconds=60)
# One sweep sends at most this many events and starts none after SWEEP_SECONDS,
# well inside Q_CLUSTER["timeout"] (120 s), so a sweep is never killed half-way.
SWEEP_BATCH = 100
SWEEP_SECONDS = 60
# Rows deleted per statement by the purge: short write locks, even on SQLite.
PURGE_BATCH = 2000
MAX_ERROR_CHARS = 1000


# --- recording ---------------------------------------------------------------------


def webhook_event_type_for(target: str) -> str:
    """The event a transition into `target` announces."""
    if target == OrderStatus.DISPATCHED:
        return WebhookEvent.ORDER_DISPATCHED
    if target == OrderStatus.CANCELLED:
        return WebhookEvent.ORDER_CANCELLED
    return WebhookEvent.ORDER_STATUS_CHANGED


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _event_data(order: Order, event_type: str, data: dict) -> dict:
    body = {
        "number": order.number,
        "external_ref": order.external_ref,
        "status": str(order.status),
        "previous_status": None,
    }
    if event_type == WebhookEvent.ORDER_DISPATCHED:
        body.update(
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            dispatched_at=_iso(order.dispatched_at),
        )
    elif event_type == WebhookEvent.ORDER_CANCELLED:
        body.update(cancel_reason=order.cancel_reason, cancelled_at=_iso(order.cancelled_at))
    body.update(data)
    return body


def webhook_events_record(
    *, order: Order, event_type: str, data: dict, at: datetime
) -> list[WebhookDelivery]:
    """Put one event into the outbox for each active subscription of the order's
    partner that wants it, and queue their delivery after commit.

    Call it inside the transaction of the change it announces. Orders without a
    partner cost nothing; others one indexed query (plus the insert when subscribed).
    """
    if order.partner_id is None:
        return []
    # Intake announces several events of one order in one transaction ("created",
    # then the routing right after it): it lends a memo so they read the partner's
    # subscriptions once (order_create drops it when it returns).
    memo = getattr(order, "_webhook_memo", None)
    cached = memo.get(order.partner_id) if memo is not None else None
    if cached is None:
        cached = list(
            WebhookSubscription.objects.filter(
                partner_id=order.partner_id, is_active=True, partner__is_active=True
            ).only("id", "event_types")
        )
        if memo is not None:
            memo[order.partner_id] = cached
    subscriptions = [s for s in cached if s.wants(event_type)]
    if not subscriptions:
        return []
    body = _event_data(order, event_type, data)
    deliveries = []
    for subscription in subscriptions:
        event_id = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                subscription=subscription,
                order=order,
                event_id=event_id,
                event_type=event_type,
                payload={
                    "id": str(event_id),
                    "type": event_type,
                    "created_at": _iso(at),
                    "data": body,
                },
                next_attempt_at=at,
                give_up_at=at + GIVE_UP_AFTER,
                created_at=at,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        webhook_queue(delivery)
    return deliveries


def webhook_queue(delivery: WebhookDelivery) -> None:
    """Queue the delivery task once the current transaction commits."""
    transaction.on_commit(partial(async_task, DELIVER_TASK, delivery.pk))


# --- signing -----------------------------------------------------------------------


def webhook_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 keyed with the secret over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def webhook_headers(delivery: WebhookDelivery, body: bytes, *, at: datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(delivery.event_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(delivery.subscription.secret, timestamp, body),
    }


# --- delivering --------------------------------------------------------------------


def backoff_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1, 2, 3...)."""
    return outbox_backoff(attempts, first=BACKOFF_FIRST, cap=BACKOFF_CAP)


@dataclass(frozen=True)
class _Outcome:
    started_at: datetime
    latency_ms: int
    outcome: str
    http_status: int | None = None
    error: str = ""


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """POST one due pending delivery once; None if it is not ours to send.

    Idempotent: a delivery that is delivered, given up, claimed by another worker
    or not due yet is left alone.
    """
    delivery = _delivery_claim(delivery_id)
    if delivery is None:
        return None
    return _delivery_record(delivery_id, _delivery_post(delivery))


def _delivery_claim(delivery_id: int) -> WebhookDelivery | None:
    with transaction.atomic():
        rows = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id)
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: another worker holding the row means it is being claimed.
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        # SQLite: the IMMEDIATE transaction already holds the database's write lock.
        delivery = rows.first()
        now = timezone.now()
        if (
            delivery is None
            or delivery.status != WebhookDelivery.Status.PENDING
            or delivery.next_attempt_at > now
        ):
            return None
        if not delivery.subscription.is_active:
            _delivery_give_up(delivery, error="the subscription is inactive", now=now)
            return None
        timeout = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS)
        delivery.next_attempt_at = now + timeout + CLAIM_MARGIN
        delivery.save(update_fields=["next_attempt_at"])
    return delivery


def _delivery_post(delivery: WebhookDelivery) -> _Outcome:
    """POST the event once, outside any transaction, and say how it went."""
    body = webhook_body(delivery.payload)
    started_at, clock = timezone.now(), time.monotonic()
    headers = webhook_headers(delivery, body, at=started_at)
    timeout_ms = settings.WEBHOOK_TIMEOUT_SECONDS * 1000
    outcome, http_status, error = WebhookAttempt.Outcome.OK, None, ""
    try:
        http_status, _answer = post_bytes(
            delivery.subscription.url, body, timeout_ms=timeout_ms, headers=headers
        )
    except TimeoutError:
        outcome, error = WebhookAttempt.Outcome.TIMEOUT, f"no answer within {timeout_ms} ms"
    except DeliveryError as exc:
        outcome, http_status, error = WebhookAttempt.Outcome.ERROR, exc.http_status, str(exc)
    except Exception as exc:
        # A malformed URL or a bug must be logged and retried, not kill the sweep.
        logger.exception("webhook delivery %s failed unexpectedly", delivery.pk)
        outcome, error = WebhookAttempt.Outcome.ERROR, f"{type(exc).__name__}: {exc}"
    return _Outcome(
        started_at=started_at,
        latency_ms=round((time.monotonic() - clock) * 1000),
        outcome=outcome,
        http_status=http_status,
        error=error[:MAX_ERROR_CHARS],
    )


def _delivery_record(delivery_id: int, result: _Outcome) -> WebhookDelivery | None:
    with transaction.atomic():
        rows = WebhookDelivery.objects.select_related("subscription").select_for_update(
            of=("self",) if connection.features.has_select_for_update_of else ()
        )
        delivery = rows.filter(pk=delivery_id).first()
        if delivery is None:  # purged or deleted with its subscription meanwhile
            return None
        WebhookAttempt.objects.create(
            delivery=delivery,
            started_at=result.started_at,
            latency_ms=result.latency_ms,
            http_status=result.http_status,
            outcome=result.outcome,
            error=result.error,
        )
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_http_status = result.http_status
        if result.outcome == WebhookAttempt.Outcome.OK:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
            delivery.save(
                update_fields=[
                    "status",
                    "delivered_at",
                    "attempts",
                    "last_http_status",
                    "last_error",
                ]
            )
            return delivery
        if now >= delivery.give_up_at:
            _delivery_give_up(delivery, error=result.error, now=now)
            return delivery
        delivery.last_error = result.error
        # The last try happens at the give-up time, not up to a backoff step later.
        delivery.next_attempt_at = min(now + backoff_delay(delivery.attempts), delivery.give_up_at)
        delivery.save(
            update_fields=["attempts", "last_http_status", "last_error", "next_attempt_at"]
        )
    return delivery


def _delivery_give_up(delivery: WebhookDelivery, *, error: str, now: datetime) -> None:
    """Mark the delivery failed, with its audit event. Caller holds atomic()."""
    delivery.status = WebhookDelivery.Status.FAILED
    delivery.last_error = error[:MAX_ERROR_CHARS]
    delivery.save(update_fields=["status", "attempts", "last_http_status", "last_error"])
    events.webhook_given_up_event(delivery=delivery, at=now)
    logger.warning("webhook delivery %s given up: %s", delivery.pk, delivery.last_error)


def webhooks_sweep(*, limit: int = SWEEP_BATCH, seconds: float = SWEEP_SECONDS) -> int:
    """Deliver due pending deliveries, longest waiting first. Returns how many succeeded."""
    due = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )

    def deliver(delivery_id: int) -> bool:
        delivery = webhook_deliver(delivery_id=delivery_id)
        return delivery is not None and delivery.status == WebhookDelivery.Status.DELIVERED

    return outbox_sweep(due, deliver, seconds=seconds)


# --- admin actions -----------------------------------------------------------------


def webhook_replay(*, delivery: WebhookDelivery, by) -> WebhookDelivery:
    """Send a delivered or given-up event again now, with the same event id (admin
    "Replay"): a new round of retries, audited. A pending one is left as it is."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(
                of=("self",) if connection.features.has_select_for_update_of else ()
            )
            .select_related("subscription")
            .get(pk=delivery.pk)
        )
        if delivery.status == WebhookDelivery.Status.PENDING:
            return delivery
        now = timezone.now()
        events.webhook_replayed_event(delivery=delivery, by=by, at=now)
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.give_up_at = now + GIVE_UP_AFTER
        delivery.delivered_at = None
        delivery.save(
            update_fields=["status", "attempts", "next_attempt_at", "give_up_at", "delivered_at"]
        )
        webhook_queue(delivery)
    return delivery


def webhook_retry_now(*, delivery: WebhookDelivery, by) -> WebhookDelivery:
    """Try a pending delivery now instead of waiting for its backoff (admin "Retry
    now"), audited. Delivered and given-up ones are left alone: replay those."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(
                of=("self",) if connection.features.has_select_for_update_of else ()
            )
            .select_related("subscription")
            .get(pk=delivery.pk)
        )
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        now = timezone.now()
        events.webhook_retried_event(delivery=delivery, by=by, at=now)
        delivery.next_attempt_at = now
        delivery.save(update_fields=["next_attempt_at"])
        webhook_queue(delivery)
    return delivery


# --- retention ---------------------------------------------------------------------


def _delete_in_batches(queryset) -> int:
    """Delete the rows of `queryset` a batch at a time (short transactions)."""
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            return deleted
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < PURGE_BATCH:
            return deleted


def records_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete idempotency answers, webhook attempt logs and finished deliveries older
    than API_RETENTION_HOURS. Pending deliveries are kept whatever their age."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.API_RETENTION_HOURS)
    idempotency = _delete_in_batches(IdempotencyRecord.objects.filter(created_at__lt=cutoff))
    attempts = _delete_in_batches(WebhookAttempt.objects.filter(started_at__lt=cutoff))
    # created_at (indexed) narrows the scan; a replay restarts the clock of a finished
    # delivery (delivered_at, give_up_at), so a just-replayed old event stays.
    finished = WebhookDelivery.objects.filter(
        Q(status=WebhookDelivery.Status.DELIVERED, delivered_at__lt=cutoff)
        | Q(status=WebhookDelivery.Status.FAILED, give_up_at__lt=cutoff),
        created_at__lt=cutoff,
    )
    deliveries = _delete_in_batches(finished)
    result = {"idempotency_records": idempotency, "attempts": attempts, "deliveries": deliveries}
    if any(result.values()):
        logger.info("purged %s", result)
    return result
