"""Test tables and the checks that a migrated table is whole: row count and per-column checksums."""

from __future__ import annotations

import psycopg

MIXED_DDL = """CREATE TABLE {name} (
    id bigint PRIMARY KEY, qty integer, price numeric(12,2), note text, code varchar(40),
    created timestamp, seen timestamptz, day date, flag boolean)"""

MIXED_FILL = """INSERT INTO {name}
    SELECT g, CASE WHEN g % 20 = 0 THEN NULL ELSE (g * 7) % 1000 END,
           CASE WHEN g % 21 = 0 THEN NULL ELSE round((g * 13 % 100000) / 100.0, 2) END,
           CASE WHEN g % 22 = 0 THEN NULL ELSE 'note ' || g || ' ' || repeat('x', (g % 40)) || ' ü€😀' END,
           'c' || (g % 97),
           CASE WHEN g % 23 = 0 THEN NULL ELSE timestamp '2020-01-01 00:00:00' + g * interval '1 minute 1.5 second' END,
           timestamptz '2021-06-01 12:00:00+00' + g * interval '17 second',
           CASE WHEN g % 24 = 0 THEN NULL ELSE date '1999-12-31' + (g % 9000) END,
           CASE WHEN g % 25 = 0 THEN NULL ELSE g % 2 = 0 END
    FROM generate_series(1, {rows}) g"""

COLUMNS = ["id", "qty", "price", "note", "code", "created", "seen", "day", "flag"]


def make_mixed_table(dsn: str, name: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(MIXED_DDL.format(name=name))
        conn.execute(MIXED_FILL.format(name=name, rows=rows))


def make_empty_like(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(MIXED_DDL.format(name=name))


def checksums(dsn: str, table: str, columns: list[str] = COLUMNS, key: str = "id") -> dict[str, object]:
    """``{"count": n, col: md5 of the column's text values in key order, ...}``."""
    parts = ", ".join(f"md5(string_agg(coalesce({c}::text, '<null>'), ',' ORDER BY {key}))" for c in columns)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*), {parts} FROM {table}").fetchone()
    return {"count": row[0], **dict(zip(columns, row[1:]))}


def snapshot(dsn: str, table: str) -> str:
    """One md5 over the whole table in key order: equal snapshots mean an untouched table."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                            f"FROM {table} t").fetchone()[0]
