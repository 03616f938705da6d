"""Declarations of django-q2 schedules.

Every app lists its jobs in `AppConfig.schedules()`; `manage.py setup_schedules`
collects them and creates or updates one Schedule row per name, so running it
twice changes nothing (HackSoft styleguide: one idempotent command).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import transaction
from django_q.models import Schedule


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int | None = None
    cron: str | None = None
    kwargs: str = ""

    def defaults(self) -> dict:
        if self.cron:
            return {
                "func": self.func,
                "schedule_type": Schedule.CRON,
                "cron": self.cron,
                "minutes": None,
                "kwargs": self.kwargs,
                "repeats": -1,
            }
        return {
            "func": self.func,
            "schedule_type": Schedule.MINUTES,
            "minutes": self.minutes or 1,
            "cron": None,
            "kwargs": self.kwargs,
            "repeats": -1,
        }


def all_schedule_specs() -> list[ScheduleSpec]:
    specs: list[ScheduleSpec] = []
    for config in apps.get_app_configs():
        declare = getattr(config, "schedules", None)
        if callable(declare):
            specs.extend(declare())
    return specs


@transaction.atomic
def schedules_sync() -> tuple[list[str], list[str]]:
    """Create or update every declared schedule. Returns (created, updated) names."""
    created, updated = [], []
    for spec in all_schedule_specs():
        schedule, was_created = Schedule.objects.get_or_create(
            name=spec.name, defaults=spec.defaults()
        )
        if was_created:
            created.append(spec.name)
            continue
        changed = [k for k, v in spec.defaults().items() if getattr(schedule, k) != v]
        if changed:
            for key in changed:
                setattr(schedule, key, spec.defaults()[key])
            schedule.save(update_fields=changed)
            updated.append(spec.name)
    return created, updated
