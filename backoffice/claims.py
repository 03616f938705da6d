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

from collections.abc import Callable
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
    """Add one to the counter `key` if that stays within `limit`. Creates the row.

    Plain SQL: this runs twice per claim, and the ORM's statement compilation
    would cost more than the statement itself.
    """
    quote = connection.ops.quote_name
    table, key_column = quote(WorkLoad._meta.db_table), quote("key")
    sql = f"UPDATE {table} SET in_progress = in_progress + 1 WHERE {key_column} = %s"
    params: list = [key]
    if limit is not None:
        sql += " AND in_progress < %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount:
            return True
    # No row changed: the counter is at its limit, or its row is new. A row another
    # transaction was creating may have committed between that UPDATE and now (the
    # UPDATE could not see it yet): only an UPDATE that runs after the row is seen to
    # exist may say "at the limit". bulk_create(ignore_conflicts) waits for such a
    # creator to finish.
    if not WorkLoad.objects.filter(key=key).exists():
        WorkLoad.objects.bulk_create([WorkLoad(key=key)], ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount)


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
    on_claimed: Callable[[models.Model], None] | None = None,
):
    """Claim the first unclaimed item of `queryset` (already in queue order) for `user`.

    Returns the claimed item (its claim columns set), or None when the queue is empty.
    Raises ClaimRefused when the person's cap or the queue's WIP limit is reached.
    `on_claimed(item)` runs inside the transaction before the queue's counter is
    raised (e.g. to write the audit row), so the hot counter row is locked only for
    the last statement before COMMIT.
    """
    now = now or timezone.now()
    model = queryset.model
    # Outermost in the services: no savepoint. Nested in a caller's transaction, the
    # savepoint lets a refusal roll back the claim without spoiling the caller's work.
    with transaction.atomic():
        candidates = queryset.filter(claimed_by__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        item = candidates.first()
        if item is None:
            return None
        if _claim_row(model, item.pk, user_id=user.pk, now=now) != 1:
            return None  # pragma: no cover - the row lock makes this impossible
        item.claimed_by, item.claimed_at, item.claim_touched_at = user, now, now
        if not _raise(person_key(queue, user.pk), limits.person_cap):
            raise ClaimRefused(
                _("You already have %(cap)s items in progress here: finish one first.")
                % {"cap": limits.person_cap},
                code="person_cap",
            )
        if on_claimed is not None:
            on_claimed(item)
        if not _raise(queue, limits.wip_limit):
            raise ClaimRefused(
                _(
                    "The concurrency limit of %(limit)s items in progress is reached: "
                    "try again soon."
                )
                % {"limit": limits.wip_limit},
                code="wip_limit",
            )
    return item


def _claim_row(model, pk, *, user_id: int, now: datetime) -> int:
    """Set the claim columns of one unclaimed row (plain SQL, see `_raise`)."""
    quote = connection.ops.quote_name
    meta = model._meta
    by, at, touched = (
        quote(meta.get_field(name).column)
        for name in ("claimed_by", "claimed_at", "claim_touched_at")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {by} = %s, {at} = %s, {touched} = %s "
            f"WHERE {quote(meta.pk.column)} = %s AND {by} IS NULL",
            [user_id, now, now, pk],
        )
        return cursor.rowcount


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
