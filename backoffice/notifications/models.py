from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    URLValidator,
    validate_email,
)
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """An in-app message in a person's to-do list. The in-app copy always exists,
    whatever happens to the other channels."""

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        WARNING = "warning", _("Warning")
        URGENT = "urgent", _("Urgent")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    level = models.CharField(_("level"), max_length=10, choices=Level, default=Level.INFO)
    text = models.CharField(_("text"), max_length=500)
    link = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at", "created_at"], name="notif_inbox"),
        ]

    def __str__(self):
        return self.text[:60]

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    # A plain JSON POST, signed with HMAC-SHA256 when a secret is set.
    WEBHOOK = "webhook", _("Generic webhook")
    # Chat robots of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书).
    WECOM = "wecom", _("WeCom robot")
    DINGTALK = "dingtalk", _("DingTalk robot")
    FEISHU = "feishu", _("Feishu robot")


class NotificationChannel(models.Model):
    """Somewhere a message can be sent besides the in-app to-do list."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=ChannelKind)
    target = models.CharField(
        _("target"),
        max_length=1000,
        blank=True,
        help_text=_(
            "E-mail: addresses separated by commas, or blank to write to the recipients' own "
            "addresses. Other kinds: the webhook URL (http or https)."
        ),
    )
    secret = models.CharField(
        _("secret"),
        max_length=200,
        blank=True,
        help_text=_(
            "Optional. DingTalk and Feishu: the robot's signing secret. Generic webhook: the "
            "HMAC key of the X-Backoffice-Signature header."
        ),
    )
    timeout_ms = models.PositiveIntegerField(
        _("latency budget (ms)"),
        default=3000,
        validators=[MinValueValidator(100), MaxValueValidator(60_000)],
        help_text=_("A channel slower than this counts as failed and the next one is tried."),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("Disable a channel instead of deleting it: its delivery history refers to it."),
    )
    for_supervisors = models.BooleanField(
        _("for supervisor alarms"),
        default=False,
        help_text=_("Alarms meant for supervisors are sent through these channels."),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        default=100,
        help_text=_("Channels for supervisor alarms are tried in this order, lowest first."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        ordering = ["priority", "name", "id"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def email_addresses(self) -> list[str]:
        return [a.strip() for a in self.target.split(",") if a.strip()]

    def clean(self):
        super().clean()
        if self.kind == ChannelKind.EMAIL:
            for address in self.email_addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError(
                        {
                            "target": _("%(address)s is not a valid e-mail address.")
                            % {"address": address}
                        }
                    ) from None
            return
        if not self.target:
            raise ValidationError({"target": _("A webhook channel needs a URL.")})
        try:
            URLValidator(schemes=["http", "https"])(self.target)
        except ValidationError:
            raise ValidationError({"target": _("Enter a valid http:// or https:// URL.")}) from None


class Message(models.Model):
    """The outbox: one message to deliver through a chain of channels.

    A sweeper retries pending messages with backoff (django-q2's own retry only
    re-runs tasks whose worker died, STYLE.md), so a message survives a receiver
    that is down for hours and is given up only after NOTIFY_GIVE_UP_HOURS.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        # Every channel kept failing until NOTIFY_GIVE_UP_HOURS had passed.
        FAILED = "failed", _("Failed (given up)")

    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("text"), blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    level = models.CharField(
        _("level"), max_length=10, choices=Notification.Level, default=Notification.Level.INFO
    )
    # Chosen by the caller ("breaker:picking:trip:12") so its app can show who was
    # notified of that event, and how fast.
    event = models.CharField(_("event"), max_length=200, blank=True, db_index=True)
    recipient_emails = models.JSONField(_("recipient e-mail addresses"), default=list, blank=True)
    chain = models.JSONField(
        _("channel chain"), default=list, help_text=_("Channel ids, in order.")
    )
    # A non-urgent message is not sent inside this local time window (may wrap midnight).
    quiet_from = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    delivered_channel = models.ForeignKey(
        NotificationChannel,
        verbose_name=_("delivered via"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="delivered_messages",
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweeper: due pending messages, oldest first.
            models.Index(fields=["status", "next_attempt_at"], name="notif_msg_due"),
        ]

    def __str__(self):
        return self.subject[:60]

    @property
    def is_urgent(self) -> bool:
        return self.level == Notification.Level.URGENT

    @property
    def latency(self) -> timedelta | None:
        if self.delivered_at is None:
            return None
        return self.delivered_at - self.created_at


class DeliveryAttempt(models.Model):
    """One try of one channel for one message, with its latency."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        ERROR = "error", _("Error")
        TIMEOUT = "timeout", _("Timed out")

    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="delivery_attempts",
    )
    channel = models.ForeignKey(
        NotificationChannel,
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="delivery_attempts",
    )
    started_at = models.DateTimeField(_("started at"))
    latency_ms = models.PositiveIntegerField(_("latency (ms)"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"{self.channel_id} {self.outcome} {self.latency_ms} ms"
