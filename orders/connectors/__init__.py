"""Connectors to the systems behind the evaluation card: CRM, ERP, WMS.

`connector_for(kind)` gives the configured source of a part ("local" reads this
app's tables, "http" calls the system; settings `CONNECTOR_<KIND>...`), and
`source_fetch(kind, order)` calls it through the connector's circuit breaker. The
card service (orders/services/card.py) fetches the three parts concurrently.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

from orders.connectors.base import (
    CustomerSource,
    FulfilmentSource,
    InventorySource,
    Source,
    SourceError,
)
from orders.connectors.breaker import breaker_call

if TYPE_CHECKING:
    from orders.models import Order

__all__ = [
    "CustomerSource",
    "FulfilmentSource",
    "InventorySource",
    "Source",
    "SourceError",
    "connector_for",
    "source_fetch",
]


@lru_cache(maxsize=32)
def _build(kind: str, mode: str, url: str, token: str, timeout_ms: int, retries: int) -> Source:
    from orders.connectors import http, local

    if mode == "local":
        return {
            "customer": local.LocalCustomerSource,
            "inventory": local.LocalInventorySource,
            "fulfilment": local.LocalFulfilmentSource,
        }[kind]()
    client = http.HttpClient(base_url=url, token=token, timeout_ms=timeout_ms, retries=retries)
    return {
        "customer": http.HttpCustomerSource,
        "inventory": http.HttpInventorySource,
        "fulfilment": http.HttpFulfilmentSource,
    }[kind](client)


def connector_for(kind: str) -> Source:
    """The source of one card part ("customer", "inventory", "fulfilment") as configured.

    Built once per distinct settings values, so a changed setting (or a test's
    override) takes effect at the next call.
    """
    prefix = f"CONNECTOR_{kind.upper()}"
    return _build(
        kind,
        getattr(settings, prefix),
        getattr(settings, f"{prefix}_URL"),
        getattr(settings, f"{prefix}_TOKEN"),
        settings.CONNECTOR_TIMEOUT_MS,
        settings.CONNECTOR_RETRIES,
    )


def source_fetch(kind: str, order: Order, *, deadline: float | None = None) -> dict:
    """One part of `order`'s card from its source, through the circuit breaker."""
    source = connector_for(kind)
    return breaker_call(kind, lambda: source.fetch(order, deadline=deadline))
