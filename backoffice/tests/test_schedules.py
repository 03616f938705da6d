"""`manage.py setup_schedules` declares every schedule once and keeps it as declared."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django_q.models import Schedule

from backoffice.schedules import ScheduleSpec, all_schedule_specs

pytestmark = pytest.mark.django_db

HEARTBEAT = "backoffice.heartbeat"


def setup_schedules() -> str:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue()


def status_line(output: str, name: str) -> str:
    [line] = [line for line in output.splitlines() if f" {name} " in f"{line} "]
    return line.split()[0]


def test_the_heartbeat_is_declared_every_minute_forever():
    assert status_line(setup_schedules(), HEARTBEAT) == "created"
    schedule = Schedule.objects.get(name=HEARTBEAT)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "backoffice.tasks.heartbeat",
        Schedule.MINUTES,
        1,
    )
    assert (schedule.cron, schedule.repeats, schedule.kwargs) == (None, -1, "")


def test_running_it_twice_creates_each_schedule_once_and_changes_nothing():
    setup_schedules()
    first = {s.name: (s.pk, s.next_run, s.func, s.minutes) for s in Schedule.objects.all()}

    output = setup_schedules()

    assert status_line(output, HEARTBEAT) == "ok"
    assert Schedule.objects.filter(name=HEARTBEAT).count() == 1
    assert Schedule.objects.count() == len(all_schedule_specs())
    # Not re-created and not rescheduled: the pending run is kept.
    assert {s.name: (s.pk, s.next_run, s.func, s.minutes) for s in Schedule.objects.all()} == first
    assert f"{len(all_schedule_specs())} schedules declared." in output


def test_a_schedule_edited_by_hand_is_put_back_as_declared():
    setup_schedules()
    Schedule.objects.filter(name=HEARTBEAT).update(
        func="backoffice.tasks.something_else", minutes=30, repeats=3
    )
    pk = Schedule.objects.get(name=HEARTBEAT).pk

    assert status_line(setup_schedules(), HEARTBEAT) == "updated"

    schedule = Schedule.objects.get(name=HEARTBEAT)
    assert schedule.pk == pk
    assert (schedule.func, schedule.minutes, schedule.repeats) == (
        "backoffice.tasks.heartbeat",
        1,
        -1,
    )


def test_a_changed_declaration_updates_the_existing_schedule(monkeypatch):
    setup_schedules()
    pk = Schedule.objects.get(name=HEARTBEAT).pk
    config = apps.get_app_config("backoffice")
    monkeypatch.setattr(
        config,
        "schedules",
        lambda: [
            ScheduleSpec(name=HEARTBEAT, func="backoffice.tasks.heartbeat", cron="*/2 * * * *")
        ],
    )

    assert status_line(setup_schedules(), HEARTBEAT) == "updated"

    schedule = Schedule.objects.get(name=HEARTBEAT)
    assert schedule.pk == pk and Schedule.objects.filter(name=HEARTBEAT).count() == 1
    assert (schedule.schedule_type, schedule.cron, schedule.minutes) == (
        Schedule.CRON,
        "*/2 * * * *",
        None,
    )
    assert status_line(setup_schedules(), HEARTBEAT) == "ok"


def test_schedules_it_does_not_declare_are_left_alone():
    Schedule.objects.create(name="someone.adhoc", func="math.floor", schedule_type=Schedule.ONCE)
    setup_schedules()
    setup_schedules()
    assert Schedule.objects.filter(name="someone.adhoc").count() == 1
