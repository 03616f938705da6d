"""Business time: working seconds between two instants, and the cutoff (its inverse)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.business_hours import business_cutoff, business_seconds, calendar_load, is_open_at
from backoffice.models import BusinessCalendar, SpecialDay, Weekday, WorkingPeriod

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the project's TIME_ZONE
HOUR = 3600

# The week of 2025-09-29 (Monday). Wednesday 10-01 is a holiday, Saturday 10-11 a
# make-up working day (09:00-17:00, no lunch break).
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2025, 9, 29) + timedelta(days=n) for n in range(7))
HOLIDAY = WED
NEXT_MON = MON + timedelta(days=7)
MAKE_UP_SATURDAY = date(2025, 10, 11)


def at(day: date, clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=SHANGHAI)


def office_calendar() -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Office")
    for weekday in range(Weekday.MONDAY, Weekday.FRIDAY + 1):
        WorkingPeriod.objects.create(
            calendar=calendar, weekday=weekday, start=time(9), end=time(12)
        )
        WorkingPeriod.objects.create(
            calendar=calendar, weekday=weekday, start=time(13), end=time(18)
        )
    SpecialDay.objects.create(calendar=calendar, date=HOLIDAY, name="National Day")
    SpecialDay.objects.create(
        calendar=calendar,
        date=MAKE_UP_SATURDAY,
        name="Make-up day",
        is_open=True,
        start=time(9),
        end=time(17),
    )
    return calendar


@pytest.fixture
def office(db):
    return calendar_load(office_calendar())


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        pytest.param(at(MON, "09:30"), at(MON, "11:30"), 2, id="within a morning"),
        pytest.param(at(MON, "11:00"), at(MON, "14:00"), 2, id="over lunch"),
        pytest.param(at(MON, "12:10"), at(MON, "12:50"), 0, id="inside lunch"),
        pytest.param(at(MON, "02:00"), at(MON, "09:30"), 0.5, id="before opening"),
        pytest.param(at(MON, "17:00"), at(TUE, "10:00"), 2, id="over a night"),
        pytest.param(at(TUE, "17:00"), at(THU, "10:00"), 2, id="over the holiday"),
        pytest.param(at(HOLIDAY, "08:00"), at(HOLIDAY, "20:00"), 0, id="on the holiday"),
        pytest.param(at(FRI, "17:00"), at(MON + timedelta(7), "10:00"), 2, id="over a weekend"),
        pytest.param(at(SAT, "10:00"), at(SUN, "10:00"), 0, id="on an ordinary weekend"),
        pytest.param(
            at(FRI + timedelta(7), "17:00"),
            at(MAKE_UP_SATURDAY + timedelta(2), "10:00"),
            1 + 8 + 1,
            id="over the make-up saturday",
        ),
        pytest.param(at(MON, "00:00"), at(NEXT_MON, "00:00"), 4 * 8, id="a week with a holiday"),
        pytest.param(at(MON, "10:00"), at(MON, "09:00"), 0, id="end before start"),
    ],
)
def test_business_seconds_count_only_open_hours(office, start, end, hours):
    assert business_seconds(office, start, end) == hours * HOUR


def test_business_seconds_read_times_of_day_in_the_project_time_zone(office):
    # 01:00 UTC is 09:00 in Shanghai: the office has just opened.
    start = datetime(2025, 9, 29, 1, 0, tzinfo=UTC)
    assert business_seconds(office, start, start + timedelta(hours=4)) == 3 * HOUR


@pytest.mark.parametrize(
    ("now", "hours", "cutoff"),
    [
        pytest.param(at(MON, "11:00"), 1, at(MON, "10:00"), id="same morning"),
        pytest.param(at(MON, "14:00"), 2, at(MON, "11:00"), id="back over lunch"),
        pytest.param(at(MON, "12:30"), 3, at(MON, "09:00"), id="from inside lunch"),
        pytest.param(
            at(MON + timedelta(7), "09:30"), 3, at(FRI, "15:30"), id="back over a weekend"
        ),
        pytest.param(at(THU, "09:30"), 1, at(TUE, "17:30"), id="back over the holiday"),
        pytest.param(
            at(MAKE_UP_SATURDAY, "10:00"), 2, at(FRI + timedelta(7), "17:00"), id="make-up day"
        ),
    ],
)
def test_business_cutoff_goes_back_by_working_time(office, now, hours, cutoff):
    assert business_cutoff(office, now, hours * HOUR) == cutoff


# Hypothesis takes naive bounds and attaches the time zone itself.
instants = st.datetimes(
    min_value=datetime(2025, 9, 29),  # noqa: DTZ001
    max_value=datetime(2025, 10, 20),  # noqa: DTZ001
    timezones=st.just(SHANGHAI),
)


@given(now=instants, seconds=st.integers(min_value=1, max_value=60 * HOUR))
def test_business_cutoff_is_the_inverse_of_business_seconds(office, now, seconds):
    cutoff = business_cutoff(office, now, seconds)
    assert cutoff is not None and cutoff <= now
    # (Summing float seconds of microsecond instants may be off in the last bit.)
    assert business_seconds(office, cutoff, now) == pytest.approx(seconds, abs=1e-6)
    # The latest such instant: a second later there is less working time left.
    assert business_seconds(office, cutoff + timedelta(seconds=1), now) < seconds


def test_business_cutoff_checks_a_handful_of_instants_exactly(office):
    for now in (at(MON, "09:00"), at(MON, "12:00"), at(WED, "15:00"), at(SUN, "23:59")):
        for seconds in (1, 59 * 60, 3 * HOUR, 8 * HOUR, 41 * HOUR):
            cutoff = business_cutoff(office, now, seconds)
            assert business_seconds(office, cutoff, now) == seconds


def test_without_a_calendar_it_is_the_wall_clock():
    start, end = at(SAT, "23:00"), at(SUN, "02:30")
    assert business_seconds(None, start, end) == 3.5 * HOUR
    assert business_cutoff(None, end, 3.5 * HOUR) == start
    assert is_open_at(None, start)


def test_a_calendar_without_open_time_never_yields_a_cutoff(db):
    empty = calendar_load(BusinessCalendar.objects.create(name="Nothing"))
    closed = BusinessCalendar.objects.create(name="Only holidays")
    SpecialDay.objects.create(calendar=closed, date=MON, name="Closed")

    for calendar in (empty, calendar_load(closed)):
        assert business_cutoff(calendar, at(MON, "10:00"), 60) is None
        assert business_seconds(calendar, at(MON, "00:00"), at(NEXT_MON, "00:00")) == 0


def test_is_open_at_follows_the_week_and_the_special_days(office):
    assert is_open_at(office, at(MON, "09:00"))
    assert not is_open_at(office, at(MON, "12:30"))
    assert not is_open_at(office, at(MON, "18:00"))
    assert not is_open_at(office, at(HOLIDAY, "10:00"))
    assert not is_open_at(office, at(SAT, "10:00"))
    assert is_open_at(office, at(MAKE_UP_SATURDAY, "16:59"))


def test_loading_a_calendar_takes_two_queries(django_assert_num_queries):
    calendar = office_calendar()
    with django_assert_num_queries(2):
        loaded = calendar_load(calendar.pk)
    assert loaded.periods_on(MON) == [(time(9), time(12)), (time(13), time(18))]
    assert loaded.periods_on(HOLIDAY) == []
    assert calendar_load(None) is None
