"""Partner webhooks: subscriptions, the outbox of events, and the log of every attempt.

A status change writes one `WebhookDelivery` per matching subscription in the same
transaction as the change (nothing is announced that did not happen, nothing that
happened is lost); a django-q2 task and a sweeper POST them with backoff
(orders.services.webhooks).
"""

from __future__ import annotations

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models.customers import Partner
from orders.models.orders import Order


class WebhookEvent(models.TextChoices):
    """Event types a partner can subscribe to: slugs are a published contract."""

    # The order was taken in (by the API, the admin or an import).
    ORDER_CREATED = "order.created", _("Order created")
    # Any other stage change, automatic zero-length passes included.
    ORDER_STATUS_CHANGED = "order.status_changed", _("Order status changed")
    # Handed to the carrier: carries the carrier and the tracking number.
    ORDER_DISPATCHED = "order.dispatched", _("Order dispatched")
    # Cancelled: carries the reason.
    ORDER_CANCELLED = "order.cancelled", _("Order cancelled")


def webhook_secret_new() -> str:
    """A fresh signing secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def validate_event_types(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Event types must be a list of event names."))
    unknown = sorted(set(value) - set(WebhookEvent.values))
    if unknown:
        raise ValidationError(_("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)})


class WebhookSubscription(models.Model):
    """Where a partner wants its order events POSTed, and which ones."""

    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
    )
    url = models.URLField(
        _("URL"),
        max_length=1000,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("The partner's receiver (http:// or https://); events are POSTed as JSON."),
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=webhook_secret_new,
        help_text=_(
            "Give it to the partner: every event is signed with it "
            "(X-Webhook-Signature: sha256=HMAC-SHA256(secret, timestamp + '.' + body))."
        ),
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        validators=[validate_event_types],
        help_text=_("None selected: every event."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_(
            "Deactivate instead of deleting: deleting also deletes the subscription's delivery log."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["partner", "id"]

    def __str__(self):
        return f"{self.partner} → {self.url}"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    """The outbox: one event for one subscription, retried with backoff until delivered
    or given up (then replayable from the admin)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        # The receiver kept failing until the give-up time.
        FAILED = "failed", _("Failed (given up)")

    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("subscription"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    # For the admin ("what did the partner hear about this order?"); kept when an
    # order goes (none are deleted today, but the log must not block it).
    order = models.ForeignKey(
        Order,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # X-Webhook-Id: the same on every retry and replay, so receivers can deduplicate.
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True)
    event_type = models.CharField(_("event type"), max_length=40, choices=WebhookEvent)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # Retried until then; a replay starts a new window.
    give_up_at = models.DateTimeField(_("give up at"))
    last_http_status = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweeper: due pending deliveries, oldest first.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id}"


class WebhookAttempt(models.Model):
    """One POST of one delivery: when, how long, what the receiver answered."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        ERROR = "error", _("Error")
        TIMEOUT = "timeout", _("Timed out")

    delivery = models.ForeignKey(
        WebhookDelivery,
        verbose_name=_("delivery"),
        on_delete=models.CASCADE,
        related_name="attempt_log",
    )
    started_at = models.DateTimeField(_("started at"), db_index=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"))
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"{self.outcome} {self.http_status or '-'} {self.latency_ms} ms"
