"""A demo CRM, ERP and WMS: the evaluation card's HTTP contract served from this app.

`python manage.py connectors_demo_server [--port 8077] [--delay-ms 0] [--fail customer,...]`

Serves the three endpoints of the contract in orders/connectors/http.py from the app's
own tables, so the HTTP connectors can be tried (and broken) without the real
systems:

    GET  /customers/{ref}[?partner=code]     CRM: the Customer row (404 if unknown)
    POST /stock  {"lines": [{"sku", ...}]}   ERP: StockLevel per active warehouse
    GET  /fulfilment/{ref}[?partner=code]    WMS: the Customer row (404 if unknown)

The answers are what the local sources (orders/connectors/local.py) read, so a card
fetched through this server equals the local one. One difference by nature: the CRM
does not know which order is being evaluated, so its `outstanding` is what the
customer owes on every credit order finance accepted; for an order still under
evaluation (not accepted yet) that is exactly the local source's figure.

`--delay-ms` makes every answer wait (a slow system), `--fail customer,inventory`
makes those endpoints answer 503 (a broken system: the card shows "data unavailable
from ..."), `--token` requires `Authorization: Bearer <token>`. One log line per
request; Ctrl-C stops it. Standard library only (`http.server.ThreadingHTTPServer`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from orders.connectors.base import money

KINDS = ("customer", "inventory", "fulfilment")
MAX_BODY_BYTES = 1024 * 1024


class NotFound(Exception):
    """No such customer: answered 404."""


class DatabaseAnswers:
    """The contract's answers from this app's tables, read as the local sources read them."""

    def _customer(self, ref: str, partner_code: str | None):
        from orders.models import Customer

        customers = Customer.objects.select_related("partner")
        try:
            if partner_code:
                return customers.get(ref=ref, partner__code=partner_code)
            return customers.get(ref=ref, partner=None)
        except Customer.DoesNotExist:
            raise NotFound(ref) from None

    def customer(self, ref: str, partner_code: str | None) -> dict:
        from orders.models import Order

        customer = self._customer(ref, partner_code)
        # Order.credit_exposure() of an order that is not there yet (nothing due, no
        # pk to leave out): what the customer owes on the credit orders finance
        # accepted, the same query the local source uses.
        outstanding = Order(customer=customer).credit_exposure()
        return {
            "credit_rating": customer.credit_rating,
            "tier": customer.tier,
            "credit_limit": money(customer.credit_limit),
            "outstanding": money(outstanding),
            "orders_completed": customer.orders_completed,
        }

    def stock(self, skus: list[str]) -> dict[str, dict[str, int]]:
        from orders.models import StockLevel

        available: dict[str, dict[str, int]] = {sku: {} for sku in skus}
        levels = StockLevel.objects.filter(
            product__sku__in=skus, warehouse__is_active=True
        ).values_list("product__sku", "warehouse__code", "on_hand", "reserved")
        for sku, code, on_hand, reserved in levels:
            # The contract wants units a warehouse can promise: never below zero.
            available[sku][code] = max(on_hand - reserved, 0)
        return available

    def fulfilment(self, ref: str, partner_code: str | None) -> dict:
        customer = self._customer(ref, partner_code)

        def rate(value):
            return None if value is None else float(value)

        return {
            "orders": customer.orders_completed,
            "paid_on_time_rate": rate(customer.on_time_payment_rate),
            "received_on_time_rate": rate(customer.on_time_receipt_rate),
        }


class DemoSourceServer(ThreadingHTTPServer):
    """The three endpoints, one thread per request."""

    # Closing the server waits for the requests in flight (at most --delay-ms plus a
    # query each): none is left behind reading the database.
    daemon_threads = False
    block_on_close = True
    # Many card fetches at once (a benchmark, a busy demo): a deeper accept queue.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        delay_ms: int = 0,
        fail: Iterable[str] = (),
        token: str = "",
        answers=None,
        log: Callable[[str], None] | None = None,
    ):
        self.delay_ms = delay_ms
        self.fail = frozenset(fail)
        self.token = token
        self.answers = answers if answers is not None else DatabaseAnswers()
        self.log = log
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def log_line(self, line: str) -> None:
        if self.log is not None:
            with self._log_lock:
                self.log(line)

    def start_in_thread(self) -> DemoSourceServer:
        self._thread = threading.Thread(
            target=self.serve_forever, name="connectors-demo-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (from another thread than serve_forever's)."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def demo_server_start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    delay_ms: int = 0,
    fail: Iterable[str] = (),
    token: str = "",
    answers=None,
    log: Callable[[str], None] | None = None,
) -> DemoSourceServer:
    """A running server in a background thread (port 0: any free port); `.stop()` it."""
    server = DemoSourceServer(
        (host, port), delay_ms=delay_ms, fail=fail, token=token, answers=answers, log=log
    )
    return server.start_in_thread()


class _Handler(BaseHTTPRequestHandler):
    server: DemoSourceServer
    server_version = "connectors-demo/1"
    # A client that connects and says nothing does not hold a thread for ever.
    timeout = 10

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        status = HTTPStatus.INTERNAL_SERVER_ERROR
        try:
            status, body = self._answer(method)
        except Exception as exc:  # a bug here must still answer, and say so
            body = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            # This request thread's own database connection: never left open behind.
            connection.close()
        self._send(status, body)
        self.server.log_line(
            f"{method} {self.path} -> {int(status)} ({(time.monotonic() - started) * 1000:.0f} ms)"
        )

    def _answer(self, method: str) -> tuple[HTTPStatus, dict]:
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        query = urllib.parse.parse_qs(url.query)
        partner = query.get("partner", [None])[0]
        if method == "GET" and len(parts) == 2 and parts[0] == "customers":
            kind = "customer"
        elif method == "GET" and len(parts) == 2 and parts[0] == "fulfilment":
            kind = "fulfilment"
        elif method == "POST" and parts == ["stock"]:
            kind = "inventory"
        else:
            return HTTPStatus.NOT_FOUND, {"error": "no such endpoint"}

        if self.server.token and self.headers.get("Authorization") != (
            f"Bearer {self.server.token}"
        ):
            return HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"}
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000)
        if kind in self.server.fail:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"{kind} source down (--fail)"}

        answers = self.server.answers
        if kind == "inventory":
            skus = self._requested_skus()
            if skus is None:
                return HTTPStatus.BAD_REQUEST, {"error": 'expected {"lines": [{"sku": ...}]}'}
            available = answers.stock(skus)
            return HTTPStatus.OK, {
                "lines": [{"sku": sku, "warehouses": available.get(sku, {})} for sku in skus]
            }
        try:
            if kind == "customer":
                return HTTPStatus.OK, answers.customer(parts[1], partner)
            return HTTPStatus.OK, answers.fulfilment(parts[1], partner)
        except NotFound:
            return HTTPStatus.NOT_FOUND, {"error": "no such customer"}

    def _requested_skus(self) -> list[str] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY_BYTES:
            return None
        try:
            data = json.loads(self.rfile.read(length))
        except ValueError:
            return None
        lines = data.get("lines") if isinstance(data, dict) else None
        if not isinstance(lines, list):
            return None
        skus: list[str] = []
        for line in lines:
            if not isinstance(line, dict) or not isinstance(line.get("sku"), str):
                return None
            if line["sku"] not in skus:
                skus.append(line["sku"])
        return skus

    def _send(self, status: HTTPStatus, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:
        # One line per request is written by _handle (with its duration).
        pass


class Command(BaseCommand):
    help = (
        "Serve the evaluation card's HTTP contract (CRM /customers, ERP /stock, WMS "
        "/fulfilment) from this app's tables: a demo source for CONNECTOR_*=http."
    )
    requires_migrations_checks = True

    server: DemoSourceServer | None = None

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=8077, help="port (default 8077; 0: any free port)"
        )
        parser.add_argument(
            "--delay-ms", type=int, default=0, help="wait this long before every answer"
        )
        parser.add_argument(
            "--fail",
            default="",
            help=f"comma-separated parts answering 503: {', '.join(KINDS)}",
        )
        parser.add_argument(
            "--token", default="", help="require 'Authorization: Bearer <token>' (default: none)"
        )

    def handle(self, *args, host, port, delay_ms, fail, token, **options):
        failing = [kind.strip() for kind in fail.split(",") if kind.strip()]
        unknown = sorted(set(failing) - set(KINDS))
        if unknown:
            raise CommandError(
                f"--fail: unknown part {', '.join(unknown)} (use {', '.join(KINDS)})"
            )
        if delay_ms < 0:
            raise CommandError("--delay-ms must be >= 0")
        try:
            self.server = DemoSourceServer(
                (host, port), delay_ms=delay_ms, fail=failing, token=token, log=self.stdout.write
            )
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        url = self.server.url
        self.stdout.write(f"Demo CRM/ERP/WMS serving on {url}/ (Ctrl-C to stop)")
        if delay_ms:
            self.stdout.write(f"Every answer waits {delay_ms} ms.")
        if failing:
            self.stdout.write(f"Answering 503 for: {', '.join(failing)}.")
        self.stdout.write("Point the back-office at it (e.g. before `make run`):")
        for kind in KINDS:
            name = f"CONNECTOR_{kind.upper()}"
            self.stdout.write(f"  export {name}=http {name}_URL={url}")
        if token:
            self.stdout.write("  and CONNECTOR_<KIND>_TOKEN=<the token> for each.")
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
            connection.close()  # this thread's, from the migration check
        self.stdout.write("Stopped.")

    def stop(self) -> None:
        """Stop a server running in another thread (tests)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # refuse connections from now on
