"""The benchmarks' own PostgreSQL databases, one per data size, next to DATABASE_URL's.

They are never the application's database: `bench_backoffice_10k`, `bench_backoffice_1m`...
are created here when missing and kept between runs (a 1M-order database takes
minutes to generate).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

PREFIX = "bench_backoffice_"


def size_label(size: int) -> str:
    """10000 -> '10k', 1000000 -> '1m', 250000 -> '250k'."""
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def base_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "The benchmarks need PostgreSQL: set DATABASE_URL=postgres://user@host:port/db "
            "(`make bench` does), e.g. postgres://postgres@127.0.0.1:5432/backoffice"
        )
    return url


def url_for(database: str, url: str | None = None) -> str:
    parts = urlsplit(url or base_url())
    return urlunsplit(parts._replace(path="/" + database))


def database_for(size: int) -> str:
    return PREFIX + size_label(size)


def database_ensure(database: str) -> bool:
    """Create the database if missing. True when it was created."""
    with psycopg.connect(url_for("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return True
