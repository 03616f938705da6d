"""Delivering the outbox: claim a message, try its channel chain, record the result.

No transaction is held open while a channel is tried. On SQLite a transaction
holds the single write lock (IMMEDIATE mode), and a webhook may take seconds: so a
message is claimed in one short transaction (its `next_attempt_at` is moved past the
time the chain may take, which keeps every other worker and the sweeper away), sent
outside any transaction, and its result recorded in a second short transaction. A
worker that dies while sending leaves the message pending: the sweeper takes it up
again once the claim has expired (at-least-once delivery).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from backoffice.notifications.channels import SENDERS, DeliveryError
from backoffice.notifications.events import message_given_up_event, message_retried_event
from backoffice.notifications.models import DeliveryAttempt, Message, NotificationChannel
from backoffice.outbox import backoff_delay as outbox_backoff
from backoffice.outbox import outbox_sweep

logger = logging.getLogger(__name__)

DELIVER_TASK = "backoffice.notifications.tasks.message_deliver"
# Retry after 30 s, 1 min, 2 min, 4 min... never waiting more than 30 min.
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=30)
# Added to the chain's latency budgets while a message is claimed.
CLAIM_MARGIN = timedelta(seconds=60)
# One sweep sends at most this many messages and starts none after SWEEP_SECONDS,
# well inside Q_CLUSTER["timeout"] (120 s), so a sweep is never killed half-way.
SWEEP_BATCH = 100
SWEEP_SECONDS = 60
MAX_ERROR_CHARS = 1000


def backoff_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed round (1, 2, 3...)."""
    return outbox_backoff(attempts, first=BACKOFF_FIRST, cap=BACKOFF_CAP)


def quiet_hours_end(moment: datetime, start, end) -> datetime | None:
    """The end of the local quiet window (start, end) that `moment` falls in, else None.

    The window may wrap midnight (22:00-08:00); start == end means no window.
    """
    if start is None or end is None or start == end:
        return None
    local = timezone.localtime(moment)
    now = local.time()
    if start < end:
        inside, end_date = start <= now < end, local.date()
    else:
        inside = now >= start or now < end
        end_date = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_date, end, tzinfo=local.tzinfo)


def not_in_quiet_hours(message: Message, moment: datetime) -> datetime:
    """`moment`, or the end of the message's quiet window when it falls inside it."""
    if message.is_urgent:
        return moment
    return quiet_hours_end(moment, message.quiet_from, message.quiet_until) or moment


def channels_in_chain(ids) -> list[NotificationChannel]:
    """The enabled channels among `ids`, in the order given (one query)."""
    ids = [int(pk) for pk in ids]
    found = NotificationChannel.objects.filter(pk__in=ids, enabled=True).in_bulk()
    return [found[pk] for pk in dict.fromkeys(ids) if pk in found]


def message_queue(message: Message) -> None:
    """Queue the delivery task once the current transaction commits."""
    transaction.on_commit(partial(async_task, DELIVER_TASK, message.pk))


def message_deliver(*, message_id: int) -> Message | None:
    """Deliver one due pending message through its chain; None if not ours to send.

    Idempotent: a message that is delivered, given up, claimed by another worker or
    not due yet is left alone.
    """
    claimed = _message_claim(message_id)
    if claimed is None:
        return None
    message, chain = claimed
    delivered_via = None
    errors = []
    for channel in chain:
        attempt = _channel_try(channel, message)
        if attempt.outcome == DeliveryAttempt.Outcome.OK:
            delivered_via = channel
            break
        errors.append(f"{channel.name}: {attempt.error}")
    if not chain:
        errors.append("no enabled channel left in the chain")
    return _message_record(message_id, delivered_via=delivered_via, error="; ".join(errors))


def _message_claim(message_id: int) -> tuple[Message, list[NotificationChannel]] | None:
    with transaction.atomic():
        rows = Message.objects.filter(pk=message_id)
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: another worker holding the row means it is being claimed.
            rows = rows.select_for_update(skip_locked=True)
        # SQLite: the IMMEDIATE transaction already holds the database's write lock.
        message = rows.first()
        now = timezone.now()
        if (
            message is None
            or message.status != Message.Status.PENDING
            or message.next_attempt_at > now
        ):
            return None
        chain = channels_in_chain(message.chain)
        budget = timedelta(milliseconds=sum(c.timeout_ms for c in chain))
        message.next_attempt_at = now + budget + CLAIM_MARGIN
        message.save(update_fields=["next_attempt_at"])
    return message, chain


def _channel_try(channel: NotificationChannel, message: Message) -> DeliveryAttempt:
    outcome, http_status, error = DeliveryAttempt.Outcome.OK, None, ""
    started_at, clock = timezone.now(), time.monotonic()
    try:
        http_status = SENDERS[channel.kind](channel, message)
    except TimeoutError:
        outcome = DeliveryAttempt.Outcome.TIMEOUT
        error = f"no answer within {channel.timeout_ms} ms"
    except DeliveryError as exc:
        outcome, http_status, error = DeliveryAttempt.Outcome.ERROR, exc.http_status, str(exc)
    except Exception as exc:
        # A bug in one sender must not keep the next channel from being tried.
        logger.exception("notification channel %s failed unexpectedly", channel.pk)
        outcome, error = DeliveryAttempt.Outcome.ERROR, f"{type(exc).__name__}: {exc}"
    latency_ms = round((time.monotonic() - clock) * 1000)
    return DeliveryAttempt.objects.create(
        message=message,
        channel=channel,
        started_at=started_at,
        latency_ms=latency_ms,
        outcome=outcome,
        http_status=http_status,
        error=error[:MAX_ERROR_CHARS],
    )


def _message_record(
    message_id: int, *, delivered_via: NotificationChannel | None, error: str
) -> Message:
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.status != Message.Status.PENDING:
            return message
        now = timezone.now()
        message.attempts += 1
        if delivered_via is not None:
            message.status = Message.Status.DELIVERED
            message.delivered_channel = delivered_via
            message.delivered_at = now
            message.last_error = ""
            message.save(
                update_fields=[
                    "status",
                    "delivered_channel",
                    "delivered_at",
                    "attempts",
                    "last_error",
                ]
            )
            return message
        message.last_error = error[:MAX_ERROR_CHARS]
        give_up_at = message.created_at + timedelta(hours=settings.NOTIFY_GIVE_UP_HOURS)
        if now >= give_up_at:
            message.status = Message.Status.FAILED
            message.save(update_fields=["status", "attempts", "last_error"])
            message_given_up_event(message=message, at=now)
            logger.warning("notification %s given up: %s", message.pk, message.last_error)
            return message
        # The last try happens at the give-up time, not up to a backoff step later.
        next_at = min(now + backoff_delay(message.attempts), give_up_at)
        message.next_attempt_at = not_in_quiet_hours(message, next_at)
        message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
    return message


def messages_sweep(*, limit: int = SWEEP_BATCH, seconds: float = SWEEP_SECONDS) -> int:
    """Deliver due pending messages, oldest first. Returns how many were delivered."""
    due = (
        Message.objects.filter(status=Message.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )

    def deliver(message_id: int) -> bool:
        message = message_deliver(message_id=message_id)
        return message is not None and message.status == Message.Status.DELIVERED

    return outbox_sweep(due, deliver, seconds=seconds)


def message_retry(*, message: Message, by) -> Message:
    """Send a pending or given-up message again now (admin "retry now").

    A given-up message gets one more round: if it fails again it is given up again.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status == Message.Status.DELIVERED:
            return message
        now = timezone.now()
        message_retried_event(message=message, by=by, at=now)
        message.status = Message.Status.PENDING
        message.next_attempt_at = now
        message.save(update_fields=["status", "next_attempt_at"])
        message_queue(message)
    return message
