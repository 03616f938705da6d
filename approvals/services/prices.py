"""Price-change requests. (Being built: see the helper brief.)"""

from __future__ import annotations


def price_change_blockers(order, stage) -> list[str]:
    return []
