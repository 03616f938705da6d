"""Codes and price changes under concurrent use (PostgreSQL: real row locks).

Each thread has its own connection; a barrier lets them all start at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from approvals.models import (
    AuthorizationCode,
    AuthorizationCodeUse,
    BypassSwitch,
    BypassWindow,
    CodeAttemptCounter,
    PriceChangeRequest,
    SwitchKind,
)
from approvals.services.codes import authorization_code_issue
from approvals.services.prices import (
    price_change_apply_with_code,
    price_change_approve,
    price_change_request,
)
from backoffice.audit.models import AuditEvent
from backoffice.notifications.models import Notification
from orders import teams
from orders.models import Order, OrderLine
from orders.services import OrderActionError
from orders.tests.factories import CustomerFactory, ProductFactory, UserFactory, make_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(actions) -> tuple[Counter, list[str]]:
    """Run each callable in its own thread, all released together. Returns how often
    each outcome ("ok" or an error code) came back, and unexpected exceptions."""
    outcomes: Counter = Counter()
    unexpected: list[str] = []
    barrier = threading.Barrier(len(actions))
    lock = threading.Lock()

    def worker(action):
        try:
            barrier.wait()
            try:
                action()
            except OrderActionError as exc:
                with lock:
                    outcomes[exc.code] += 1
            else:
                with lock:
                    outcomes["ok"] += 1
        except Exception as exc:  # pragma: no cover - reported below
            with lock:
                unexpected.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, unexpected


def code_bypass_on() -> None:
    now = timezone.now()
    switch, _created = BypassSwitch.objects.get_or_create(kind=SwitchKind.PRICE_CHANGE_CODE)
    window = BypassWindow.objects.create(
        switch=switch,
        kind=switch.kind,
        reason="race",
        opened_at=now,
        expires_at=now + timedelta(hours=4),
    )
    switch.current_window = window
    switch.save(update_fields=["current_window"])


def first_line(order: Order) -> OrderLine:
    return OrderLine.objects.filter(order=order).first()


def test_twenty_wrong_codes_at_once_evaluate_five_and_lock_once():
    boss = UserFactory(username="race_boss", groups=[teams.SUPERVISORS])
    guesser = UserFactory(username="race_guesser", groups=[teams.SALES])
    code_bypass_on()
    _code, plaintext = authorization_code_issue(
        label="race", max_deviation_pct=Decimal("10"), by=boss
    )
    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    order = make_order(products=[ProductFactory(list_price=Decimal("100.00"))])
    line = first_line(order)

    def guess():
        copy = Order.objects.get(pk=order.pk)
        price_change_apply_with_code(
            copy,
            line=line,
            new_unit_price=Decimal("95.00"),
            reason="guessing",
            code=wrong,
            by=guesser,
            ip="10.9.9.9",
        )

    outcomes, unexpected = run_at_once([guess] * 20)

    assert unexpected == []
    assert outcomes == Counter({"code_invalid": 5, "code_locked": 15})
    counters = dict(CodeAttemptCounter.objects.values_list("key", "failures"))
    assert counters == {f"user:{guesser.pk}": 5, "ip:10.9.9.9": 5}
    assert AuditEvent.objects.filter(verb="auth_code.failed").count() == 5
    assert AuditEvent.objects.filter(verb="auth_code.lockout").count() == 1
    assert Notification.objects.filter(recipient=boss, text__contains="locked").count() == 1
    assert CodeAttemptCounter.objects.filter(locked_until__gt=timezone.now()).count() == 2


def test_ten_valid_uses_at_once_of_a_three_use_code_make_exactly_three_changes():
    boss = UserFactory(username="race_boss", groups=[teams.SUPERVISORS])
    code_bypass_on()
    code, plaintext = authorization_code_issue(
        label="three", max_deviation_pct=Decimal("10"), max_uses=3, by=boss
    )
    customer, product = CustomerFactory(), ProductFactory(list_price=Decimal("100.00"))
    clerks = [UserFactory(username=f"race_clerk_{i}", groups=[teams.SALES]) for i in range(10)]
    orders = [make_order(customer=customer, products=[product]) for _ in range(10)]

    def use(clerk, order):
        return lambda: price_change_apply_with_code(
            Order.objects.get(pk=order.pk),
            line=first_line(order),
            new_unit_price=Decimal("95.00"),
            reason="fair",
            code=plaintext,
            by=clerk,
            ip=f"10.0.{clerk.pk // 250}.{clerk.pk % 250}",
        )

    outcomes, unexpected = run_at_once(
        [use(clerk, order) for clerk, order in zip(clerks, orders, strict=True)]
    )

    assert unexpected == []
    assert outcomes == Counter({"ok": 3, "code_exhausted": 7})
    code.refresh_from_db()
    assert code.uses == 3
    assert AuthorizationCodeUse.objects.filter(code=code).count() == 3
    assert PriceChangeRequest.objects.filter(status="applied_with_code").count() == 3
    assert not CodeAttemptCounter.objects.filter(failures__gt=0).exists()
    assert AuthorizationCode.objects.filter(uses__gt=3).count() == 0


def test_concurrent_approvals_of_one_request_have_one_winner():
    approvers = [
        UserFactory(username=f"race_approver_{i}", groups=[teams.SUPERVISORS]) for i in range(8)
    ]
    clerk = UserFactory(username="race_clerk", groups=[teams.SALES])
    order = make_order(products=[ProductFactory(list_price=Decimal("100.00"))], quantity=3)
    change = price_change_request(
        order, line=first_line(order), new_unit_price=Decimal("90.00"), reason="dent", by=clerk
    )
    version = Order.objects.get(pk=order.pk).version

    def approve(approver):
        return lambda: price_change_approve(
            PriceChangeRequest.objects.get(pk=change.pk), by=approver, note="ok"
        )

    outcomes, unexpected = run_at_once([approve(a) for a in approvers])

    assert unexpected == []
    assert outcomes["ok"] == 1
    assert outcomes["not_pending"] + outcomes["concurrent_change"] == len(approvers) - 1
    order.refresh_from_db()
    assert order.version == version + 1
    assert order.total_amount == Decimal("270.00")
    assert AuditEvent.objects.filter(verb="price_change.approved").count() == 1
