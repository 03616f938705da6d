"""Fuzz the partner API against its own published OpenAPI document (schemathesis).

A real server (pytest-django's `live_server`) serves /api/schema/; schemathesis reads
it and sends each operation generated requests, valid and invalid, with a real
partner key (a supervisor's session on the staff operations). Every answer must be
documented (status code and body schema) and none may be a 5xx. Operations on one
order run twice: with generated order numbers (404s) and with the number of a real
order of the partner, so the code behind is reached.

schemathesis' own pytest loader (`schemathesis.pytest.from_fixture`) does not run
under pytest 9.2 (it sets `Function._nodeid`, which pytest removed), so the
operations' Hypothesis strategies are driven with `@given` directly (the documented
"non-Schemathesis tests" use of `as_strategy`).
"""

from __future__ import annotations

import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.apps import apps
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from orders.tests.api_helpers import (
    intake_body,
    partner_client,
    partner_with_key,
    post_order,
    products_in_stock,
)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Per operation and generation mode: 25 keeps the file well under a minute; a deeper
# hunt: API_FUZZ_EXAMPLES=200 (about two minutes per database on two cores).
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
ORDER = "/api/v1/orders/{number}/"
TRANSITION = "/api/v1/staff/orders/{number}/transitions/{name}/"
OPERATIONS = [
    ("GET", "/api/v1/orders/"),
    ("POST", "/api/v1/orders/"),
    ("GET", ORDER),
    ("POST", ORDER + "cancel/"),
    ("POST", ORDER + "payment/"),
    ("POST", ORDER + "exceptions/"),
    ("GET", "/api/v1/staff/todo/"),
    ("POST", "/api/v1/staff/queues/{stage}/claim-next/"),
    ("POST", TRANSITION),
    ("GET", "/api/v1/staff/exceptions/"),
    ("POST", "/api/v1/staff/exceptions/claim-next/"),
    ("POST", "/api/v1/staff/exceptions/{id}/resolve/"),
    ("GET", "/api/v1/staff/price-changes/"),
    ("POST", "/api/v1/staff/price-changes/{id}/approve/"),
    ("POST", "/api/v1/staff/price-changes/{id}/reject/"),
    ("POST", "/api/v1/staff/orders/{number}/price-changes/"),
    ("GET", "/api/v1/metrics/stages/"),
    ("GET", "/api/v1/metrics/heatmap/"),
    ("GET", "/api/v1/metrics/flags/"),
    ("GET", "/api/v1/metrics/overdue/"),
]
ON_A_REAL_ORDER = [o for o in OPERATIONS if o[1].startswith(ORDER) or o[1] == TRANSITION]
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # 32 characters, sent as cookie and header

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def partner_key(live_server, warehouses, settings):
    settings.API_THROTTLE_RATE = "100000/min"  # fuzzing is not abuse
    products_in_stock(warehouses[0])
    for config in apps.get_app_configs():
        # Rows other apps' operations need (e.g. the exception types partners raise),
        # through their AppConfig hook: orders imports none of those apps.
        getattr(config, "reference_data_ensure", lambda: None)()
    return partner_with_key("fuzzer")[1]


@pytest.fixture
def credentials(partner_key, supervisor):
    """What each operation is called with: the partner key on partner operations,
    a supervisor's session (with its CSRF pair) on staff ones, so both reach code."""
    browser = Client()
    browser.force_login(supervisor)
    staff = {
        "headers": {"X-CSRFToken": CSRF_SECRET},
        "cookies": {
            settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value,
            settings.CSRF_COOKIE_NAME: CSRF_SECRET,
        },
    }
    partner = {"headers": {"X-Api-Key": partner_key}}
    staff_paths = ("/api/v1/staff/", "/api/v1/metrics/")
    return lambda path: staff if path.startswith(staff_paths) else partner


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")


def _fuzz(operation, *, base_url: str, credentials: dict, path_parameters=None) -> Counter:
    """Run the operation's generated requests; returns how often each status came back."""
    statuses: Counter = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests on every run: failures reproduce
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        def answers_as_documented(case):
            response = case.call_and_validate(
                base_url=base_url, checks=CHECKS, timeout=30, **credentials
            )
            statuses[response.status_code] += 1

        try:
            answers_as_documented()
        except Unsatisfiable:
            # Nothing about the operation can be invalid (no parameters, or free strings).
            assert mode is GenerationMode.NEGATIVE
    # The credentials worked: the requests reached the code behind authentication.
    assert statuses and not set(statuses) <= {401, 403}, statuses
    return statuses


def test_the_fuzzed_operations_are_all_the_operations(api_schema):
    published = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert published == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_every_operation_answers_as_documented(api_schema, credentials, live_server, method, path):
    _fuzz(api_schema[path][method], base_url=live_server.url, credentials=credentials(path))


@pytest.mark.parametrize(
    ("method", "path"), ON_A_REAL_ORDER, ids=[" ".join(o) for o in ON_A_REAL_ORDER]
)
def test_operations_on_a_real_order_answer_as_documented(
    api_schema, partner_key, credentials, live_server, method, path
):
    response = post_order(partner_client(partner_key), intake_body(), key="fuzz-target")
    assert response.status_code == 201, response.content
    statuses = _fuzz(
        api_schema[path][method],
        base_url=live_server.url,
        credentials=credentials(path),
        path_parameters={"number": response.json()["number"]},
    )
    if not path.endswith("/payment/"):  # the documented amount pattern admits "" and "-1"
        assert any(200 <= status < 300 for status in statuses), statuses
