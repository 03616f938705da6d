"""django-q2 jobs of the reports app: each calls one service and is idempotent."""

from __future__ import annotations


def rollups_update() -> str:
    from reports.rollups import rollups_update as update

    run = update()
    return f"{run.rows} stage-hours rolled up to {run.end:%Y-%m-%d %H:%M} in {run.seconds:.2f}s"


def activity_purge() -> int:
    from reports.activity import activity_purge as purge

    return purge()


def reviews_nightly() -> list[int]:
    """Review the finished backlog episodes of the previous day(s); idempotent."""
    from reports.review.services import reviews_nightly as run

    return run()
