"""Authorization codes: issue (shown once, stored hashed), applying a price with a code,
every refusal, the brute-force lockout per user and per IP, and the admin pages."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    AuthorizationCode,
    AuthorizationCodeUse,
    BypassSwitch,
    BypassUse,
    BypassWindow,
    CodeAttemptCounter,
    PriceChangeRequest,
    SwitchKind,
)
from approvals.services.codes import (
    CodeRefused,
    authorization_code_issue,
    authorization_code_revoke,
)
from approvals.services.prices import price_change_apply_with_code, price_change_request
from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import teams
from orders.models import Order, OrderLine
from orders.services import ActionForbidden, InvalidOrderInput, TransitionRefused
from orders.states import OrderStatus
from orders.tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db
CODE_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
IP = "10.0.0.7"


@pytest.fixture
def bypass_on(db):
    return code_bypass_on()


def code_bypass_on(hours: int = 4) -> BypassWindow:
    now = timezone.now()
    switch, _created = BypassSwitch.objects.get_or_create(kind=SwitchKind.PRICE_CHANGE_CODE)
    window = BypassWindow.objects.create(
        switch=switch,
        kind=switch.kind,
        reason="managers at the fair",
        opened_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    switch.current_window = window
    switch.save(update_fields=["current_window"])
    return window


def issue(by, **overrides):
    fields = {"label": "Fair weekend", "max_deviation_pct": Decimal("10"), "max_uses": 3}
    return authorization_code_issue(by=by, **{**fields, **overrides})


def sales_order() -> Order:
    return make_order(products=[ProductFactory(list_price=Decimal("200.00"))], quantity=2)


def apply(order, code, by, price="185.00", ip=IP, reason="Price match"):
    return price_change_apply_with_code(
        order,
        line=OrderLine.objects.filter(order=order).first(),
        new_unit_price=Decimal(price),
        reason=reason,
        code=code,
        by=by,
        ip=ip,
    )


def refused_code(order, code, by, **kwargs) -> str:
    with pytest.raises(CodeRefused) as refused:
        apply(order, code, by, **kwargs)
    assert str(refused.value)
    return refused.value.code


# --- Issue and use -----------------------------------------------------------------------


def test_a_code_is_three_groups_shown_once_and_stored_hashed(supervisor):
    code, plaintext = issue(supervisor)

    assert CODE_PATTERN.match(plaintext), plaintext
    assert code.prefix == plaintext[:4]
    compact = plaintext.replace("-", "")
    row = AuthorizationCode.objects.filter(pk=code.pk).values()[0]
    stored = " ".join(str(v) for v in row.values())
    assert plaintext not in stored and compact not in stored
    assert row["code_hash"] and row["code_hash"] != compact
    event = AuditEvent.objects.get(verb="auth_code.issued")
    assert event.actor == supervisor
    assert compact not in str(event.payload) and plaintext not in str(event.payload)


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_deviation_pct": Decimal("100.01")},
        {"max_deviation_pct": Decimal("-1")},
        {"max_uses": 0},
        {"label": ""},
        {"valid_from": timezone.now(), "valid_until": timezone.now() - timedelta(hours=1)},
    ],
)
def test_issue_refuses_bad_settings(supervisor, overrides):
    with pytest.raises(InvalidOrderInput):
        issue(supervisor, **overrides)
    assert not AuthorizationCode.objects.exists()


def test_only_permitted_people_issue_codes(sales_clerk):
    with pytest.raises(ActionForbidden):
        issue(sales_clerk)


def test_a_valid_code_applies_the_price_at_once_and_records_the_use(
    sales_clerk, supervisor, bypass_on
):
    code, plaintext = issue(supervisor)
    order = sales_order()
    version = order.version

    change = apply(order, plaintext, sales_clerk, "185.00")

    assert change.status == PriceChangeRequest.Status.APPLIED_WITH_CODE
    assert change.decided_by == sales_clerk and change.deviation_pct == Decimal("-7.50")
    order.refresh_from_db()
    assert order.total_amount == Decimal("370.00") and order.version == version + 1
    assert order.status == OrderStatus.SALES_REVIEW
    code.refresh_from_db()
    assert code.uses == 1
    use = AuthorizationCodeUse.objects.get()
    assert (use.code, use.order, use.used_by, use.price_change) == (
        code,
        order,
        sales_clerk,
        change,
    )
    assert (use.deviation_pct, use.reason, use.ip_address) == (Decimal("-7.50"), "Price match", IP)
    used = AuditEvent.objects.get(verb="auth_code.used")
    assert (used.actor, used.subject_id, used.reason) == (sales_clerk, str(order.pk), "Price match")
    assert used.payload["code_id"] == code.pk
    assert used.payload["deviation_pct"] == "-7.50"
    assert used.payload["via"] == "auth_code"
    applied = AuditEvent.objects.get(verb="price_change.applied")
    assert applied.subject_id == str(order.pk) and applied.payload["via"] == "auth_code"
    assert BypassUse.objects.filter(order=order, kind=SwitchKind.PRICE_CHANGE_CODE).count() == 1
    bypass_on.refresh_from_db()
    assert bypass_on.uses == 1
    # The code itself is nowhere: not in the row, not in any audit event.
    compact = plaintext.replace("-", "")
    for event in AuditEvent.objects.all():
        assert compact not in f"{event.payload} {event.reason}"
        assert plaintext not in f"{event.payload} {event.reason}"


def test_code_entry_is_forgiving_about_case_spaces_dashes_and_misread_letters(
    sales_clerk, supervisor, bypass_on
):
    _code, plaintext = issue(supervisor)
    typed = " ".join(plaintext.replace("-", "").lower().replace("0", "o"))
    assert apply(sales_order(), typed, sales_clerk).status == "applied_with_code"


def test_an_expired_or_not_yet_valid_code_is_refused(sales_clerk, supervisor, bypass_on):
    start = timezone.now()
    _code, plaintext = issue(supervisor, valid_until=start + timedelta(hours=1))
    _later, later_code = issue(
        supervisor, valid_from=start + timedelta(hours=2), valid_until=start + timedelta(hours=3)
    )
    order = sales_order()
    assert refused_code(order, later_code, sales_clerk) == "code_not_yet_valid"
    with time_machine.travel(start + timedelta(hours=1, minutes=1), tick=False):
        assert refused_code(order, plaintext, sales_clerk) == "code_expired"
    assert not PriceChangeRequest.objects.exists()


def test_a_used_up_code_is_refused(sales_clerk, supervisor, bypass_on):
    code, plaintext = issue(supervisor, max_uses=1)
    apply(sales_order(), plaintext, sales_clerk)
    assert refused_code(sales_order(), plaintext, sales_clerk) == "code_exhausted"
    code.refresh_from_db()
    assert code.uses == 1


def test_a_deviation_over_the_cap_is_refused(sales_clerk, supervisor, bypass_on):
    code, plaintext = issue(supervisor, max_deviation_pct=Decimal("5"))
    order = sales_order()
    assert refused_code(order, plaintext, sales_clerk, price="189.99") == "code_over_cap"
    apply(order, plaintext, sales_clerk, price="190.00")  # exactly -5 %
    code.refresh_from_db()
    assert code.uses == 1


def test_wrong_scope_wrong_holder_and_revoked_codes_are_refused(
    sales_clerk, finance_clerk, supervisor, bypass_on
):
    order = sales_order()
    scoped, scoped_code = issue(supervisor)
    AuthorizationCode.objects.filter(pk=scoped.pk).update(scope="refund")
    _held, held_code = issue(supervisor, holder=finance_clerk)
    revoked, revoked_code = issue(supervisor)
    authorization_code_revoke(revoked, by=supervisor, reason="overheard on the phone")

    assert refused_code(order, scoped_code, sales_clerk) == "code_wrong_scope"
    assert refused_code(order, held_code, sales_clerk) == "code_wrong_holder"
    assert refused_code(order, revoked_code, sales_clerk) == "code_revoked"
    assert apply(order, held_code, finance_clerk).status == "applied_with_code"
    # None of these count as guessing.
    assert CodeAttemptCounter.objects.get(key=f"user:{sales_clerk.pk}").failures == 0
    assert AuditEvent.objects.get(verb="auth_code.revoked").reason == "overheard on the phone"


def test_revoking_needs_a_reason_and_happens_once(supervisor):
    code, _plaintext = issue(supervisor)
    with pytest.raises(InvalidOrderInput):
        authorization_code_revoke(code, by=supervisor, reason="")
    authorization_code_revoke(code, by=supervisor, reason="lost")
    with pytest.raises(TransitionRefused):
        authorization_code_revoke(code, by=supervisor, reason="again")


def test_with_the_bypass_off_no_code_is_even_checked(sales_clerk, supervisor):
    _code, plaintext = issue(supervisor)
    assert refused_code(sales_order(), plaintext, sales_clerk) == "code_bypass_off"
    expired = code_bypass_on(hours=1)
    with time_machine.travel(expired.expires_at + timedelta(seconds=1), tick=False):
        assert refused_code(sales_order(), "WRONG-CODE-HERE", sales_clerk) == "code_bypass_off"
    assert not CodeAttemptCounter.objects.exists()
    assert not AuditEvent.objects.filter(verb="auth_code.failed").exists()


def test_a_code_change_is_refused_while_the_line_waits_for_approval(
    sales_clerk, supervisor, bypass_on
):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    price_change_request(
        order,
        line=OrderLine.objects.filter(order=order).first(),
        new_unit_price=Decimal("150.00"),
        reason="asked first",
        by=sales_clerk,
    )
    with pytest.raises(InvalidOrderInput) as refused:
        apply(order, plaintext, sales_clerk)
    assert refused.value.code == "price_change_pending"


# --- Brute force -------------------------------------------------------------------------


def wrong_guess(plaintext: str) -> str:
    """The same prefix with another tail: found by prefix, refused by the hash."""
    last = plaintext[-1]
    return plaintext[:-1] + ("A" if last != "A" else "B")


def test_five_wrong_codes_lock_entry_even_for_the_right_code(sales_clerk, supervisor, bypass_on):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    guesses = [wrong_guess(plaintext), "ZZZZ-ZZZZ-ZZZZ", "short", wrong_guess(plaintext), "X"]

    assert [refused_code(order, guess, sales_clerk) for guess in guesses] == ["code_invalid"] * 5
    with pytest.raises(CodeRefused) as locked:
        apply(order, plaintext, sales_clerk)

    assert locked.value.code == "code_locked"
    assert "15 minutes" in str(locked.value)
    assert CodeAttemptCounter.objects.get(key=f"user:{sales_clerk.pk}").failures == 5
    assert AuditEvent.objects.filter(verb="auth_code.failed").count() == 5
    lockout = AuditEvent.objects.get(verb="auth_code.lockout")
    assert lockout.actor == sales_clerk and lockout.payload["ip"] == IP
    [alarm] = Notification.objects.filter(recipient=supervisor)
    assert "locked" in alarm.text
    failed = AuditEvent.objects.filter(verb="auth_code.failed")
    assert {e.payload["kind"] for e in failed} == {"mismatch", "unknown", "malformed"}
    for event in failed:
        assert wrong_guess(plaintext) not in str(event.payload)
        assert event.actor == sales_clerk and event.payload["ip"] == IP
    assert not PriceChangeRequest.objects.exists()


def test_the_lock_ends_after_fifteen_minutes(sales_clerk, supervisor, bypass_on):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            refused_code(order, wrong_guess(plaintext), sales_clerk)
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert refused_code(order, plaintext, sales_clerk) == "code_locked"
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert apply(order, plaintext, sales_clerk).status == "applied_with_code"


def test_the_failure_window_restarts_after_fifteen_minutes(sales_clerk, supervisor, bypass_on):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(4):
            refused_code(order, wrong_guess(plaintext), sales_clerk)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        for _ in range(4):
            assert refused_code(order, wrong_guess(plaintext), sales_clerk) == "code_invalid"
        assert apply(order, plaintext, sales_clerk).status == "applied_with_code"
    assert not AuditEvent.objects.filter(verb="auth_code.lockout").exists()


def test_a_right_code_gives_its_attempt_back(sales_clerk, supervisor, bypass_on):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    for _ in range(4):
        refused_code(order, wrong_guess(plaintext), sales_clerk)
    apply(order, plaintext, sales_clerk, price="190.00")
    apply(order, plaintext, sales_clerk, price="195.00")
    assert CodeAttemptCounter.objects.get(key=f"user:{sales_clerk.pk}").failures == 4


def test_the_ip_counter_locks_another_user_on_the_same_address(sales_clerk, supervisor, bypass_on):
    other = UserFactory(username="sales_two", groups=[teams.SALES])
    _code, plaintext = issue(supervisor)
    order = sales_order()
    for _ in range(5):
        refused_code(order, wrong_guess(plaintext), sales_clerk)

    assert refused_code(order, plaintext, other) == "code_locked"
    # Refused before anything was counted for the other user.
    assert not CodeAttemptCounter.objects.filter(key=f"user:{other.pk}", failures__gt=0).exists()
    assert apply(order, plaintext, other, ip="10.0.0.8").status == "applied_with_code"


# --- Admin -------------------------------------------------------------------------------


def test_the_issue_page_shows_the_code_once(client, supervisor):
    client.force_login(supervisor)
    add = reverse("admin:approvals_authorizationcode_add")
    assert client.get(add).status_code == 200

    response = client.post(
        add,
        {
            "label": "Fair weekend",
            "scope": "price_change",
            "max_deviation_pct": "8",
            "valid_from": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (timezone.localtime() + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"),
            "max_uses": "2",
            "holder": "",
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    [shown] = re.findall(r'id="issued-code">([^<]+)<', html)
    assert CODE_PATTERN.match(shown) and "will not be shown again" in html
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    code = AuthorizationCode.objects.get()
    assert (code.max_deviation_pct, code.max_uses) == (Decimal("8.00"), 2)
    page = client.get(reverse("admin:approvals_authorizationcode_change", args=[code.pk]))
    assert page.status_code == 200
    assert shown not in page.content.decode() and code.code_hash not in page.content.decode()
    listing = client.get(reverse("admin:approvals_authorizationcode_changelist")).content.decode()
    assert shown not in listing and f"{code.prefix}-" in listing and "active" in listing


def test_an_issue_form_error_is_shown_not_a_500(client, supervisor):
    client.force_login(supervisor)
    now = timezone.localtime()
    response = client.post(
        reverse("admin:approvals_authorizationcode_add"),
        {
            "label": "Backwards",
            "scope": "price_change",
            "max_deviation_pct": "5",
            "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "max_uses": "1",
        },
    )
    assert response.status_code == 200
    assert "after its start" in response.content.decode()
    assert not AuthorizationCode.objects.exists()


def test_revoking_from_the_admin(client, supervisor):
    code, _plaintext = issue(supervisor)
    client.force_login(supervisor)
    page = client.get(reverse("admin:approvals_authorizationcode_change", args=[code.pk]))
    revoke = reverse("admin:approvals_authorizationcode_revoke", args=[code.pk])
    assert revoke in page.content.decode()
    client.post(revoke, {"reason": "overheard"})
    code.refresh_from_db()
    assert code.revoked_by == supervisor
    listing = client.get(
        reverse("admin:approvals_authorizationcode_changelist"), {"state": "revoked"}
    )
    assert code.prefix in listing.content.decode()


def test_a_price_change_with_a_code_from_the_admin(client, sales_clerk, supervisor, bypass_on):
    _code, plaintext = issue(supervisor)
    order = sales_order()
    line = OrderLine.objects.filter(order=order).first()
    client.force_login(sales_clerk)
    url = reverse("admin:approvals_pricechangerequest_add") + f"?order={order.pk}"
    form = {"order": order.pk, "line": line.pk, "new_unit_price": "190.00", "reason": "Dent"}

    wrong = client.post(url, {**form, "authorization_code": wrong_guess(plaintext)})
    right = client.post(url, {**form, "authorization_code": plaintext})

    assert wrong.status_code == 200
    assert "not valid" in wrong.content.decode()
    assert wrong_guess(plaintext) not in wrong.content.decode()
    assert right.status_code == 302
    use = AuthorizationCodeUse.objects.get()
    assert (use.used_by, use.ip_address) == (sales_clerk, "127.0.0.1")
    uses_page = client.get(reverse("admin:approvals_authorizationcodeuse_changelist"))
    assert uses_page.status_code in (200, 403)
    change_page = client.get(
        reverse("admin:approvals_pricechangerequest_change", args=[use.price_change_id])
    ).content.decode()
    assert reverse("admin:approvals_authorizationcode_change", args=[use.code_id]) in change_page
    order_page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Applied with an authorization code" in order_page
    client.force_login(supervisor)
    assert (
        order.number
        in client.get(
            reverse("admin:approvals_authorizationcodeuse_changelist"),
            {"code__id__exact": use.code_id},
        ).content.decode()
    )
