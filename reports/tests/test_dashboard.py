"""The bottleneck dashboard: baseline selection, heatmap colours, stall flags, the page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse

from orders import teams
from orders.models import Order, StageVisit
from orders.states import OrderStatus
from orders.tests.factories import UserFactory, bulk_waiting_orders, stage_configure
from reports.dashboard import heatmap_build, stage_flags, stage_panel
from reports.dashboard.heatmap import baseline_days
from reports.models import StaffActivity
from reports.rollups import rollups_update

pytestmark = pytest.mark.django_db

S = OrderStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 14, 20, tzinfo=SHANGHAI)  # a Wednesday afternoon
TODAY = NOW.replace(hour=0, minute=0)


def visits(stage: str, times: list[tuple[datetime, datetime | None]]) -> list[int]:
    """One order per visit (in `stage`, as if waiting there), visits as given."""
    ids = bulk_waiting_orders(len(times), stage=stage, start=times[0][0] if times else NOW)
    StageVisit.objects.bulk_create(
        StageVisit(order_id=i, stage=stage, entered_at=entered, left_at=left)
        for i, (entered, left) in zip(ids, times, strict=True)
    )
    return ids


def flowing(stage: str, day: datetime, hour: int, count: int, dwell_minutes: float = 10):
    """`count` orders entering and leaving `stage` during one local hour of `day`."""
    start = day.replace(hour=hour, minute=0)
    spacing = 60 / max(count, 1)
    times = []
    for n in range(count):
        entered = start + timedelta(minutes=n * spacing)
        times.append((entered, entered + timedelta(minutes=dwell_minutes)))
    ids = visits(stage, times)
    Order.objects.filter(pk__in=ids).update(status=S.DISPATCHED)


def normal_history(*, weeks: int = 5, per_hour: int = 12, stage: str = S.PICKING):
    """A normal day's picking flow for the hours 8-14, every day of the past weeks."""
    for back in range(1, weeks * 7 + 1):
        day = TODAY - timedelta(days=back)
        for hour in range(8, 15):
            flowing(stage, day, hour, per_hour)


@pytest.fixture
def warehouse_team(db):
    group = Group.objects.get(name=teams.WAREHOUSE)
    stage_configure(S.PICKING, owner_group=group, sla_minutes=40)
    return group


@pytest.fixture
def picker(warehouse_team):
    return UserFactory(username="picker", groups=[teams.WAREHOUSE])


class TestBaselineSelection:
    def test_four_weeks_of_history_compare_with_the_same_weekday(self):
        flowing(S.PICKING, TODAY - timedelta(days=40), 10, 1)
        kind, days = baseline_days(TODAY)
        assert kind == "weekday"
        assert [d.date().isoformat() for d in days] == [
            "2026-11-18",
            "2026-11-11",
            "2026-11-04",
            "2026-10-28",
        ]
        assert all(d.weekday() == TODAY.weekday() for d in days)

    def test_a_short_history_falls_back_to_the_days_it_covers_in_the_last_week(self):
        flowing(S.PICKING, TODAY - timedelta(days=10), 10, 1)
        kind, days = baseline_days(TODAY)
        assert kind == "recent"
        assert len(days) == 7 and days[0] == TODAY - timedelta(days=1)

        StageVisit.objects.all().delete()
        flowing(S.PICKING, TODAY - timedelta(days=3), 10, 1)
        kind, days = baseline_days(TODAY)
        assert kind == "recent"
        assert days == [TODAY - timedelta(days=n) for n in (1, 2, 3)]

    def test_history_read_from_the_rollups_once_they_exist(self):
        flowing(S.PICKING, TODAY - timedelta(days=30), 10, 1)
        rollups_update(now=NOW)
        StageVisit.objects.all().delete()  # the rollups alone remember
        assert baseline_days(TODAY)[0] == "weekday"


class TestHeatmap:
    def test_a_busy_hour_is_hot_against_the_same_weekday_and_a_normal_one_is_not(self):
        for week in range(1, 5):
            flowing(S.PICKING, TODAY - timedelta(weeks=week), 10, 10)
            flowing(S.PICKING, TODAY - timedelta(weeks=week), 11, 10)
            # Other weekdays are much busier: they must not count.
            flowing(S.PICKING, TODAY - timedelta(weeks=week, days=1), 10, 40)
        flowing(S.PICKING, TODAY, 10, 25)
        flowing(S.PICKING, TODAY, 11, 10)
        with time_machine.travel(NOW, tick=False):
            rollups_update()
            heat = heatmap_build()
        row = next(r for r in heat.rows if r.stage == S.PICKING)
        ten, eleven = row.cells[10], row.cells[11]
        assert (ten.value, ten.baseline, ten.level, ten.difference_percent) == (
            25,
            10,
            "critical",
            150,
        )
        assert (eleven.value, eleven.baseline, eleven.level) == (10, 10, "normal")
        assert heat.baseline_kind == "weekday"
        assert len(row.cells) == 15  # hours 0..14 of today

    def test_dwell_mode_compares_average_dwell_of_the_exits(self):
        for week in range(1, 5):
            flowing(S.PICKING, TODAY - timedelta(weeks=week), 9, 6, dwell_minutes=10)
        flowing(S.PICKING, TODAY, 9, 6, dwell_minutes=25)
        with time_machine.travel(NOW, tick=False):
            heat = heatmap_build(mode="dwell")
        cell = next(r for r in heat.rows if r.stage == S.PICKING).cells[9]
        assert (cell.value, cell.baseline, cell.level) == (25, 10, "critical")

    def test_the_thresholds_are_settings(self, settings):
        settings.REPORTS_HEATMAP_THRESHOLDS = [200, 300, 400]
        for week in range(1, 5):
            flowing(S.PICKING, TODAY - timedelta(weeks=week), 10, 10)
        flowing(S.PICKING, TODAY, 10, 25)
        with time_machine.travel(NOW, tick=False):
            heat = heatmap_build()
        assert next(r for r in heat.rows if r.stage == S.PICKING).cells[10].level == "normal"


def waiting_in_picking(count: int, since_minutes: int) -> list[int]:
    start = NOW - timedelta(minutes=since_minutes)
    return visits(S.PICKING, [(start + timedelta(seconds=n), None) for n in range(count)])


def flags_now() -> list:
    with time_machine.travel(NOW, tick=False):
        rows = stage_panel()
        return stage_flags(rows, heatmap=heatmap_build())


class TestStallFlags:
    def test_waiting_orders_no_exit_and_active_staff_is_stalled(self, picker):
        normal_history(weeks=1)
        waiting_in_picking(30, since_minutes=90)
        last_exit = NOW - timedelta(minutes=50)
        visits(S.PICKING, [(last_exit - timedelta(minutes=20), last_exit)])
        StaffActivity.objects.create(
            user=picker, kind=StaffActivity.Kind.LOGIN, at=NOW - timedelta(minutes=5)
        )
        [flag] = flags_now()
        assert (flag.stage, flag.kind) == (S.PICKING, "stalled")
        assert flag.evidence["minutes_since_last_exit"] == 50
        assert flag.evidence["active_people"] == 1
        assert "50 min" in flag.text and "printer" in flag.text

    def test_a_trickle_of_exits_far_below_normal_with_a_backlog_is_stalled(self, picker):
        normal_history(weeks=1, per_hour=20)
        waiting_in_picking(40, since_minutes=120)
        # Two handwritten pick lists in the last half hour, against ~10 normally.
        visits(
            S.PICKING,
            [(NOW - timedelta(minutes=m + 30), NOW - timedelta(minutes=m)) for m in (5, 15)],
        )
        StaffActivity.objects.create(
            user=picker,
            kind=StaffActivity.Kind.CLAIM,
            stage=S.PICKING,
            at=NOW - timedelta(minutes=3),
        )
        [flag] = flags_now()
        assert flag.kind == "stalled"
        assert flag.evidence["exits_in_window"] == 2
        assert flag.evidence["normal_exits_in_window"] == 10

    def test_nobody_of_the_team_active_is_unattended_not_stalled(self, picker):
        normal_history(weeks=1)
        waiting_in_picking(30, since_minutes=90)
        StaffActivity.objects.create(
            user=picker, kind=StaffActivity.Kind.LOGIN, at=NOW - timedelta(hours=3)
        )
        [flag] = flags_now()
        assert (flag.stage, flag.kind) == (S.PICKING, "unattended")
        assert flag.evidence == {"waiting": 30, "oldest_minutes": 90, "people": 1}

    def test_arrivals_far_above_normal_with_normal_exits_is_a_demand_surge(self, picker):
        normal_history(weeks=5, per_hour=12)
        # The last hour: 40 orders in, one in three out at the usual dwell (12, as normal).
        for n in range(40):
            entered = NOW - timedelta(minutes=60 - n * 1.5)
            left = entered + timedelta(minutes=10)
            visits(S.PICKING, [(entered, left if n % 3 == 0 and left <= NOW else None)])
        StaffActivity.objects.create(
            user=picker,
            kind=StaffActivity.Kind.CLAIM,
            stage=S.PICKING,
            at=NOW - timedelta(minutes=2),
        )
        flags = flags_now()
        assert [(f.stage, f.kind) for f in flags] == [(S.PICKING, "surge")]
        assert flags[0].evidence["arrivals"] == 40
        assert flags[0].evidence["normal_arrivals"] == 12
        assert flags[0].evidence["baseline_days"] == 4

    def test_a_normal_day_raises_no_flag(self, picker):
        normal_history(weeks=5, per_hour=12)
        flowing(S.PICKING, TODAY, 13, 12)
        flowing(S.PICKING, TODAY, 14, 4)  # 14:00-14:20, at the usual pace
        waiting_in_picking(3, since_minutes=8)
        StaffActivity.objects.create(
            user=picker, kind=StaffActivity.Kind.LOGIN, at=NOW - timedelta(minutes=40)
        )
        assert flags_now() == []


class TestPage:
    def test_supervisors_land_on_the_dashboard_and_others_on_the_home_page(
        self, client, supervisor, warehouse_team
    ):
        client.force_login(supervisor)
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:dashboard")
        assert client.get(reverse("admin:index") + "?home=1").status_code == 200
        clerk = UserFactory(username="clerk", groups=[teams.WAREHOUSE])
        client.force_login(clerk)
        assert client.get(reverse("admin:index")).status_code == 200
        assert client.get(reverse("admin:dashboard")).status_code == 403

    def test_the_backlog_stage_is_hot_and_links_to_its_orders(
        self, client, supervisor, picker, django_assert_max_num_queries
    ):
        normal_history(weeks=1)
        waiting_in_picking(30, since_minutes=150)
        client.force_login(supervisor)
        with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(60):
            response = client.get(reverse("admin:dashboard"), {"window": "7d"})
        html = response.content.decode()
        assert response.status_code == 200
        assert 'data-stage="picking" data-cue="hot"' in html
        assert 'href="/admin/orders/order/?status=picking&amp;queue=unclaimed">30<' in html
        assert 'href="/admin/orders/order/?status=picking&amp;sla=over">30<' in html
        assert "?status=picking&amp;age=gt2" in html
        assert 'http-equiv="refresh" content="60"' in html
        assert response.context["window"] == "7d"
        assert len(response.context["oldest"]) == 20

    def test_logins_and_claims_are_recorded_as_activity(self, client, picker):
        client.post(reverse("admin:login"), {"username": "picker", "password": "pw"}, follow=False)
        assert StaffActivity.objects.filter(user=picker, kind="login").exists()


class TestMetricsApi:
    @time_machine.travel(NOW, tick=False)
    def test_staff_with_the_dashboard_permission_read_the_same_numbers(
        self, client, supervisor, picker
    ):
        waiting_in_picking(5, since_minutes=10)
        client.force_login(supervisor)
        stages = client.get("/api/v1/metrics/stages/", {"window": "1h"}).json()
        picking = next(s for s in stages["stages"] if s["stage"] == "picking")
        assert (picking["waiting"], picking["in_progress"], stages["window"]) == (5, 0, "1h")
        heat = client.get("/api/v1/metrics/heatmap/", {"mode": "dwell"}).json()
        assert heat["mode"] == "dwell" and {r["stage"] for r in heat["stages"]} >= {"picking"}
        assert client.get("/api/v1/metrics/flags/").json()["flags"] == []
        assert len(client.get("/api/v1/metrics/overdue/").json()["oldest"]) == 5

    def test_bad_input_and_outsiders_get_json_errors(self, client, supervisor, picker):
        assert client.get("/api/v1/metrics/stages/").status_code == 401
        client.force_login(picker)
        response = client.get("/api/v1/metrics/stages/")
        assert response.status_code == 403 and response.json()["code"]
        client.force_login(supervisor)
        response = client.get("/api/v1/metrics/stages/", {"window": "\x00" * 80})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
