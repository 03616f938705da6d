"""The health score's weights and bands: versioned, validated, audited, cached per
process for a few seconds (intake scores every order)."""

from __future__ import annotations

import time
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.audit.services import audit_record
from backoffice.audit.verbs import register_verbs
from orders.models import ScoreWeights
from orders.services.health_factors import FACTORS

HEALTH_WEIGHTS_CHANGED = "health.weights_changed"
register_verbs({HEALTH_WEIGHTS_CHANGED: _("Health score weights changed")})

RESCORE_TASK = "orders.tasks.health_rescore_open"
BANDS = ("fast_lane_min", "watch_below")


def weights_current() -> ScoreWeights:
    """The weights in force (the newest row); the defaults are stored on first use."""
    current = ScoreWeights.objects.order_by("-created_at", "-id").first()
    if current is None:
        current = ScoreWeights.objects.create(reason=gettext("Defaults"))
    _weights_memo.update(row=current, at=time.monotonic())
    return current


_weights_memo: dict = {"row": None, "at": 0.0}


def weights_recent() -> ScoreWeights:
    """The weights in force as this process read them at most
    HEALTH_WEIGHTS_CACHE_SECONDS ago (intake scores every order: no query each time)."""
    ttl = getattr(settings, "HEALTH_WEIGHTS_CACHE_SECONDS", 5)
    if _weights_memo["row"] is not None and time.monotonic() - _weights_memo["at"] < ttl:
        return _weights_memo["row"]
    return weights_current()


def weights_validate(values: dict) -> None:
    """Refuse weights that do not sum to 100 and bands out of order (ValidationError)."""
    errors: dict[str, list] = {}
    for name in (*FACTORS, *BANDS):
        value = values.get(name)
        if not isinstance(value, int) or not 0 <= value <= 100:
            errors.setdefault(name, []).append(gettext("A whole number from 0 to 100."))
    if errors:
        raise ValidationError(errors)
    total = sum(values[name] for name in FACTORS)
    if total != 100:
        errors["__all__"] = [
            gettext("The five weights must add up to 100 (they add up to %(total)s).")
            % {"total": total}
        ]
    if values["fast_lane_min"] < 1 or values["watch_below"] < 1:
        errors.setdefault("__all__", []).append(gettext("The bands start at 1."))
    if values["watch_below"] >= values["fast_lane_min"]:
        errors["watch_below"] = [
            gettext("The watch band must lie below the fast lane (%(fast)s).")
            % {"fast": values["fast_lane_min"]}
        ]
    if errors:
        raise ValidationError(errors)


def weights_change(*, by, reason: str, **weights) -> ScoreWeights:
    """A new weights version (unnamed values stay as they are), audited; open orders
    are rescored after commit by a task."""
    unknown = set(weights) - {*FACTORS, *BANDS}
    if unknown:
        raise TypeError(f"unknown weights: {', '.join(sorted(unknown))}")
    if not reason or not reason.strip():
        raise ValidationError({"reason": [gettext("Say why the weights change.")]})
    before = weights_current()
    with transaction.atomic():
        values = {name: getattr(before, name) for name in (*FACTORS, *BANDS)}
        values.update(weights)
        weights_validate(values)
        created = ScoreWeights.objects.create(
            **values, created_by=by, reason=reason.strip(), created_at=timezone.now()
        )
        _weights_memo.update(row=created, at=time.monotonic())  # this process: at once
        audit_record(
            verb=HEALTH_WEIGHTS_CHANGED,
            actor=by,
            subject=created,
            reason=created.reason,
            payload={
                "version": created.pk,
                "previous": before.pk,
                "before": {n: getattr(before, n) for n in (*FACTORS, *BANDS)},
                "after": values,
            },
        )
        from django_q.tasks import async_task

        transaction.on_commit(partial(async_task, RESCORE_TASK))
    return created
