"""Partner API keys and idempotency records of the partner API."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from orders.models.customers import Partner
from orders.models.orders import Order


class PartnerAPIKeyManager(BaseAPIKeyManager):
    pass


class PartnerAPIKey(AbstractAPIKey):
    """One API key of a partner: stored hashed (only the prefix is readable), shown
    once at creation, revocable (for good), with the time it was last used."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="api_keys"
    )
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    # Written at most once a minute per key: a busy partner must not turn every
    # request into a write.
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    objects = PartnerAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("partner API key")
        verbose_name_plural = _("partner API keys")


class IdempotencyRecord(models.Model):
    """What `POST /api/v1/orders/` answered to one Idempotency-Key of one partner.

    Written in the same transaction as the order it created, so a retry finds either
    nothing (the first attempt failed: start again) or the complete answer to replay.
    A concurrent duplicate waits on the unique index until the first commits.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("idempotency key"), max_length=255)
    request_hash = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status code"))
    response_body = models.JSONField(_("response body"))
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_per_partner")
        ]

    def __str__(self):
        return f"{self.partner_id}:{self.key}"
