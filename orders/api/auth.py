"""Partner authentication (API keys), the partner permission and the per-key throttle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from orders.models import Partner
from orders.models.partners import PartnerAPIKey

KEY_HEADER = "HTTP_X_API_KEY"
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass
class PartnerPrincipal:
    """`request.user` of a partner request: the partner behind the key."""

    partner: Partner
    key: PartnerAPIKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk = None

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self):
        return self.partner.name


def _key_from(request) -> str | None:
    key = request.META.get(KEY_HEADER)
    if key:
        return key.strip()
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "api-key" and value.strip():
        return value.strip()
    return None


class PartnerKeyAuthentication(authentication.BaseAuthentication):
    """`X-Api-Key: <key>` or `Authorization: Api-Key <key>`."""

    def authenticate(self, request):
        key = _key_from(request)
        if key is None:
            return None
        if not (key.isascii() and key.isprintable()) or len(key) > 200:
            # Keys are short ASCII; a NUL would even fail in PostgreSQL's query.
            raise exceptions.AuthenticationFailed(_("Unknown, revoked or expired API key."))
        prefix, _dot, _rest = key.partition(".")
        api_key = (
            PartnerAPIKey.objects.get_usable_keys()
            .select_related("partner")
            .filter(prefix=prefix[:8])
            .first()
        )
        if api_key is None or api_key.has_expired or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed(_("Unknown, revoked or expired API key."))
        if not api_key.partner.is_active:
            raise exceptions.AuthenticationFailed(_("This partner account is disabled."))
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_EVERY:
            PartnerAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return PartnerPrincipal(partner=api_key.partner, key=api_key), api_key

    def authenticate_header(self, request):
        return "Api-Key"


class IsPartner(permissions.BasePermission):
    message = _("An API key is required.")

    def has_permission(self, request, view):
        return isinstance(request.user, PartnerPrincipal)


class PartnerKeyThrottle(throttling.SimpleRateThrottle):
    """Requests per API key (API_THROTTLE_RATE, e.g. "1200/min"), counted in the shared
    cache so every web worker sees the same count."""

    scope = "partner_key"

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.user, PartnerPrincipal):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.key.prefix}
