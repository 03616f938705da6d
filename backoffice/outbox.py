"""What every outbox (notifications, partner webhooks) shares: the retry schedule and
the sweep loop. Each outbox keeps its own rows, claim and record steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import timedelta


def backoff_delay(attempts: int, *, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1, 2, 3...): `first`, doubling,
    never more than `cap`."""
    return min(first * 2 ** min(max(attempts - 1, 0), 16), cap)


def outbox_sweep(ids: Iterable[int], deliver: Callable[[int], bool], *, seconds: float) -> int:
    """Deliver the due rows `ids` in order, starting none after `seconds` (so a sweep
    ends well inside the task timeout). Returns how many `deliver` calls succeeded."""
    started = time.monotonic()
    delivered = 0
    for row_id in list(ids):
        if time.monotonic() - started > seconds:
            break
        delivered += bool(deliver(row_id))
    return delivered
