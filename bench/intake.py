"""Benchmark 5: partner order intake over real HTTP, against a bare DRF create view.

Intake: `POST /api/v1/orders/` as a partner sends it (X-Api-Key, a unique
Idempotency-Key and external_ref each, two lines, paid): the API key check, the
per-key throttle, the idempotency record, validation, the customer and products,
the order in its initial state with its lines, payment, first timeline visit and
audit events, the router passing it on, the 201 body stored for replays.

Baseline, in the same run on the same table: a bare DRF `CreateAPIView` +
`ModelSerializer` of Order with its lines nested (bench.bare, mounted only by
bench.urls): no authentication, throttle, idempotency, state machine, timeline,
audit or routing.

Both are driven through real HTTP: the worker starts gunicorn (bench settings,
2 workers x 4 threads, gthread, a free port on 127.0.0.1) and generates the load
itself, from threads with keep-alive `http.client` connections.

0. In-process (django.test.Client, untimed against the goals): statements and
   milliseconds per request of each kind, the share spent in SQL; with --intake-profile
   also a cProfile of the intake view.
1. Peak throughput, closed loop: N clients at once, each sending its next request when
   the last one answered, a fixed count of requests of each kind, in rounds; in each
   round both kinds share the same fresh connections, spread evenly over the two
   server processes (a keep-alive connection stays with the worker that accepted
   it), and which kind goes first alternates. The CPU time gunicorn spent per request
   of each kind is recorded too: it hardly depends on what else the machine runs.
2. Latency at 80 % of each kind's own peak, open loop: requests due at a fixed
   arrival rate (evenly spaced), latency counted from when each was due (a request
   waiting for a free sender counts as waiting), in 5-second segments alternating
   between the kinds. The goal is on intake's p99 / p50 within a segment, the median
   over the segments (a stretch in which the shared machine slowed down moves a
   pooled p99 for reasons that are not intake's; the pooled figure is shown too).
   Bare's figures are the reference for what the machine and the stack do to the
   tail at the same relative load.

The machine's noise hits both kinds alike; the load average is recorded per phase.
Every order, line, visit, payment, audit event, idempotency record and customer the
run created is deleted afterwards, with the partner and its key, and the breakers
are put back.
"""

from __future__ import annotations

import contextlib
import cProfile
import http.client
import io
import json
import os
import pstats
import queue
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.test import Client, override_settings
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from bench.changelist import percentile
from bench.urls import BARE_ORDERS_PATH
from orders.models import Customer, Order, OrderLine, Partner, Payment, Product, StageVisit
from orders.models.partners import IdempotencyRecord, PartnerAPIKey
from orders.services.partners import partner_key_create
from orders.states import PaymentMethod, Source

TAG = "BENCH-IN-"
PARTNER_CODE = "bench-intake"
INTAKE_PATH = "/api/v1/orders/"
# The throttle still runs, but never refuses. A one-second window keeps its
# history (every request's time, stored in the cache) short, as a real rate does.
THROTTLE_RATE = "100000/s"
CUSTOMERS = 200
PRODUCTS = 40
LINES = 2
ROUNDS = 4  # closed-loop rounds; each runs both kinds
WARMUP = 40  # untimed requests of each kind before the peak rounds
SEGMENTS = 8  # open-loop segments of each kind, alternating (5 s each by default)
LOAD_SHARE = 0.8
SENDERS_PER_CLIENT = 4  # open loop: senders (connections) per closed-loop client
IN_PROCESS = 60  # in-process requests of each kind
SERVER_WORKERS, SERVER_THREADS = 2, 4
KINDS = ("intake", "bare")


# --- Fixture: partner, key, customers, products -----------------------------------


@dataclass
class Fixture:
    partner: Partner
    key: str
    customers: list[tuple[int, str, str, str]]  # id, ref, name, phone
    products: list[tuple[int, str, str, Decimal]]  # id, sku, name, list price


def _fixture() -> Fixture:
    partner, _ = Partner.objects.get_or_create(
        code=PARTNER_CODE, defaults={"name": "Benchmark intake partner"}
    )
    key = partner_key_create(partner=partner, name="bench intake", by_label="bench")
    Customer.objects.bulk_create(
        [
            Customer(
                partner=partner,
                ref=f"{TAG}C{i:03d}",
                name=f"基准客户 {i}",
                phone=f"138{i:08d}",
            )
            for i in range(CUSTOMERS)
        ],
        ignore_conflicts=True,
    )
    customers = list(
        Customer.objects.filter(partner=partner, ref__startswith=TAG)
        .order_by("ref")
        .values_list("id", "ref", "name", "phone")
    )
    products = list(
        Product.objects.filter(is_presale=False, is_active=True)
        .order_by("id")
        .values_list("id", "sku", "name", "list_price")[:PRODUCTS]
    )
    if not products:
        raise RuntimeError("no active, non-presale product in the database")
    return Fixture(partner=partner, key=key, customers=customers, products=products)


def _cleanup(partner: Partner | None = None) -> dict:
    """Delete everything a run (or an interrupted one) created; how many of what."""
    partner = partner or Partner.objects.filter(code=PARTNER_CODE).first()
    ids = list(Order.objects.filter(external_ref__startswith=TAG).values_list("id", flat=True))
    deleted: dict[str, int] = {}
    order_type = ContentType.objects.get_for_model(Order)

    def count(label: str, result) -> None:
        deleted[label] = deleted.get(label, 0) + result[0]

    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        with transaction.atomic():
            count(
                "audit events",
                AuditEvent.objects.filter(
                    subject_type=order_type, subject_id__in=[str(i) for i in chunk]
                ).delete(),
            )
            count("payments", Payment.objects.filter(order_id__in=chunk).delete())
            count("visits", StageVisit.objects.filter(order_id__in=chunk).delete())
            count("lines", OrderLine.objects.filter(order_id__in=chunk).delete())
            count(
                "idempotency records", IdempotencyRecord.objects.filter(order_id__in=chunk).delete()
            )
            count("orders", Order.objects.filter(id__in=chunk).delete())
    if partner is not None:
        with transaction.atomic():
            count("idempotency records", IdempotencyRecord.objects.filter(partner=partner).delete())
            count("customers", Customer.objects.filter(partner=partner).delete())
            for api_key in PartnerAPIKey.objects.filter(partner=partner):
                cache.delete(f"throttle_partner_key_{api_key.prefix}")
            PartnerAPIKey.objects.filter(partner=partner).delete()
            AuditEvent.objects.filter(
                subject_type=ContentType.objects.get_for_model(Partner),
                subject_id=str(partner.pk),
            ).delete()
            partner.delete()
    return deleted


# --- Request bodies ----------------------------------------------------------------


class Requests:
    """Unique requests of both kinds: (path, body, headers)."""

    def __init__(self, fixture: Fixture, seed: int):
        self.fixture = fixture
        self.random = random.Random(seed)
        self.run = uuid.uuid4().hex[:6]
        self.serial = 0

    def _spec(self) -> dict:
        self.serial += 1
        customer = self.fixture.customers[self.serial % len(self.fixture.customers)]
        products = self.random.sample(self.fixture.products, LINES)
        return {
            "ref": f"{TAG}{self.run}-{self.serial}",
            "customer": customer,
            "lines": [(product, self.random.randint(1, 3)) for product in products],
        }

    @staticmethod
    def _address(customer) -> dict:
        return {
            "name": customer[2],
            "phone": customer[3],
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "line1": "文三路 1 号",
        }

    def intake(self) -> tuple[str, bytes, dict]:
        spec = self._spec()
        _, ref, name, phone = spec["customer"]
        body = {
            "external_ref": spec["ref"],
            "customer": {"ref": ref, "name": name, "phone": phone},
            "payment_method": PaymentMethod.PREPAID,
            "paid": True,
            "coupon_code": None,
            "shipping_address": self._address(spec["customer"]),
            "lines": [
                {"sku": sku, "quantity": quantity, "unit_price": str(price)}
                for (_, sku, _, price), quantity in spec["lines"]
            ],
            "notes": "",
        }
        headers = {
            "Content-Type": "application/json",
            "X-Api-Key": self.fixture.key,
            "Idempotency-Key": uuid.uuid4().hex,
        }
        return INTAKE_PATH, json.dumps(body).encode(), headers

    def bare(self) -> tuple[str, bytes, dict]:
        spec = self._spec()
        total = sum(price * quantity for (_, _, _, price), quantity in spec["lines"])
        address = self._address(spec["customer"])
        body = {
            "external_ref": spec["ref"],
            "partner": self.fixture.partner.pk,
            "source": Source.API,
            "customer": spec["customer"][0],
            "payment_method": PaymentMethod.PREPAID,
            "payment_status": "paid",
            "goods_amount": str(total),
            "total_amount": str(total),
            "amount_paid": str(total),
            **{f"ship_{field}": value for field, value in address.items()},
            "notes": "",
            "placed_at": timezone.now().isoformat(),
            "lines": [
                {
                    "product": product_id,
                    "sku": sku,
                    "name": name,
                    "quantity": quantity,
                    "list_price": str(price),
                    "unit_price": str(price),
                }
                for (product_id, sku, name, price), quantity in spec["lines"]
            ],
        }
        return BARE_ORDERS_PATH, json.dumps(body).encode(), {"Content-Type": "application/json"}

    def make(self, kind: str, count: int) -> list[tuple[str, bytes, dict]]:
        build = self.intake if kind == "intake" else self.bare
        return [build() for _ in range(count)]


# --- In-process: statements, time in SQL, profile -----------------------------------


class _SqlTimer:
    def __init__(self):
        self.statements = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - began
            self.statements += 1


def _in_process(requests: Requests, count: int, profile: bool) -> dict:
    """Both kinds through django.test.Client (no HTTP, no server), alternating."""
    client = Client()
    result: dict = {}
    profiler = cProfile.Profile() if profile else None
    with override_settings(API_THROTTLE_RATE=THROTTLE_RATE):
        for kind in KINDS:  # warm-up: caches, the first connection's setup
            path, body, headers = requests.make(kind, 1)[0]
            _post_in_process(client, path, body, headers)
        totals = {kind: {"seconds": 0.0, "sql_seconds": 0.0, "statements": 0} for kind in KINDS}
        for _ in range(count):
            for kind in KINDS:
                path, body, headers = requests.make(kind, 1)[0]
                timer = _SqlTimer()
                with connection.execute_wrapper(timer):
                    use_profiler = profiler is not None and kind == "intake"
                    if use_profiler:
                        profiler.enable()
                    began = time.perf_counter()
                    _post_in_process(client, path, body, headers)
                    seconds = time.perf_counter() - began
                    if use_profiler:
                        profiler.disable()
                totals[kind]["seconds"] += seconds
                totals[kind]["sql_seconds"] += timer.seconds
                totals[kind]["statements"] += timer.statements
    for kind, total in totals.items():
        result[kind] = {
            "requests": count,
            "ms_each": round(total["seconds"] / count * 1000, 2),
            "sql_ms_each": round(total["sql_seconds"] / count * 1000, 2),
            "statements_each": round(total["statements"] / count, 1),
        }
    if profiler is not None:
        result["profile"] = _profile_summary(profiler)
    return result


def _post_in_process(client: Client, path: str, body: bytes, headers: dict) -> None:
    extra = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in headers.items()
        if name != "Content-Type"
    }
    response = client.post(path, data=body, content_type="application/json", **extra)
    if response.status_code != 201:
        raise RuntimeError(
            f"in-process POST {path}: {response.status_code} {response.content[:500]!r}"
        )


def _profile_summary(profiler: cProfile.Profile, top: int = 30) -> dict:
    out = {}
    for order in ("cumulative", "tottime"):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        out[order] = stream.getvalue()
    return out


# --- The server ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


class Server:
    """gunicorn with the bench settings on a free localhost port, in its own session."""

    def __init__(self):
        self.port = _free_port()
        # Lives as long as the server: closed (and deleted) by stop().
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "API_THROTTLE_RATE": THROTTLE_RATE,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "backoffice.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(SERVER_WORKERS),
                "--threads",
                str(SERVER_THREADS),
                "--worker-class",
                "gthread",
                "--keep-alive",
                "120",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()  # 200 or 503 (no qcluster here): it answers
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of gunicorn's master and workers so far. The workers
        live through the whole run (no max-requests), so differences are exact."""
        pids = [self.process.pid]
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                pids += [int(p) for p in (task / "children").read_text().split()]
        return sum(_process_cpu(pid) for pid in pids)

    def tail(self, size: int = 4000) -> str:
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")[-size:]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


# --- The load generator ---------------------------------------------------------------


class Connection:
    """One keep-alive connection; reconnects once when the server closed an idle one."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.reused = False
        self.reconnects = 0

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        return self.request("POST", path, body, headers)

    def worker(self) -> int:
        """The pid of the gunicorn worker this connection is pinned to (keep-alive)."""
        status, content = self.request("GET", BARE_ORDERS_PATH)
        if status != 200:
            raise RuntimeError(f"GET {BARE_ORDERS_PATH}: {status} {content[:300]!r}")
        return json.loads(content)["worker"]

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.reused = False
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                content = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                stale = self.reused
                self.close()
                if attempt or not stale:
                    raise
                self.reconnects += 1
                continue
            if response.will_close:
                self.close()
            else:
                self.reused = True
            return response.status, content
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def _connections(port: int, count: int) -> list[Connection]:
    """`count` keep-alive connections spread evenly over the server's workers.

    A connection stays with the worker that accepted it, and which one does is a
    race: left alone, 8 connections often split 6/2, one worker saturated while the
    other idles, and the result depends on the draw. New connections are opened
    (the extra ones held open meanwhile, then closed) until every worker has its share.
    """
    share = -(-count // SERVER_WORKERS)
    kept: dict[int, list[Connection]] = {}
    extra: list[Connection] = []
    chosen: list[Connection] = []
    for _ in range(count * 50):
        if len(chosen) == count:
            break
        conn = Connection(port)
        group = kept.setdefault(conn.worker(), [])
        if len(group) < share:
            group.append(conn)
            chosen.append(conn)
        else:
            extra.append(conn)
    for conn in extra:
        conn.close()
    if len(chosen) < count:
        print(f"    (could not spread {count} connections evenly over the workers)", flush=True)
    while len(chosen) < count:  # take what comes
        chosen.append(Connection(port))
    return chosen


def _run_threads(target, items: list, start: threading.Barrier) -> list:
    """Run target(item) in one thread each; re-raise the first failure."""
    errors: list[BaseException] = []

    def wrapped(item):
        try:
            target(item)
        except BaseException as error:  # reported below
            errors.append(error)
            with contextlib.suppress(threading.BrokenBarrierError):
                start.abort()

    threads = [threading.Thread(target=wrapped, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    return threads, errors


def _closed_loop(conns: list[Connection], requests: list) -> dict:
    """Every client sends its next request when the last answered, until all are sent."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for request in requests:
        todo.put(request)
    statuses: list[int] = []
    samples: list[float] = []
    failures: list[str] = []
    start = threading.Barrier(len(conns) + 1)

    def client(conn: Connection) -> None:
        start.wait(timeout=60)
        while True:
            try:
                path, body, headers = todo.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter()
            status, content = conn.post(path, body, headers)
            samples.append(time.perf_counter() - began)
            statuses.append(status)
            if status >= 300 and len(failures) < 3:
                failures.append(f"{status} {content[:300]!r}")

    threads, errors = _run_threads(client, conns, start)
    start.wait(timeout=60)
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a load client failed: {errors[0]!r}") from errors[0]
    ok = sum(1 for s in statuses if 200 <= s < 300)
    return {
        "requests": len(statuses),
        "ok": ok,
        "errors": len(statuses) - ok,
        "failures": failures,
        "seconds": wall,
        "per_second": ok / wall,
        "mean_ms": sum(samples) / len(samples) * 1000,
    }


def _open_loop(conns: list[Connection], requests: list, rate: float) -> dict:
    """Request k is due at start + k / rate; its latency counts from then."""
    count = len(requests)
    lock = threading.Lock()
    cursor = [0]
    latencies: list[float | None] = [None] * count
    statuses: list[int] = [0] * count
    late_starts = [0]
    start = threading.Barrier(len(conns) + 1)
    origin = [0.0]

    def sender(conn: Connection) -> None:
        start.wait(timeout=60)
        while True:
            with lock:
                k = cursor[0]
                cursor[0] += 1
            if k >= count:
                return
            due = origin[0] + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.001:
                with lock:
                    late_starts[0] += 1
            path, body, headers = requests[k]
            status, _ = conn.post(path, body, headers)
            latencies[k] = time.perf_counter() - due
            statuses[k] = status

    threads, errors = _run_threads(sender, conns, start)
    origin[0] = time.perf_counter() + 0.05
    start.wait(timeout=60)
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - origin[0]
    if errors:
        raise RuntimeError(f"a load sender failed: {errors[0]!r}") from errors[0]
    ok = sum(1 for s in statuses if 200 <= s < 300)
    return {
        "latencies": [x for x in latencies if x is not None],
        "requests": count,
        "ok": ok,
        "errors": count - ok,
        "seconds": wall,
        "late_starts": late_starts[0],
    }


def _latency_stats(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    return {
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p90_ms": round(percentile(ms, 0.90), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _peak(server: Server, requests: Requests, *, count: int, clients: int, log) -> dict:
    port = server.port
    per_round = max(1, count // ROUNDS)
    conns = _connections(port, clients)
    for kind in KINDS:  # warm every server thread and connection
        _closed_loop(conns, requests.make(kind, WARMUP))
    for conn in conns:
        conn.close()
    totals = {
        kind: {
            "ok": 0,
            "errors": 0,
            "seconds": 0.0,
            "rounds_per_second": [],
            "server_cpu": 0.0,
            "client_cpu": 0.0,
        }
        for kind in KINDS
    }
    failures: list[str] = []
    mean_ms = {kind: [] for kind in KINDS}
    reconnects = 0
    for round_index in range(ROUNDS):
        order = KINDS if round_index % 2 == 0 else KINDS[::-1]
        conns = _connections(port, clients)
        for kind in order:
            batch = requests.make(kind, per_round)
            cpu = server.cpu_seconds(), _client_cpu()
            run = _closed_loop(conns, batch)
            total = totals[kind]
            total["server_cpu"] += server.cpu_seconds() - cpu[0]
            total["client_cpu"] += _client_cpu() - cpu[1]
            total["ok"] += run["ok"]
            total["errors"] += run["errors"]
            total["seconds"] += run["seconds"]
            total["rounds_per_second"].append(round(run["per_second"], 1))
            mean_ms[kind].append(run["mean_ms"])
            failures.extend(f"{kind}: {f}" for f in run["failures"])
            log(
                f"    peak round {round_index + 1}/{ROUNDS}, {kind}: {run['per_second']:.0f}/s "
                f"({run['ok']} ok, {run['errors']} errors), load {_load()[0]}"
            )
        reconnects += sum(conn.reconnects for conn in conns)
        for conn in conns:
            conn.close()
    result = {
        "clients": clients,
        "requests_each": per_round * ROUNDS,
        "rounds": ROUNDS,
        # Each round's two kinds ran back to back on the same connections: their ratio
        # is the least disturbed by a drift in the machine's speed.
        "round_ratios": [
            round(i / b, 3)
            for i, b in zip(
                totals["intake"]["rounds_per_second"],
                totals["bare"]["rounds_per_second"],
                strict=True,
            )
        ],
    }
    for kind, total in totals.items():
        result[kind] = {
            "ok": total["ok"],
            "errors": total["errors"],
            "seconds": round(total["seconds"], 2),
            "per_second": round(total["ok"] / total["seconds"], 1),
            "rounds_per_second": total["rounds_per_second"],
            "mean_latency_ms": round(sum(mean_ms[kind]) / len(mean_ms[kind]), 2),
            # CPU per request: the least noise-sensitive measure of what each kind costs.
            "server_cpu_ms_each": round(total["server_cpu"] / total["ok"] * 1000, 2),
            "client_cpu_ms_each": round(total["client_cpu"] / total["ok"] * 1000, 2),
        }
    result["failures"] = failures[:6]
    result["reconnects"] = reconnects
    return result


def _latency(port: int, requests: Requests, *, rates: dict, seconds: float, senders: int, log):
    segment = seconds / SEGMENTS
    conns = _connections(port, senders)
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    stats = {kind: {"ok": 0, "errors": 0, "seconds": 0.0, "late_starts": 0} for kind in KINDS}
    segment_p50 = {kind: [] for kind in KINDS}
    segment_p99 = {kind: [] for kind in KINDS}
    for index in range(SEGMENTS):
        order = KINDS if index % 2 == 0 else KINDS[::-1]
        for kind in order:
            batch = requests.make(kind, max(1, round(rates[kind] * segment)))
            run = _open_loop(conns, batch, rates[kind])
            samples[kind].extend(run["latencies"])
            for field in ("ok", "errors", "seconds", "late_starts"):
                stats[kind][field] += run[field]
            p50 = percentile(run["latencies"], 0.50) * 1000
            p99 = percentile(run["latencies"], 0.99) * 1000
            segment_p50[kind].append(round(p50, 1))
            segment_p99[kind].append(round(p99, 1))
            log(
                f"    latency segment {index + 1}/{SEGMENTS}, {kind} at {rates[kind]:.0f}/s: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, load {_load()[0]}"
            )
    reconnects = sum(conn.reconnects for conn in conns)
    for conn in conns:
        conn.close()
    result = {"senders": senders, "segments": SEGMENTS, "reconnects": reconnects}
    for kind in KINDS:
        s = stats[kind]
        result[kind] = {
            "rate_per_second": round(rates[kind], 1),
            # Counting the wait for each segment's last answers.
            "completed_per_second": round(s["ok"] / s["seconds"], 1),
            "seconds": round(s["seconds"], 1),
            "requests": len(samples[kind]),
            "ok": s["ok"],
            "errors": s["errors"],
            "late_starts": s["late_starts"],
            "segment_p50_ms": segment_p50[kind],
            "segment_p99_ms": segment_p99[kind],
            "segment_tail_ratios": [
                round(p99 / p50, 2)
                for p50, p99 in zip(segment_p50[kind], segment_p99[kind], strict=True)
            ],
            **_latency_stats(samples[kind]),
        }
    return result


# --- The benchmark ----------------------------------------------------------------------


def intake_run(
    *,
    count: int = 2000,
    clients: int = 8,
    seconds: float = 40.0,
    profile: bool = False,
    seed: int = 42,
    log=print,
) -> dict:
    from bench.breakers import breakers_restore, breakers_snapshot

    _cleanup()  # leftovers of an interrupted run
    before = breakers_snapshot()
    try:
        fixture = _fixture()
        return _measure(fixture, count, clients, seconds, profile, seed, log)
    finally:
        deleted = _cleanup()
        log(f"    cleaned up: {', '.join(f'{n} {k}' for k, n in deleted.items())}")
        breakers_restore(before)
        with connection.cursor() as cursor:
            for table in ("orders_order", "orders_orderline", "orders_stagevisit"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")


def _measure(fixture: Fixture, count, clients, seconds, profile, seed, log) -> dict:
    requests = Requests(fixture, seed)
    result: dict = {"load_average": {"start": _load()}}
    log(f"    in-process: {IN_PROCESS} requests of each kind{' (profiled)' if profile else ''}")
    result["in_process"] = _in_process(requests, IN_PROCESS, profile)
    if profile:
        log(result["in_process"]["profile"]["cumulative"])
        log(result["in_process"]["profile"]["tottime"])
    connections.close_all()  # the server's processes use their own
    server = Server()
    try:
        server.wait_ready()
        result["server"] = (
            f"gunicorn gthread {SERVER_WORKERS} workers x {SERVER_THREADS} threads, "
            f"throttle {THROTTLE_RATE}"
        )
        log(f"    gunicorn on 127.0.0.1:{server.port}; peak: {clients} clients, {count:,} each")
        result["peak"] = _peak(server, requests, count=count, clients=clients, log=log)
        result["load_average"]["after_peak"] = _load()
        rates = {kind: result["peak"][kind]["per_second"] * LOAD_SHARE for kind in KINDS}
        log(f"    latency: open loop at {LOAD_SHARE:.0%} of each peak, {seconds:.0f} s each")
        result["latency"] = _latency(
            server.port,
            requests,
            rates=rates,
            seconds=seconds,
            senders=clients * SENDERS_PER_CLIENT,
            log=log,
        )
        result["load_average"]["after_latency"] = _load()
    except BaseException:
        log(server.tail())
        raise
    finally:
        server.stop()
    peak = result["peak"]
    result["intake_per_second"] = peak["intake"]["per_second"]
    result["bare_per_second"] = peak["bare"]["per_second"]
    result["ratio"] = round(result["intake_per_second"] / result["bare_per_second"], 3)
    latency = result["latency"]["intake"]
    # The goal's figure: p99 / p50 within each segment, the median over the segments.
    # Pooling all segments would measure the machine as much as intake: on a shared
    # machine one slow stretch (both kinds alike) moves the pooled p99 of the whole run.
    # The pooled figure is kept beside it.
    result["tail_ratio"] = round(statistics.median(latency["segment_tail_ratios"]), 2)
    result["tail_ratio_pooled"] = round(latency["p99_ms"] / latency["p50_ms"], 2)
    result["errors"] = (
        peak["intake"]["errors"]
        + peak["bare"]["errors"]
        + result["latency"]["intake"]["errors"]
        + result["latency"]["bare"]["errors"]
    )
    return result
