"""Fill a benchmark database with N orders, streamed into PostgreSQL with COPY.

The rows come from the demo's simulation (orders.demo): the same shop, the same
600 orders a day and the same live backlog, with a history N orders deep. So the
10k and the 1M databases differ only in how much history lies behind today's work,
which is exactly what the changelist benchmark compares.

While loading, foreign-key triggers are off (`session_replication_role = replica`)
and the secondary indexes are dropped and rebuilt afterwards: the generator writes
consistent data (checked by orders.demo.checks on every small database).
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from backoffice.audit.models import AuditEvent
from orders.demo.catalog import catalog_create, staff_ensure
from orders.demo.simulation import OrderFlow
from orders.demo.story import HOURLY_SHAPE
from orders.demo.writer import BATCH, CopySink, OrderWriter
from orders.models import (
    Coupon,
    Customer,
    Order,
    OrderLine,
    Partner,
    Payment,
    Product,
    StageVisit,
    StockLevel,
    StockReservation,
    Warehouse,
)

# Bump when the generated data changes shape: databases of an older version are rebuilt.
GENERATOR_VERSION = 2
ORDERS_PER_DAY = 600
BULK_MODELS = [AuditEvent, StockReservation, Payment, StageVisit, OrderLine, Order]
MASTER_MODELS = [StockLevel, Coupon, Customer, Product, Warehouse, Partner]
DAYS_PER_TRANSACTION = 60
DRAFTS_PER_COPY = 10_000


def meta_read() -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (id int PRIMARY KEY, info jsonb NOT NULL)"
        )
        cursor.execute("SELECT info FROM bench_meta WHERE id = 1")
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else __import__("json").loads(row[0])


def meta_write(info: dict) -> None:
    import json

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_meta (id, info) VALUES (1, %s::jsonb) "
            "ON CONFLICT (id) DO UPDATE SET info = EXCLUDED.info",
            [json.dumps(info)],
        )


def data_ensure(size: int, *, seed: int = 42, regenerate: bool = False, log=print) -> dict:
    """The database holds `size` orders of the current generator version (reused or made)."""
    info = meta_read()
    if (
        not regenerate
        and info
        and info.get("size") == size
        and info.get("version") == GENERATOR_VERSION
        and Order.objects.exists()
    ):
        info["reused"] = True
        return info
    log(f"  generating {size:,} orders (seed {seed}) ...")
    info = data_generate(size, seed=seed, log=log)
    meta_write(info)
    info["reused"] = False
    return info


def _truncate() -> None:
    tables = [m._meta.db_table for m in [*BULK_MODELS, *MASTER_MODELS]]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(f'"{t}"' for t in tables))
        )


def _secondary_indexes() -> list[tuple[str, str]]:
    """(name, CREATE statement) of the non-constraint indexes of the bulk tables."""
    tables = [m._meta.db_table for m in BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [tables],
        )
        return cursor.fetchall()


def _days_for(size: int, now) -> int:
    """Days of history so that history + today so far hold about `size` orders."""
    local = timezone.localtime(now)
    elapsed = sum(HOURLY_SHAPE[: local.hour]) + HOURLY_SHAPE[local.hour] * local.minute / 60
    today = ORDERS_PER_DAY * elapsed / sum(HOURLY_SHAPE)
    return max(1, round((size - today) / ORDERS_PER_DAY))


def data_generate(size: int, *, seed: int, log=print) -> dict:
    started = time.monotonic()
    now = timezone.now()
    rng = random.Random(seed)
    _truncate()
    indexes = _secondary_indexes()
    with connection.cursor() as cursor:
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET session_replication_role = replica")
    try:
        with transaction.atomic():
            users = staff_ensure(set_passwords=True)
            catalog = catalog_create(rng, now=now, customers=max(300, size // 100), users=users)
        flow = OrderFlow(
            rng,
            catalog,
            now=now,
            days=_days_for(size, now),
            orders_per_day=ORDERS_PER_DAY,
            time_zone=settings.TIME_ZONE,
        )
        sink = CopySink()
        # No audit rows: the benchmarks read the order list and write transitions;
        # 7 audit rows per order would double the generation time for nothing.
        writer = OrderWriter(
            catalog,
            sink,
            order_type_id=ContentType.objects.get_for_model(Order).pk,
            audit=False,
        )
        batches = flow.generate()
        done = False
        last_report = time.monotonic()
        while not done:
            with transaction.atomic():
                drafts = []
                for _ in range(DAYS_PER_TRANSACTION):
                    batch = next(batches, None)
                    if batch is None:
                        done = True
                        break
                    drafts.extend(batch)
                    if len(drafts) >= DRAFTS_PER_COPY:
                        writer.write(drafts)
                        drafts = []
                writer.write(drafts)
            if time.monotonic() - last_report > 20:
                last_report = time.monotonic()
                log(
                    f"    {writer.counts['orders']:,} orders, {sink.rows:,} rows "
                    f"({time.monotonic() - started:.0f} s)"
                )
        with transaction.atomic():
            levels = []
            for key, level in catalog.stock.items():
                level.reserved = flow.reserved.get(key, 0)
                levels.append(level)
            StockLevel.objects.bulk_update(levels, ["reserved"], batch_size=BATCH)
            writer.finish()
        loaded = time.monotonic() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    log(f"    loaded {sink.rows:,} rows in {loaded:.0f} s; rebuilding {len(indexes)} indexes")
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    indexed = time.monotonic() - started
    log("    vacuum analyze")
    with connection.cursor() as cursor:
        for model in [*BULK_MODELS, *MASTER_MODELS]:
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    seconds = time.monotonic() - started
    return {
        "size": size,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "generated_at": now.isoformat(),
        "orders": writer.counts["orders"],
        "lines": writer.counts["lines"],
        "visits": writer.counts["visits"],
        "audit_events": writer.counts["events"],
        "rows": sink.rows,
        "load_seconds": round(loaded, 1),
        "index_seconds": round(indexed - loaded, 1),
        "seconds": round(seconds, 1),
    }
