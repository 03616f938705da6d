"""The bypass admin: the switch panel with its on/off forms, the history, the owed queue."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from approvals.models import BypassSwitch, BypassUse, BypassWindow, Obligation, SwitchKind
from approvals.services.switches import bypass_switch_on
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

PANEL = "admin:approvals_bypassswitch_changelist"


def switch_url(name, kind):
    switch, _created = BypassSwitch.objects.get_or_create(kind=kind)
    return reverse(f"admin:approvals_bypassswitch_{name}", args=[switch.pk])


def test_the_panel_shows_every_switch_with_time_left_and_uses(
    client, supervisor, django_assert_max_num_queries
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        window = bypass_switch_on(
            SwitchKind.URGENT_DISPATCH, by=supervisor, reason="QC camera broken", hours=3
        )
    BypassWindow.objects.filter(pk=window.pk).update(uses=7)
    client.force_login(supervisor)
    later = start + timedelta(minutes=46)
    with time_machine.travel(later, tick=False), django_assert_max_num_queries(20):
        page = client.get(reverse(PANEL))
    assert page.status_code == 200
    html = page.content.decode()
    assert BypassSwitch.objects.count() == 3  # created when the panel is first shown
    for kind in SwitchKind:
        assert str(kind.label) in html
    assert "QC camera broken" in html and "supervisor" in html
    assert "2 h 14 min left" in html
    assert 'class="bypass-on"' in html and ">ON<" in html
    assert "<td" in html and ">7<" in html
    assert switch_url("off", SwitchKind.URGENT_DISPATCH) in html
    assert switch_url("on", SwitchKind.COUPON_CHECK) in html


def test_an_expired_window_shows_red_before_the_schedule_closed_it(client, supervisor):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        bypass_switch_on(SwitchKind.COUPON_CHECK, by=supervisor, reason="desk", hours=1)
    client.force_login(supervisor)
    with time_machine.travel(start + timedelta(minutes=70), tick=False):
        html = client.get(reverse(PANEL)).content.decode()
    assert 'class="bypass-expired" style="color:#dc2626">expired<' in html


def test_people_who_may_not_operate_see_the_panel_without_buttons(client, qc_clerk):
    client.force_login(qc_clerk)
    page = client.get(reverse(PANEL))
    assert page.status_code == 200
    assert "/switch-on/" not in page.content.decode()
    assert client.get(switch_url("on", SwitchKind.COUPON_CHECK)).status_code == 403
    response = client.post(
        switch_url("on", SwitchKind.COUPON_CHECK), {"reason": "x", "hours": 2, "scope": ""}
    )
    assert response.status_code == 403 and not BypassWindow.objects.exists()


def test_switching_on_and_off_through_the_forms(client, supervisor):
    client.force_login(supervisor)
    url = switch_url("on", SwitchKind.COUPON_CHECK)
    form = client.get(url)
    assert form.status_code == 200 and "item_count" in form.content.decode()
    response = client.post(
        url,
        {
            "reason": "Double 11 coupon flood",
            "hours": 6,
            "scope": '{"fact": "amount", "op": "<", "value": 500}',
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse(PANEL)
    window = BypassWindow.objects.get()
    assert window.opened_by == supervisor and window.reason == "Double 11 coupon flood"
    assert window.scope == {"fact": "amount", "op": "<", "value": 500}
    assert window.expires_at - window.opened_at == timedelta(hours=6)
    response = client.post(switch_url("off", SwitchKind.COUPON_CHECK), {"reason": "flood over"})
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.closed_how == BypassWindow.Closed.MANUAL and window.close_reason == "flood over"


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ('{"fact": "amount", "op": "<"', "not valid JSON"),
        ('{"fact": "colour", "op": "=", "value": "red"}', "unknown fact"),
        ('["amount"]', "expected a condition object"),
    ],
)
def test_a_bad_scope_is_a_form_error_not_a_server_error(client, supervisor, scope, message):
    client.force_login(supervisor)
    response = client.post(
        switch_url("on", SwitchKind.COUPON_CHECK), {"reason": "r", "hours": 2, "scope": scope}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BypassWindow.objects.exists()


def test_more_than_24_hours_is_a_form_error(client, supervisor):
    client.force_login(supervisor)
    response = client.post(
        switch_url("on", SwitchKind.COUPON_CHECK), {"reason": "r", "hours": 25, "scope": ""}
    )
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not BypassWindow.objects.exists()


def test_switching_off_a_switch_that_is_off_says_so(client, supervisor):
    client.force_login(supervisor)
    response = client.post(switch_url("off", SwitchKind.URGENT_DISPATCH), {"reason": "r"})
    assert response.status_code == 200 and "not on" in response.content.decode()


def test_the_history_and_the_owed_queue_render(client, supervisor):
    window = bypass_switch_on(SwitchKind.URGENT_DISPATCH, by=supervisor, reason="camera")
    order = make_order()
    now = timezone.now()
    use = BypassUse.objects.create(window=window, kind=window.kind, order=order, at=now)
    Obligation.objects.create(order=order, use=use, due_at=now + timedelta(hours=1))
    client.force_login(supervisor)
    history = client.get(reverse("admin:approvals_bypasswindow_changelist"))
    assert history.status_code == 200 and "camera" in history.content.decode()
    uses = client.get(reverse("admin:approvals_bypassuse_changelist"))
    assert uses.status_code == 200 and order.number in uses.content.decode()
    with time_machine.travel(now + timedelta(minutes=10), tick=False):
        queue = client.get(reverse("admin:approvals_obligation_changelist"))
    html = queue.content.decode()
    assert queue.status_code == 200 and "Photos owed after urgent dispatch" in html
    assert order.number in html and "due in 50 min" in html
    done = client.get(reverse("admin:approvals_obligation_changelist") + "?fulfilled=yes")
    assert done.status_code == 200 and order.number not in done.content.decode()
