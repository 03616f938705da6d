"""Suite-wide test policy.

- Tests marked `postgres` need real row locks (SELECT ... FOR UPDATE [SKIP LOCKED]).
  On SQLite they are skipped; with REQUIRE_POSTGRES_TESTS=1 (CI's PostgreSQL run)
  running on anything else is an error, and a skipped postgres test fails the run.
- Hypothesis uses a CI profile without deadlines: this machine is shared and noisy.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile("ci")

REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES_TESTS") == "1"


def _on_postgres() -> bool:
    from django.conf import settings as django_settings

    return "postgresql" in django_settings.DATABASES["default"]["ENGINE"]


def pytest_collection_modifyitems(config, items):
    if _on_postgres():
        return
    if REQUIRE_POSTGRES:
        raise pytest.UsageError(
            "REQUIRE_POSTGRES_TESTS=1 but DATABASE_URL does not point to PostgreSQL"
        )
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


_postgres_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "failed": 0}


def pytest_runtest_logreport(report):
    if "postgres" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _postgres_outcomes[report.outcome] = _postgres_outcomes.get(report.outcome, 0) + 1


def pytest_sessionfinish(session, exitstatus):
    if not REQUIRE_POSTGRES or hasattr(session.config, "workerinput"):
        return
    if _postgres_outcomes["skipped"] or not _postgres_outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if REQUIRE_POSTGRES:
        terminalreporter.write_line(
            "postgres-marked tests: {passed} passed, {skipped} skipped, {failed} failed".format(
                **_postgres_outcomes
            )
        )
        if _postgres_outcomes["skipped"] or not _postgres_outcomes["passed"]:
            terminalreporter.write_line(
                "FAIL: PostgreSQL-only tests were skipped or none ran in the PostgreSQL run",
                red=True,
            )
