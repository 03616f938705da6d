"""What one partner intake costs the database: the statements of a usual order (known
customer, paid, no rule passes it, no webhook subscription), pinned so that a change
adding a round trip to the busiest write of the API shows up here (bench/intake.py
measures the time)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.services.rules import rules_cache_clear
from orders.services import breakers, health_factors, health_weights
from orders.tests import api_helpers
from orders.tests.api_helpers import place

catalog = api_helpers.catalog
acme = api_helpers.acme

# Inside the test's transaction the intake's atomic() is a savepoint (SAVEPOINT and
# RELEASE); in production those two are BEGIN and COMMIT.
EXPECTED = [
    "SELECT orders_partnerapikey",  # the API key and its partner
    "SAVEPOINT",
    "SELECT orders_idempotencyrecord",  # a retry of an answered request?
    "SELECT orders_product",
    "SELECT orders_customer",
    "INSERT orders_order",
    "INSERT orders_orderline",  # every line at once
    "SELECT orders_webhooksubscription",  # the partner's subscriptions, once
    "INSERT orders_payment",
    "SELECT orders_order",  # the customer's credit exposure (evaluation card)
    "SELECT orders_stocklevel",  # the lines' stock (evaluation card)
    "INSERT orders_evaluationcard",
    "INSERT orders_orderhealth",
    "UPDATE orders_order",  # received -> sales_review, with the lane
    "INSERT orders_stagevisit",  # received (closed) and sales_review, at once
    "INSERT audit_auditevent",  # created, payment, transition, at once
    "INSERT orders_idempotencyrecord",
    "RELEASE",
]


def _statement(sql: str) -> str:
    words = sql.replace('"', "").split()
    verb = words[0].upper()
    if verb in ("SAVEPOINT", "RELEASE"):
        return verb
    table = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE"}[verb]
    return f"{verb} {words[words.index(table) + 1].split('.')[0]}"


def _statements(queries) -> list[str]:
    """The statements, without the shared cache's: it is the database in the tests
    (Redis in production), read and written by the per-key throttle."""
    kept: list[str] = []
    for query in queries.captured_queries:
        if "backoffice_cache" in query["sql"]:
            continue
        statement = _statement(query["sql"])
        if statement == "RELEASE" and kept and kept[-1] == "SAVEPOINT":
            kept.pop()  # the cache write's own savepoint, empty without it
        else:
            kept.append(statement)
    return kept


def _process_caches_clear() -> None:
    rules_cache_clear()
    health_weights._weights_memo.update(row=None, at=0.0)
    health_factors._pressure_memo.update(pressure=None, at=0.0)
    breakers._entry_checked.clear()


@pytest.fixture
def process_caches(settings):
    """Production's per-process caches of rules, weights and pressure (the test
    settings turn them off) and a breaker check throttle longer than the test. They
    start empty (an earlier test's rows were rolled back) and are emptied again."""
    _process_caches_clear()
    settings.APPROVALS_RULE_CACHE_SECONDS = 60
    settings.HEALTH_WEIGHTS_CACHE_SECONDS = 60
    settings.BREAKER_ENTRY_CHECK_SECONDS = 3600
    yield
    _process_caches_clear()


def test_a_usual_intake_makes_these_statements_and_no_others(
    catalog, acme, process_caches, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        place(acme)  # the customer is created, the caches filled, the breaker checked

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        body = place(acme)

    assert body["status"] == "sales_review"
    # Nothing after the commit either: the exception detectors have no case to close
    # on a new order paid in full, the breaker was checked a moment ago.
    assert _statements(queries) == EXPECTED
