import pytest

from orders import teams
from orders.tests.factories import (
    ProductFactory,
    StockLevelFactory,
    UserFactory,
    WarehouseFactory,
)


@pytest.fixture
def sales_clerk(db):
    return UserFactory(username="sales_clerk", groups=[teams.SALES])


@pytest.fixture
def finance_clerk(db):
    return UserFactory(username="finance_clerk", groups=[teams.FINANCE])


@pytest.fixture
def warehouse_clerk(db):
    return UserFactory(username="warehouse_clerk", groups=[teams.WAREHOUSE])


@pytest.fixture
def qc_clerk(db):
    return UserFactory(username="qc_clerk", groups=[teams.QUALITY])


@pytest.fixture
def supervisor(db):
    return UserFactory(username="supervisor", groups=[teams.SUPERVISORS])


@pytest.fixture
def outsider(db):
    """Staff, but in no team: may look, may not act."""
    return UserFactory(username="outsider")


@pytest.fixture
def warehouses(db):
    return [
        WarehouseFactory(code="hz", name="Hangzhou", priority=1),
        WarehouseFactory(code="sh", name="Shanghai", priority=2),
    ]


@pytest.fixture
def stocked_product(warehouses):
    product = ProductFactory(sku="SKU-STOCKED")
    StockLevelFactory(product=product, warehouse=warehouses[0], on_hand=10)
    StockLevelFactory(product=product, warehouse=warehouses[1], on_hand=10)
    return product


@pytest.fixture(scope="module")
def source_server():
    """A real HTTP server for the evaluation card's sources (threaded: a slow handler
    must not hold up the others, as the concurrency tests need)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def server(source_server):
    source_server.clear()
    return source_server
