# The stage-team users and stock fixtures of the orders tests (sales_clerk, supervisor...).
from orders.tests.conftest import *  # noqa: F403
