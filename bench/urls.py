"""The benchmarks' URLconf: the application's, plus the intake benchmark's baseline."""

from django.urls import path

from backoffice.urls import handler404, handler500
from backoffice.urls import urlpatterns as application_urlpatterns
from bench.bare import BareOrderCreate

BARE_ORDERS_PATH = "/bench/bare-orders/"

urlpatterns = [
    path("bench/bare-orders/", BareOrderCreate.as_view(), name="bench-bare-orders"),
    *application_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
