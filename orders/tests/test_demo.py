"""The demo data: deterministic, consistent with the lifecycle, and telling its story."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.demo import DemoConflict, demo_reset, demo_seed
from orders.demo.checks import order_data_problems, stock_totals_match
from orders.demo.story import EPISODE_NOTE
from orders.models import Order, StageVisit, StockLevel, StockReservation
from orders.states import OrderStatus, Via

S = OrderStatus
pytestmark = pytest.mark.django_db

SMALL = dict(days=3, orders_per_day=160, customers=60, write_qc_photo=False)
# Two days in the afternoon: the printer fault and yesterday's episode both show.
NOW = timezone.now().replace(hour=8, minute=30, second=0, microsecond=0)  # 16:30 Shanghai


def snapshot():
    orders = list(
        Order.objects.order_by("id").values_list(
            "number", "external_ref", "status", "total_amount", "placed_at", "stage_entered_at"
        )
    )
    # The live orders come from the intake service: random numbers, real clock.
    stable = [o for o in orders if not o[1].startswith("LIVE-")]
    live = [o[1:3] for o in orders if o[1].startswith("LIVE-")]
    visits = list(
        StageVisit.objects.filter(order__external_ref__regex=r"^[^L]")
        .order_by("order_id", "entered_at", "id")
        .values_list("stage", "entered_at", "left_at", "via", "actor__username")
    )
    return (
        stable,
        live,
        visits,
        AuditEvent.objects.count(),
        StockLevel.objects.values_list("reserved", flat=True).order_by("id"),
    )


@pytest.fixture
def seeded(db):
    return demo_seed(seed=7, now=NOW, **SMALL)


def test_the_same_seed_gives_the_same_shop():
    demo_seed(seed=7, now=NOW, **SMALL)
    first = snapshot()
    demo_reset()
    demo_seed(seed=7, now=NOW, **SMALL)
    second = snapshot()
    assert first[0] == second[0]  # numbers, references, states, amounts, times
    assert first[1] == second[1]
    assert first[2] == second[2]
    assert first[3] == second[3]
    assert list(first[4]) == list(second[4])
    demo_reset()
    demo_seed(seed=8, now=NOW, **SMALL)
    assert snapshot()[0][0][0] != first[0][0][0]


def test_every_order_is_consistent_with_the_lifecycle(seeded):
    assert order_data_problems(limit=50) == []
    assert stock_totals_match()


def test_order_numbers_have_the_intake_format(seeded):
    for number, created_at in Order.objects.values_list("number", "created_at"):
        assert re.fullmatch(r"SO\d{6}-[0-9A-HJKMNP-TV-Z]{8}", number), number
        assert number[2:8] == timezone.localtime(created_at).strftime("%y%m%d")


def test_open_orders_have_exactly_one_open_visit_in_their_stage(seeded):
    for order in Order.objects.all():
        open_visits = list(StageVisit.objects.filter(order=order, left_at=None))
        if order.is_open:
            assert [v.stage for v in open_visits] == [order.status]
            assert order.stage_entered_at == open_visits[0].entered_at
        else:
            assert open_visits == []
    held = Order.objects.filter(status=S.ON_HOLD)
    assert held.count() >= 2
    assert all(order.held_from for order in held)


def test_reserved_stock_matches_the_open_reservations(seeded):
    for level in StockLevel.objects.all():
        held = sum(
            StockReservation.objects.filter(
                stock_level=level, released_at=None, consumed_at=None
            ).values_list("quantity", flat=True)
        )
        assert level.reserved == held <= level.on_hand
    waiting = Order.objects.filter(status__in=[S.SALES_REVIEW, S.FINANCE_REVIEW])
    assert not StockReservation.objects.filter(line__order__in=waiting).exists()
    in_picking = Order.objects.filter(status=S.PICKING).first()
    assert StockReservation.objects.filter(line__order=in_picking, released_at=None).exists()


def test_today_has_a_picking_backlog_behind_the_printer_fault(seeded):
    picking = Order.objects.filter(status=S.PICKING)
    assert picking.count() >= round(SMALL["orders_per_day"] * 0.11)
    oldest = picking.order_by("stage_entered_at").first()
    assert NOW - oldest.stage_entered_at > timedelta(hours=3)
    assert oldest.pick_list_printed_at is None
    for stage in (S.SALES_REVIEW, S.FINANCE_REVIEW, S.STOCK_RESERVATION):
        assert Order.objects.filter(status=stage).exists(), stage


def test_yesterday_afternoon_picking_took_two_to_three_hours(seeded):
    held = StageVisit.objects.filter(stage=S.ON_HOLD).values("order_id")
    episode = StageVisit.objects.filter(stage=S.PICKING, reason=EPISODE_NOTE).exclude(
        order_id__in=held
    )
    assert episode.count() >= 10
    for visit in episode:
        local = timezone.localtime(visit.entered_at)
        assert local.date() == timezone.localtime(NOW).date() - timedelta(days=1)
        assert 14 <= local.hour < 18
        assert timedelta(hours=2) <= visit.left_at - visit.entered_at <= timedelta(hours=3)


def test_most_history_is_dispatched_within_two_hours(seeded):
    dispatched = Order.objects.filter(status=S.DISPATCHED)
    fast = [o for o in dispatched if o.dispatched_at - o.placed_at <= timedelta(hours=2)]
    assert len(fast) / dispatched.count() > 0.65
    assert Order.objects.filter(status=S.CANCELLED).exists()


def test_audit_log_mirrors_the_timeline(seeded):
    order = Order.objects.filter(status=S.DISPATCHED, source="demo").first()
    events = AuditEvent.objects.filter(subject_id=str(order.pk)).order_by("at", "id")
    verbs = [e.verb for e in events]
    assert verbs[0] == "order.created"
    transitions = [e for e in events if e.verb == "order.transition"]
    closed = StageVisit.objects.filter(order=order).exclude(left_at=None).order_by("entered_at")
    assert [(e.payload["from"], e.at) for e in transitions] == [
        (v.stage, v.left_at) for v in closed
    ]
    assert transitions[0].payload == {
        "from": S.RECEIVED,
        "to": S.SALES_REVIEW,
        "transition": "accept",
        "via": Via.SYSTEM,
    }
    assert transitions[0].actor is None and transitions[0].actor_label == "system"
    assert transitions[-1].payload["transition"] == "dispatch"
    assert transitions[-1].actor.username == "qc1"


def test_live_orders_went_through_the_services(seeded):
    live = Order.objects.filter(external_ref__startswith="LIVE-")
    assert live.count() == 6 + 1  # and the exceptions demo's unpaid presale order
    assert live.exclude(status=S.SALES_REVIEW).exists()
    assert not seeded.live_problems


def test_logins_are_in_their_teams(seeded):
    users = get_user_model().objects
    supervisor = users.get(username="supervisor")
    assert supervisor.is_superuser and supervisor.check_password("supervisor-demo")
    assert supervisor.groups.filter(name=teams.SUPERVISORS).exists()
    for username, group in [
        ("sales1", teams.SALES),
        ("finance1", teams.FINANCE),
        ("warehouse1", teams.WAREHOUSE),
        ("qc1", teams.QUALITY),
    ]:
        user = users.get(username=username)
        assert user.is_staff and not user.is_superuser and user.check_password("demo-pass")
        assert list(user.groups.values_list("name", flat=True)) == [group]


def test_seeding_again_without_reset_is_refused(seeded):
    with pytest.raises(DemoConflict):
        demo_seed(seed=7, now=NOW, **SMALL)


def test_seed_demo_if_empty_is_a_noop_the_second_time(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    args = ["--days", "1", "--orders-per-day", "60", "--customers", "30", "--if-empty"]
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    assert "supervisor / supervisor-demo" in out.getvalue()
    count = Order.objects.count()
    assert count > 0
    assert (tmp_path / "qc" / "demo" / "qc-photo.png").exists()

    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    assert Order.objects.count() == count
    assert "already exist" in out.getvalue()

    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", "--days", "1", "--orders-per-day", "60", stdout=StringIO())
