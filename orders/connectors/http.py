"""The HTTP sources: a CRM, an ERP and a WMS answering JSON.

The contract, for the teams that run those systems
--------------------------------------------------
Each source has its own base URL (``CONNECTOR_<KIND>_URL``) and, when set, its own
token, sent as ``Authorization: Bearer <token>``. Requests carry ``Accept:
application/json``; answers are ``200`` with a JSON object (UTF-8, at most 1 MB).
A 3xx (redirects are not followed), 4xx or 5xx, an answer that is not JSON or not
of the shape below (a field missing, of another type or out of range) makes the part
"unavailable" on the card; nothing is guessed.

Customer credit (CRM)::

    GET {CONNECTOR_CUSTOMER_URL}/customers/{customer_ref}[?partner={partner_code}]

    200 {"credit_rating": "good",        one of good, fair, poor, blocked
         "tier": "gold",                 one of standard, silver, gold, vip
         "credit_limit": "10000.00",     >= 0, a decimal string or a number
         "outstanding": "1200.00",       >= 0, what the customer owes on credit today
         "orders_completed": 12}         integer >= 0

    The card's exposure is ``outstanding`` plus what is still due on this order,
    and its headroom ``credit_limit - exposure``.

Stock (ERP), one entry per SKU with the order's total quantity of it::

    POST {CONNECTOR_INVENTORY_URL}/stock
         {"lines": [{"sku": "SKU-1", "quantity": 2}, ...]}

    200 {"lines": [{"sku": "SKU-1", "warehouses": {"hz": 3, "sh": 0}}, ...]}

    Every requested SKU must be answered (in any order); ``warehouses`` maps a
    warehouse code to the units it can still promise (an integer >= 0); a warehouse
    left out has none. SKUs that were not asked for are ignored.

Fulfilment history (WMS)::

    GET {CONNECTOR_FULFILMENT_URL}/fulfilment/{customer_ref}[?partner={partner_code}]

    200 {"orders": 12,                   integer >= 0, orders fulfilled
         "paid_on_time_rate": 0.95,      0-1, or null when unknown
         "received_on_time_rate": null}  0-1, or null when unknown

Timing: each call may take ``CONNECTOR_TIMEOUT_MS`` (default 700 ms), and never
longer than what is left of the card's budget. A refused or reset connection and a
5xx are tried again ``CONNECTOR_RETRIES`` times (default 1) while the budget lasts;
a call that timed out is not (the system is slow, another call would be too). After
``CONNECTOR_BREAKER_FAILURES`` failures in a row the source is not called for
``CONNECTOR_BREAKER_COOLDOWN_SECONDS`` (orders/connectors/breaker.py).

Plain `urllib` (as backoffice.notifications.channels): no extra dependency.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from orders.connectors.base import (
    CustomerSource,
    FulfilmentSource,
    InventorySource,
    SourceError,
    customer_part,
    fulfilment_part,
    inventory_summary,
    order_demand,
)
from orders.models import Customer

if TYPE_CHECKING:
    from orders.models import Order

USER_AGENT = "backoffice-connectors/1"
MAX_ANSWER_BYTES = 1024 * 1024
# Below this much time left another try cannot succeed: give up instead.
MIN_TRY_SECONDS = 0.02


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class _Retryable(Exception):
    """A failure worth another try: refused/reset connection, 5xx."""


class HttpClient:
    """JSON over HTTP with a timeout per call, retries within a deadline, a token."""

    def __init__(self, *, base_url: str, token: str, timeout_ms: int, retries: int):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_ms = timeout_ms
        self.retries = retries

    def get(self, path: str, *, deadline: float | None = None) -> Any:
        return self._call("GET", path, None, deadline)

    def post(self, path: str, payload: dict, *, deadline: float | None = None) -> Any:
        return self._call("POST", path, json.dumps(payload).encode(), deadline)

    def _call(self, method: str, path: str, body: bytes | None, deadline: float | None) -> Any:
        tries_left = self.retries
        while True:
            timeout = self.timeout_ms / 1000
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout < MIN_TRY_SECONDS:
                    raise SourceError(_("no time left in the budget"))
            try:
                answer = self._send(method, path, body, timeout)
            except _Retryable as exc:
                if tries_left <= 0:
                    raise SourceError(str(exc)) from exc
                tries_left -= 1
                continue
            return _parse(answer)

    def _send(self, method: str, path: str, body: bytes | None, timeout: float) -> bytes:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers
        )
        timed_out = SourceError(_("timed out after %(ms)d ms") % {"ms": round(timeout * 1000)})
        try:
            with _opener.open(request, timeout=timeout) as response:
                if response.status != 200:
                    raise SourceError(_("HTTP %(status)d") % {"status": response.status})
                answer = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
            if exc.code >= 500:
                raise _Retryable(detail) from exc
            raise SourceError(detail) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise timed_out from exc
            raise _Retryable(_("connection failed: %(reason)s") % {"reason": exc.reason}) from exc
        except TimeoutError as exc:
            raise timed_out from exc
        except ConnectionError as exc:  # refused, reset, closed without an answer
            raise _Retryable(_("connection failed: %(reason)s") % {"reason": exc}) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"{type(exc).__name__}: {exc}") from exc
        if len(answer) > MAX_ANSWER_BYTES:
            raise SourceError(_("answer larger than 1 MB"))
        return answer


def _parse(answer: bytes) -> dict:
    try:
        data = json.loads(answer)
    except ValueError:
        raise SourceError(
            _("not a JSON answer: %(start)s") % {"start": repr(answer[:80])}
        ) from None
    if not isinstance(data, dict):
        raise _malformed("", _("a JSON object"))
    return data


# --- Strict reading of an answer ----------------------------------------------


def _malformed(field: str, expected: str) -> SourceError:
    return SourceError(
        _("unexpected answer: %(field)s should be %(expected)s")
        % {"field": field or _("the answer"), "expected": expected}
    )


def _integer(data: dict, field: str) -> int:
    value = data.get(field)
    # bool is an int in Python, and never a count.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _malformed(field, _("an integer >= 0"))
    return value


def _amount(data: dict, field: str) -> Decimal:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _malformed(field, _("an amount >= 0"))
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _malformed(field, _("an amount >= 0")) from None
    if not amount.is_finite() or amount < 0:
        raise _malformed(field, _("an amount >= 0"))
    return amount


def _rate(data: dict, field: str) -> float | None:
    if field not in data:
        raise _malformed(field, _("a share between 0 and 1, or null"))
    value = data[field]
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise _malformed(field, _("a share between 0 and 1, or null"))
    return float(value)


def _choice(data: dict, field: str, choices: list[str]) -> str:
    value = data.get(field)
    if value not in choices:
        raise _malformed(field, _("one of %(choices)s") % {"choices": ", ".join(choices)})
    return value


def _customer_path(prefix: str, order: Order) -> str:
    customer = order.customer
    path = f"{prefix}/{urllib.parse.quote(customer.ref, safe='')}"
    if customer.partner_id:
        path += "?" + urllib.parse.urlencode({"partner": customer.partner.code})
    return path


# --- The three sources --------------------------------------------------------


class HttpCustomerSource(CustomerSource):
    def __init__(self, client: HttpClient):
        self.client = client

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        data = self.client.get(_customer_path("/customers", order), deadline=deadline)
        rating = _choice(data, "credit_rating", Customer.CreditRating.values)
        tier = _choice(data, "tier", Customer.Tier.values)
        credit_limit = _amount(data, "credit_limit")
        outstanding = _amount(data, "outstanding")
        return customer_part(
            credit_rating=rating,
            tier=tier,
            credit_limit=credit_limit,
            exposure=outstanding + order.amount_due,
            orders_completed=_integer(data, "orders_completed"),
        )


class HttpInventorySource(InventorySource):
    def __init__(self, client: HttpClient):
        self.client = client

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        lines = order_demand(order)
        wanted: dict[str, int] = {}
        for sku, quantity in lines:
            wanted[sku] = wanted.get(sku, 0) + quantity
        data = self.client.post(
            "/stock",
            {"lines": [{"sku": sku, "quantity": quantity} for sku, quantity in wanted.items()]},
            deadline=deadline,
        )
        answered = data.get("lines")
        if not isinstance(answered, list):
            raise _malformed("lines", _("a list"))
        available: dict[str, dict[str, int]] = {}
        for index, entry in enumerate(answered):
            where = f"lines[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("sku"), str):
                raise _malformed(where, _("an object with a sku"))
            warehouses = entry.get("warehouses")
            if not isinstance(warehouses, dict):
                raise _malformed(f"{where}.warehouses", _("an object"))
            if entry["sku"] not in wanted:
                continue
            available[entry["sku"]] = {
                code: _integer(warehouses, code) for code in warehouses if code
            }
            if len(available[entry["sku"]]) != len(warehouses):
                raise _malformed(f"{where}.warehouses", _("keyed by warehouse codes"))
        missing = sorted(set(wanted) - set(available))
        if missing:
            raise SourceError(
                _("unexpected answer: no stock for %(skus)s") % {"skus": ", ".join(missing)}
            )
        return inventory_summary(lines, available)


class HttpFulfilmentSource(FulfilmentSource):
    def __init__(self, client: HttpClient):
        self.client = client

    def fetch(self, order: Order, *, deadline: float | None = None) -> dict:
        data = self.client.get(_customer_path("/fulfilment", order), deadline=deadline)
        return fulfilment_part(
            orders=_integer(data, "orders"),
            paid_on_time_rate=_rate(data, "paid_on_time_rate"),
            received_on_time_rate=_rate(data, "received_on_time_rate"),
        )
