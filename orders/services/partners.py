"""Partner accounts and their API keys."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from backoffice.audit.services import audit_record
from orders import events
from orders.models import Partner
from orders.models.partners import PartnerAPIKey


def partner_key_create(*, partner: Partner, name: str, by=None, by_label: str = "") -> str:
    """A new API key for `partner`; returns the key itself (shown once, stored hashed)."""
    with transaction.atomic():
        api_key, key = PartnerAPIKey.objects.create_key(
            partner=partner, name=name[:50], created_by=by_label or str(by or "")
        )
        audit_record(
            verb=events.PARTNER_KEY_CREATED,
            actor=by,
            actor_label=by_label,
            subject=partner,
            payload={"prefix": api_key.prefix, "name": api_key.name},
        )
    return key


def partner_key_revoke(api_key: PartnerAPIKey, *, by=None, reason: str = "") -> None:
    with transaction.atomic():
        if PartnerAPIKey.objects.filter(pk=api_key.pk, revoked=False).update(revoked=True):
            audit_record(
                verb=events.PARTNER_KEY_REVOKED,
                actor=by,
                subject=api_key.partner,
                reason=reason,
                payload={"prefix": api_key.prefix, "name": api_key.name},
            )


def partner_create(*, name: str, code: str = "", by=None, by_label: str = "") -> Partner:
    code = slugify(code or name)[:40] or "partner"
    partner, _created = Partner.objects.get_or_create(code=code, defaults={"name": name[:120]})
    return partner
