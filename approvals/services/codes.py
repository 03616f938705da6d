"""Authorization codes: issue (shown once, stored hashed), revoke, check at use, and the
brute-force lockout per user and per IP address.

Checking a code is three short transactions, each committed on its own: reserve an
attempt on the counters, compare the code, then give the attempt back (right code) or
confirm the failure (wrong code; the fifth in the window locks entry). A refusal must
not roll the count back, so call `authorization_code_check` outside a transaction.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals import events
from approvals.models import AuthorizationCode, AuthorizationCodeUse
from approvals.models.codes import CodeScope
from approvals.services.lockout import (
    attempts_give_back,
    attempts_reserve,
    counter_keys,
    failure_record,
    minutes_locked,
)
from backoffice.audit.services import audit_actor, audit_record
from orders.services.errors import (
    InvalidOrderInput,
    OrderActionError,
    TransitionRefused,
    permission_require,
)
from orders.states import Via

# Crockford's base32 without I, L, O and U: nothing to misread on a phone screen.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4
CODE_LENGTH = GROUPS * GROUP_LENGTH
# Crockford's reading of the letters it leaves out.
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})
DEFAULT_VALIDITY = timedelta(hours=8)


class CodeRefused(OrderActionError):
    """An authorization code was not accepted; `code` says why (stable slugs)."""

    code = "code_invalid"
    default_message = _("The authorization code is not valid.")

    def __init__(self, message=None, *, code: str | None = None, retry_after: int | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


def code_normalise(raw: str | None) -> str:
    """Upper-case, without spaces or dashes, misread letters read as digits."""
    return re.sub(r"[\s\-]+", "", (raw or "").upper()).translate(_MISREAD)


def code_format(compact: str) -> str:
    return "-".join(compact[i : i + GROUP_LENGTH] for i in range(0, CODE_LENGTH, GROUP_LENGTH))


def _code_new() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


# --- Issue and revoke ------------------------------------------------------------------


def authorization_code_issue(
    *,
    label: str,
    scope: str = CodeScope.PRICE_CHANGE,
    max_deviation_pct: Decimal = Decimal("5"),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_uses: int = 1,
    holder=None,
    by,
) -> tuple[AuthorizationCode, str]:
    """Create a code; returns the row and the code itself (e.g. K7QM-3XPT-9ZRD).

    The code is shown to the issuer once and never stored: only its hash is.
    """
    permission_require(by, "approvals.add_authorizationcode")
    now = timezone.now()
    valid_from = valid_from or now
    valid_until = valid_until or valid_from + DEFAULT_VALIDITY
    label = (label or "").strip()
    problems = []
    if not label or len(label) > 120:
        problems.append(_("Give the code a label of at most 120 characters."))
    if scope not in CodeScope.values:
        problems.append(_("Unknown scope."))
    if max_deviation_pct is None or not (Decimal("0") <= max_deviation_pct <= Decimal("100")):
        problems.append(_("The maximum deviation must be between 0 and 100 %."))
    if valid_until <= valid_from:
        problems.append(_("The end of the validity must be after its start."))
    if valid_until <= now:
        problems.append(_("The code would already be expired."))
    if max_uses is None or not (1 <= max_uses <= 10_000):
        problems.append(_("The maximum number of uses must be between 1 and 10000."))
    if holder is not None and not holder.is_active:
        problems.append(_("The holder's account is inactive."))
    if problems:
        raise InvalidOrderInput(problems[0], reasons=problems[1:], code="invalid_code_settings")
    actor = audit_actor(by)
    terms = {
        "label": label,
        "scope": scope,
        "max_deviation_pct": max_deviation_pct.quantize(Decimal("0.01")),
        "valid_from": valid_from,
        "valid_until": valid_until,
        "max_uses": max_uses,
    }
    with transaction.atomic():
        for _attempt in range(10):
            plaintext = _code_new()
            prefix, code_hash = plaintext[:GROUP_LENGTH], make_password(plaintext)
            try:
                with transaction.atomic():
                    code = AuthorizationCode.objects.create(
                        prefix=prefix,
                        code_hash=code_hash,
                        holder=holder,
                        issued_at=now,
                        issued_by=actor,
                        **terms,
                    )
                break
            except IntegrityError:
                # Another code has this prefix: draw again (1 in a million per issue).
                if not AuthorizationCode.objects.filter(prefix=prefix).exists():
                    raise
        else:  # pragma: no cover - ten clashes in a row
            raise TransitionRefused(_("No free code could be drawn; try again."))
        audit_record(
            verb=events.CODE_ISSUED,
            actor=actor,
            subject=code,
            at=now,
            payload={**terms, "holder_id": code.holder_id},
        )
    return code, code_format(plaintext)


def authorization_code_revoke(code: AuthorizationCode, *, by, reason: str) -> AuthorizationCode:
    """Stop a code at once (e.g. it was overheard). Audited with the reason."""
    permission_require(by, "approvals.change_authorizationcode")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidOrderInput(_("Say why the code is revoked."), code="reason_required")
    now, actor = timezone.now(), audit_actor(by)
    with transaction.atomic():
        revoked = AuthorizationCode.objects.filter(pk=code.pk, revoked_at=None).update(
            revoked_at=now, revoked_by=actor
        )
        if not revoked:
            raise TransitionRefused(_("The code is already revoked."), code="code_revoked")
        code.revoked_at, code.revoked_by = now, actor
        audit_record(
            verb=events.CODE_REVOKED,
            actor=actor,
            subject=code,
            reason=reason[:300],
            at=now,
            payload={"uses": code.uses, "max_uses": code.max_uses},
        )
    return code


def authorization_code_status(code: AuthorizationCode, at: datetime | None = None) -> str:
    """One of active, revoked, not_yet_valid, expired, exhausted."""
    at = at or timezone.now()
    if code.revoked_at is not None:
        return "revoked"
    if at < code.valid_from:
        return "not_yet_valid"
    if at >= code.valid_until:
        return "expired"
    if code.uses >= code.max_uses:
        return "exhausted"
    return "active"


_STATUS_REFUSALS = {
    "revoked": ("code_revoked", _("This authorization code has been revoked.")),
    "not_yet_valid": ("code_not_yet_valid", _("This authorization code is not valid yet.")),
    "expired": ("code_expired", _("This authorization code has expired.")),
    "exhausted": ("code_exhausted", _("This authorization code has been used up.")),
}


def code_status_refusal(status: str) -> CodeRefused:
    slug, message = _STATUS_REFUSALS[status]
    return CodeRefused(message, code=slug)


# --- Checking a code at use ------------------------------------------------------------

_dummy_hashes: dict[tuple, str] = {}


def _valid_ip(ip: str | None) -> str | None:
    """The address as the log column takes it, or None (never a 500 over a bad header)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def _dummy_hash() -> str:
    """A hash made with the current hasher, to compare unknown codes against."""
    key = tuple(settings.PASSWORD_HASHERS)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = make_password("0" * CODE_LENGTH)
    return _dummy_hashes[key]


def authorization_code_check(
    raw_code: str,
    *,
    by,
    scope: str,
    ip: str | None = None,
    order=None,
    now: datetime | None = None,
) -> AuthorizationCode:
    """The code `raw_code` stands for, if `by` may use it now; raises CodeRefused.

    Only a wrong code counts as a failed attempt (per user and per IP address); five
    within 15 minutes lock code entry for 15 minutes. Never inside a transaction:
    the failure must stay counted when the refusal is raised.
    """
    compact = code_normalise(raw_code)
    if not compact:
        raise InvalidOrderInput(_("Enter the authorization code."), code="code_required")
    now = now or timezone.now()
    keys = counter_keys(by, ip)
    if keys and not attempts_reserve(keys, now):
        minutes = minutes_locked(keys, now)
        raise CodeRefused(
            _("Code entry is locked for %(minutes)s minutes after too many wrong codes.")
            % {"minutes": minutes},
            code="code_locked",
            retry_after=minutes * 60,
        )
    well_formed = len(compact) == CODE_LENGTH and all(c in ALPHABET for c in compact)
    code = (
        AuthorizationCode.objects.filter(prefix=compact[:GROUP_LENGTH]).first()
        if well_formed
        else None
    )
    if code is not None:
        matches = check_password(compact, code.code_hash)
    else:
        # Same work as a real comparison: the answer time does not reveal the prefix.
        check_password(compact, _dummy_hash())
        matches = False
    if not matches:
        kind = "malformed" if not well_formed else ("mismatch" if code else "unknown")
        failure_record(keys=keys, by=by, ip=ip, order=order, kind=kind, now=now)
        raise CodeRefused()
    if keys:
        attempts_give_back(keys)
    status = authorization_code_status(code, now)
    if status != "active":
        raise code_status_refusal(status)
    if code.scope != scope:
        raise CodeRefused(_("This code is not meant for this action."), code="code_wrong_scope")
    if code.holder_id is not None and (by is None or code.holder_id != by.pk):
        raise CodeRefused(_("This code was issued to someone else."), code="code_wrong_holder")
    return code


def authorization_code_use_record(
    code: AuthorizationCode, *, order, price_change, by, deviation_pct, reason, ip, now
) -> AuthorizationCodeUse:
    """Count one use (never past `max_uses`: one conditional UPDATE), log who used the
    code on which order and why, and audit it on the order. Caller holds atomic()."""
    counted = AuthorizationCode.objects.filter(
        pk=code.pk,
        revoked_at=None,
        valid_from__lte=now,
        valid_until__gt=now,
        uses__lt=F("max_uses"),
    ).update(uses=F("uses") + 1)
    if counted != 1:
        code.refresh_from_db(fields=["uses", "revoked_at", "valid_from", "valid_until"])
        status = authorization_code_status(code, now)
        raise code_status_refusal(status if status != "active" else "exhausted")
    code.uses += 1
    actor = audit_actor(by)
    use = AuthorizationCodeUse.objects.create(
        code=code,
        order=order,
        price_change=price_change,
        used_by=actor,
        used_at=now,
        deviation_pct=deviation_pct,
        reason=reason,
        ip_address=_valid_ip(ip),
    )
    audit_record(
        verb=events.CODE_USED,
        actor=actor,
        subject=order,
        reason=reason,
        at=now,
        payload={
            "via": Via.AUTH_CODE,
            "code_id": code.pk,
            "code_label": code.label,
            "price_change_id": getattr(price_change, "pk", None),
            "deviation_pct": deviation_pct,
            "ip": ip,
            "uses": code.uses,
            "max_uses": code.max_uses,
        },
    )
    return use
