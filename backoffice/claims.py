"""Generic work claiming: hand the next item of a queue to one person, atomically.

Any model with the three claim columns (`claimed_by`, `claimed_at`,
`claim_touched_at`) can be a work queue: orders per stage, exception cases per team.
The caller passes the queryset of claimable items in queue order and the limits;
this module guarantees:

- no item is ever claimed twice: on PostgreSQL the candidate row is locked with
  `FOR UPDATE SKIP LOCKED` (claimers never wait on each other) and claimed with
  an UPDATE that re-checks `claimed_by IS NULL`; on SQLite the IMMEDIATE write
  transaction serialises claimers, which is correct if slower;
- the queue's WIP limit and the person's cap are never exceeded: each is a
  `WorkLoad` counter raised by a conditional UPDATE (`in_progress < limit`), the
  last statements of the transaction so the hot row is held for the shortest time.
  A refused claim rolls back, leaving the item unclaimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.models import WorkLoad


class ClaimRefused(Exception):
    """A claim would exceed a limit. `code` is "wip_limit" or "person_cap"."""

    def __init__(self, message, *, code: str):
        super().__init__(str(message))
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ClaimLimits:
    """The limits in force for a queue now (None: unlimited)."""

    wip_limit: int | None = None
    person_cap: int | None = None


def person_key(queue: str, user_id: int) -> str:
    return f"{queue}@{user_id}"


def _raise(key: str, limit: int | None) -> bool:
    """Add one to the counter `key` if that stays within `limit`. Creates the row."""
    for _attempt in range(2):
        rows = WorkLoad.objects.filter(key=key)
        if limit is not None:
            rows = rows.filter(in_progress__lt=limit)
        if rows.update(in_progress=F("in_progress") + 1):
            return True
        if WorkLoad.objects.filter(key=key).exists():
            return False
        WorkLoad.objects.bulk_create([WorkLoad(key=key)], ignore_conflicts=True)
    return False


def workload_lower(*keys: str) -> None:
    """Take one off each counter (never below zero)."""
    WorkLoad.objects.filter(key__in=keys, in_progress__gt=0).update(
        in_progress=F("in_progress") - 1
    )


def workload_counts(queue: str, user_id: int | None = None) -> tuple[int, int]:
    """(in progress in the queue, in progress for the person) as the counters say."""
    keys = [queue] + ([person_key(queue, user_id)] if user_id else [])
    counts = dict(WorkLoad.objects.filter(key__in=keys).values_list("key", "in_progress"))
    mine = counts.get(person_key(queue, user_id), 0) if user_id else 0
    return counts.get(queue, 0), mine


def claim_next(
    queryset: models.QuerySet,
    *,
    user,
    queue: str,
    limits: ClaimLimits,
    now: datetime | None = None,
):
    """Claim the first unclaimed item of `queryset` (already in queue order) for `user`.

    Returns the claimed item's primary key, or None when the queue is empty.
    Raises ClaimRefused when the person's cap or the queue's WIP limit is reached.
    """
    now = now or timezone.now()
    model = queryset.model
    with transaction.atomic():
        candidates = queryset.filter(claimed_by__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        pk = candidates.values_list("pk", flat=True).first()
        if pk is None:
            return None
        claimed = model.objects.filter(pk=pk, claimed_by__isnull=True).update(
            claimed_by=user, claimed_at=now, claim_touched_at=now
        )
        if claimed != 1:  # pragma: no cover - the row lock makes this impossible
            return None
        if not _raise(person_key(queue, user.pk), limits.person_cap):
            raise ClaimRefused(
                _("You already have %(cap)s items in progress here: finish one first.")
                % {"cap": limits.person_cap},
                code="person_cap",
            )
        if not _raise(queue, limits.wip_limit):
            raise ClaimRefused(
                _(
                    "The concurrency limit of %(limit)s items in progress is reached: "
                    "try again soon."
                )
                % {"limit": limits.wip_limit},
                code="wip_limit",
            )
    return pk


def claim_release_counters(*, queue: str, user_id: int) -> None:
    """Lower the counters after an item claimed by `user_id` left the queue or was
    released. Call inside the transaction that cleared the claim columns."""
    workload_lower(queue, person_key(queue, user_id))


def claims_reconcile(*, queue: str, claimed: models.QuerySet) -> dict[str, int]:
    """Set the queue's counters to what the claimed rows say.

    `claimed` is the queryset of items currently claimed in `queue`. The queue's
    counter row is locked first, so a claim or release running at the same time
    waits and then applies its +1/-1 on top of the corrected value.
    """
    with transaction.atomic():
        WorkLoad.objects.bulk_create([WorkLoad(key=queue)], ignore_conflicts=True)
        list(WorkLoad.objects.select_for_update().filter(key=queue))
        per_person = dict(
            claimed.order_by()
            .values_list("claimed_by")
            .annotate(n=models.Count("pk"))
            .values_list("claimed_by", "n")
        )
        wanted = {queue: sum(per_person.values())}
        wanted.update({person_key(queue, uid): n for uid, n in per_person.items()})
        stale = WorkLoad.objects.filter(key__startswith=f"{queue}@").exclude(key__in=wanted)
        changed = dict.fromkeys(stale.filter(in_progress__gt=0).values_list("key", flat=True), 0)
        stale.update(in_progress=0)
        current = dict(WorkLoad.objects.filter(key__in=wanted).values_list("key", "in_progress"))
        for key, value in wanted.items():
            if current.get(key) != value:
                WorkLoad.objects.update_or_create(key=key, defaults={"in_progress": value})
                changed[key] = value
    return changed
