"""People and exception types of the exceptions tests.

The stage-team users of the orders tests (sales_clerk, finance_clerk, supervisor...)
are reused; the customer-service team and its agents are added here. The six demo
types are created through `exceptions_types_ensure()`, as `make run` does.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from exceptions.demo import exceptions_types_ensure
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams
from orders.tests.conftest import *  # noqa: F403
from orders.tests.factories import ProductFactory, StockLevelFactory, UserFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def qc_photo():
    return SimpleUploadedFile("qc.png", PNG, content_type="image/png")


@pytest.fixture
def exception_types(db):
    """The six demo types by code (address_change, presale_payment_due...)."""
    return exceptions_types_ensure()


@pytest.fixture
def service_agent(db):
    """A customer-service agent: works address changes, gifts and returns."""
    return UserFactory(username="service_agent", groups=[CUSTOMER_SERVICE])


@pytest.fixture
def service_agent2(db):
    return UserFactory(username="service_agent2", groups=[CUSTOMER_SERVICE])


@pytest.fixture
def finance_agent(db):
    """A finance clerk working the finance team's cases (presale, price difference)."""
    return UserFactory(username="finance_agent", groups=[teams.FINANCE])


@pytest.fixture
def presale_product(warehouses):
    product = ProductFactory(sku="SKU-PRESALE", is_presale=True)
    StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=50)
    return product
