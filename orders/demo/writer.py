"""Bulk writers for simulated orders.

`bulk_create` prepares every value of every row through the field API; for the demo's
~350,000 rows (orders, lines, visits, payments, reservations, audit events) that alone
took ~40 s on SQLite. Here each column gets one small adapter, chosen once per table,
and whole batches go to the driver: `executemany` on SQLite, COPY on PostgreSQL (which
the benchmarks also use for their million orders).

Order and line ids are assigned here (their children refer to them before they are
inserted) and the sequences moved past them afterwards; the other tables take their
ids from the database. Columns the generator does not know get their model default.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from datetime import UTC

from django.core.management.color import no_style
from django.db import connection, models
from django.db.models import Max

from backoffice.audit.models import AuditEvent
from orders.demo.catalog import Catalog
from orders.demo.rows import RowBuilder
from orders.demo.simulation import OrderDraft
from orders.models import Order, OrderLine, Payment, StageVisit, StockReservation

BATCH = 2000


class Table:
    """One model's columns, their defaults and value adapters, in insert order."""

    def __init__(
        self, model: type[models.Model], *, with_id: bool, vendor: str, copy: bool = False
    ):
        self.model = model
        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.fields = fields
        self.names = [f.attname for f in fields]
        self.columns = [f.column for f in fields]
        self.adapters = [_adapter(f, vendor, copy=copy) for f in fields]
        # Fields the generator does not know (e.g. added later by another app's
        # migration) get their model default, computed once.
        self.defaults = {
            f.attname: None
            if f.primary_key
            else (f.get_default() if f.has_default() or not f.null else None)
            for f in fields
        }
        self._getter = operator.itemgetter(*self.names)
        self._adapt = [(i, a) for i, a in enumerate(self.adapters) if a is not None]

    def values(self, row: dict) -> tuple:
        merged = {**self.defaults, **row}
        values = self._getter(merged)
        if not self._adapt:
            return values
        values = list(values)
        for index, adapt in self._adapt:
            if values[index] is not None:
                values[index] = adapt(values[index])
        return tuple(values)


def _json(value) -> str:
    return json.dumps(value) if value else "{}"


def _adapter(field: models.Field, vendor: str, *, copy: bool = False) -> Callable | None:
    """How a column's value goes to the driver (None: as it is).

    `copy`: PostgreSQL COPY in text format, where JSON travels as text.
    """
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        if vendor == "sqlite":
            # What Django stores on SQLite: naive UTC, ISO format with a space.
            return lambda v: (
                None if v is None else v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            )
        return None
    if kind == "JSONField":
        if vendor == "postgresql" and not copy:
            from psycopg.types.json import Jsonb

            return Jsonb
        return _json
    return None


class ExecutemanySink:
    """INSERT ... VALUES through the driver's executemany, in batches."""

    def __init__(self):
        self.vendor = connection.vendor
        self._tables: dict[tuple, Table] = {}

    def table(self, model, *, with_id: bool) -> Table:
        key = (model, with_id)
        if key not in self._tables:
            self._tables[key] = Table(model, with_id=with_id, vendor=self.vendor)
        return self._tables[key]

    def insert(self, model, rows: list[dict], *, with_id: bool = False) -> None:
        if not rows:
            return
        table = self.table(model, with_id=with_id)
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(model._meta.db_table),
            ", ".join(quote(c) for c in table.columns),
            ", ".join(["%s"] * len(table.columns)),
        )
        with connection.cursor() as cursor:
            for start in range(0, len(rows), BATCH):
                cursor.executemany(sql, [table.values(r) for r in rows[start : start + BATCH]])

    def finish(self, models_with_ids) -> None:
        """Move the id sequences past the ids assigned here (PostgreSQL)."""
        statements = connection.ops.sequence_reset_sql(no_style(), models_with_ids)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


class CopySink:
    """PostgreSQL: one COPY per table and batch, the fastest way in."""

    def __init__(self):
        connection.ensure_connection()
        self._tables: dict[tuple, Table] = {}
        self.rows = 0

    def insert(self, model, rows: list[dict], *, with_id: bool = False) -> None:
        if not rows:
            return
        key = (model, with_id)
        if key not in self._tables:
            self._tables[key] = Table(model, with_id=with_id, vendor="postgresql", copy=True)
        table = self._tables[key]
        columns = ", ".join(f'"{c}"' for c in table.columns)
        statement = f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN'
        values = table.values
        from psycopg.copy import QueuedLibpqWriter

        # A writer thread sends the data while this thread builds the next rows.
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
        ):
            for row in rows:
                copy.write_row(values(row))
        self.rows += len(rows)

    def finish(self, models_with_ids) -> None:
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models_with_ids):
                cursor.execute(statement)


def sink_for_connection():
    return CopySink() if connection.vendor == "postgresql" else ExecutemanySink()


class OrderWriter:
    """Writes simulated orders with all their rows through a sink."""

    def __init__(self, catalog: Catalog, sink, *, order_type_id: int, audit: bool = True):
        self.rows = RowBuilder(catalog, order_type_id=order_type_id, audit=audit)
        self.sink = sink
        self.next_order_id = (Order.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        self.next_line_id = (OrderLine.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        self.counts = dict.fromkeys(("orders", "lines", "visits", "events"), 0)

    def write(self, drafts: list[OrderDraft]) -> None:
        rows = self.rows
        orders, lines, reservations, visits, payments, events = [], [], [], [], [], []
        for d in drafts:
            order_id = self.next_order_id
            self.next_order_id += 1
            orders.append({"id": order_id, **rows.order(d)})
            line_ids = []
            for line in rows.lines(d, order_id):
                line["id"] = self.next_line_id
                line_ids.append(self.next_line_id)
                self.next_line_id += 1
                lines.append(line)
            reservations.extend(rows.reservations(d, line_ids))
            visits.extend(rows.visits(d, order_id))
            payments.extend(rows.payments(d, order_id))
            events.extend(rows.audit_events(d, order_id))
        sink = self.sink
        sink.insert(Order, orders, with_id=True)
        sink.insert(OrderLine, lines, with_id=True)
        sink.insert(StockReservation, reservations)
        sink.insert(StageVisit, visits)
        sink.insert(Payment, payments)
        sink.insert(AuditEvent, events)
        self.counts["orders"] += len(orders)
        self.counts["lines"] += len(lines)
        self.counts["visits"] += len(visits)
        self.counts["events"] += len(events)

    def finish(self) -> None:
        self.sink.finish([Order, OrderLine])
