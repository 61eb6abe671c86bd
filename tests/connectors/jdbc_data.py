"""A deterministic table with every type the JDBC tests move, and per-column checksums of it.

Checksums are taken over a canonical text form of each value, so a column compares equal
whether it sits in PostgreSQL (numeric, timestamptz, boolean) or SQLite (REAL, ISO text, 0/1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

UTC = dt.timezone.utc
COLUMNS = ("id", "i", "n", "s", "v", "ts", "tz", "d", "b")
KINDS = {"id": "int", "i": "int", "n": "num", "s": "str", "v": "str", "ts": "ts", "tz": "tz", "d": "date", "b": "bool"}

PG_DDL = """CREATE TABLE {name} (id bigint PRIMARY KEY, i integer, n numeric(12,2), s text,
    v varchar(20), ts timestamp, tz timestamptz, d date, b boolean)"""
SQLITE_DDL = """CREATE TABLE {name} (id INTEGER PRIMARY KEY, i INT, n NUMERIC(12,2), s TEXT,
    v VARCHAR(20), ts TIMESTAMP, tz TIMESTAMPTZ, d DATE, b BOOLEAN)"""
TEXTS = ["plain", "", "quote ' and \" both", "comma, tab\tand\nnewline", "ünïcødé ✓ 中文", "back\\slash"]


def rows(n: int = 2000) -> list[tuple]:
    """``n`` rows; every nullable column is NULL on some rows."""
    base = dt.datetime(2021, 3, 4, 5, 6, 7, 123456)
    out = []
    for k in range(1, n + 1):
        out.append((
            k,
            None if k % 7 == 0 else (k * 7919) % 100000 - 50000,
            None if k % 11 == 0 else Decimal(k * 12345 % 99999999) / 100 * (-1 if k % 4 == 0 else 1),
            None if k % 13 == 0 else f"{TEXTS[k % len(TEXTS)]}#{k}",
            None if k % 5 == 0 else f"v{k}"[:20],
            None if k % 17 == 0 else base + dt.timedelta(seconds=k * 3607, microseconds=k),
            None if k % 19 == 0 else (base + dt.timedelta(days=k, microseconds=k * 3)).replace(tzinfo=UTC),
            None if k % 23 == 0 else dt.date(2000, 1, 1) + dt.timedelta(days=k * 3),
            None if k % 3 == 0 else k % 2 == 0,
        ))
    return out


def fill_pg(dsn: str, table: str, data: list[tuple]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PG_DDL.format(name=table))
        with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)


def fill_sqlite(path: Path, table: str, data: list[tuple]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(SQLITE_DDL.format(name=table))
    conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)", [_sqlite_row(r) for r in data])
    conn.commit()
    conn.close()


def _sqlite_row(r: tuple) -> tuple:
    k, i, n, s, v, ts, tz, d, b = r
    return (k, i, None if n is None else str(n), s, v, None if ts is None else ts.isoformat(" "),
            None if tz is None else tz.isoformat(), None if d is None else d.isoformat(),
            None if b is None else int(b))


def canon(kind: str, v: Any) -> str:
    if v is None:
        return "\\N"
    if kind == "int":
        return str(int(v))
    if kind == "num":
        return str(Decimal(str(v)).quantize(Decimal("0.01")))
    if kind == "bool":
        return "true" if v in (True, 1, "1", "true", "t") else "false"
    if kind in ("ts", "tz"):
        v = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
        if kind == "tz":
            v = (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC)
        return v.isoformat(timespec="microseconds")
    if kind == "date":
        return (v if isinstance(v, dt.date) else dt.date.fromisoformat(v)).isoformat()
    return str(v)


def checksums(data: list[tuple], columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """Row count and an md5 per column of rows already ordered by key."""
    out: dict[str, Any] = {"count": len(data)}
    for j, col in enumerate(columns):
        out[col] = hashlib.md5("\x1f".join(canon(KINDS[col], r[j]) for r in data).encode()).hexdigest()
    return out


def pg_rows(dsn: str, table: str, columns: tuple[str, ...] = COLUMNS, order: str = "id") -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall()


def sqlite_rows(path: Path, table: str, columns: tuple[str, ...] = COLUMNS, order: str = "id") -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()


def pg_text_md5(dsn: str, table: str, columns: tuple[str, ...] = COLUMNS) -> dict[str, str]:
    """Server-side md5 of each column's own text output, ordered by id: exact, byte for byte."""
    aggs = ", ".join(f"md5(string_agg(coalesce({c}::text, '\\N'), ',' ORDER BY id))" for c in columns)
    with psycopg.connect(dsn) as conn:
        return dict(zip(columns, conn.execute(f"SELECT {aggs} FROM {table}").fetchone()))


class PgDatabase:
    """A fresh database on the test PostgreSQL holding ``src`` (``rows``), its link, and a file root."""

    def __init__(self, pg, tmp: Path, data: list[tuple]) -> None:
        from opencdm.connectors.base import ConnectorContext

        self.db = pg.create_database()
        self.dsn, self.link = pg.dsn(self.db), pg.link_inputs(self.db)
        self.ctx = ConnectorContext(file_root=str(tmp), allowed_dirs=(str(tmp),))
        fill_pg(self.dsn, "src", data)

    def sql(self, *statements: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for s in statements:
                conn.execute(s)

    def one(self, sql: str, params=None):
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchone()[0]
