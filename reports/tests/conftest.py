"""Fixtures shared by the reports tests."""

from __future__ import annotations

import pytest

from orders import teams
from orders.tests.factories import UserFactory


@pytest.fixture
def supervisor(db):
    return UserFactory(username="supervisor", groups=[teams.SUPERVISORS])
