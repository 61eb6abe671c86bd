"""Type fidelity of ``generic-jdbc-connector`` between PostgreSQL, MariaDB and SQLite (docs/types.md).

Every source/target pair moves one table holding every type with its edge values, through the
connector SDK in process (extractor.schema/partitions/extract, loader.prepare/load/commit), into
a table the loader creates. The target is read back with the database's own driver and every
value is compared semantically for its type (a decimal by value, a timestamp with time zone as
an instant, JSON as parsed JSON): any changed value fails the test. Values a target cannot hold
(NaN in MariaDB, NUL in PostgreSQL text, MariaDB zero dates, ...) have tests of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import struct
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import psycopg.types.string
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext, WholeSource
from opencdm.errors import ExtractFailed, LoadFailed

JDBC = get("generic-jdbc-connector")
UTC = dt.timezone.utc
KINDS = ("pg", "my", "sqlite")
PAIRS = [(s, d) for s in KINDS for d in KINDS]

#: A string with a character of every Unicode plane that has characters (0, 1, 2, 3, 14, 15, 16).
PLANES = "A é 中 \U0001F600 \U00020000 \U00030000 \U000E0041 \U000F0000 \U0010FFFD"
UUIDS = [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1),
         uuid.UUID("00000000-0000-0000-0000-000000000001")]


@dataclass(frozen=True)
class Col:
    """One column of the fidelity table: its type in each dialect (None: that dialect has no such type)."""

    name: str
    kind: str
    pg: str | None
    my: str | None
    sqlite: str | None
    values: tuple

    def ddl(self, kind: str) -> str | None:
        return getattr(self, kind)


def ts(*a: int) -> dt.datetime:
    return dt.datetime(*a)


COLS = [
    Col("i64", "int", "bigint", "bigint", "INTEGER", (-2**63, 2**63 - 1, 0, -1, None)),
    Col("i32", "int", "integer", "int", "INT", (-2**31, 2**31 - 1, 0, 7, None)),
    Col("i16", "int", "smallint", "smallint", "SMALLINT", (-32768, 32767, 0, 1, None)),
    Col("u64", "int", None, "bigint unsigned", None, (0, 2**64 - 1, 2**63, 1, None)),
    Col("u32", "int", None, "int unsigned", None, (0, 2**32 - 1, 2**31, 1, None)),
    Col("n28", "dec", "numeric(28,10)", "decimal(28,10)", "NUMERIC(28,10)",
        (Decimal("123456789012345678.0123456789"), Decimal("-99999999999999999.9999999999"),
         Decimal("0.0000000001"), Decimal(0), None)),
    Col("n38", "dec", "numeric(38,10)", "decimal(38,10)", "NUMERIC(38,10)",
        (Decimal("1234567890123456789012345678.0123456789"), Decimal("-0.0000000001"), Decimal(0),
         Decimal("-999999999999999999999999999.9999999999"), None)),
    Col("n38s", "dec", "numeric(38,38)", "decimal(38,38)", "NUMERIC(38,38)",
        (Decimal("0.12345678901234567890123456789012345678"), Decimal("-0.50000000000000000000000000000000000001"),
         Decimal(0), Decimal("1E-38"), None)),
    Col("n65", "dec", "numeric(65,30)", "decimal(65,30)", "NUMERIC(65,30)",
        (Decimal("12345678901234567890123456789012345.123456789012345678901234567890"), Decimal("-1.5"),
         Decimal(0), Decimal("1E-30"), None)),
    Col("f64", "f64", "double precision", "double", "REAL",
        (1.7976931348623157e308, -2.2250738585072014e-308, 0.1, -1.5, None)),
    Col("f32", "f32", "real", "float", "FLOAT", (3.4028234663852886e38, 1.5, 0.1, -1e-30, None)),
    Col("b", "bool", "boolean", "tinyint(1)", "BOOLEAN", (True, False, True, False, None)),
    Col("d", "date", "date", "date", "DATE",
        (dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1), dt.date(2000, 2, 29), None)),
    Col("ts", "ts", "timestamp(6)", "datetime(6)", "TIMESTAMP",
        (ts(1, 1, 1), ts(9999, 12, 31, 23, 59, 59, 999999), ts(1970, 1, 1), ts(2021, 3, 4, 5, 6, 7, 1), None)),
    Col("tz", "tz", "timestamptz", "timestamp(6) NULL", "TIMESTAMPTZ",
        (ts(1970, 1, 1, 0, 0, 1).replace(tzinfo=UTC), ts(2038, 1, 19, 3, 14, 7, 999999).replace(tzinfo=UTC),
         ts(2000, 1, 1, 12, 0, 0, 500000).replace(tzinfo=UTC), ts(2021, 6, 1, 23, 59, 59, 1).replace(tzinfo=UTC),
         None)),
    Col("t", "time", "time(6)", "time(6)", "TIME",
        (dt.time(0), dt.time(23, 59, 59, 999999), dt.time(12, 34, 56, 500000), dt.time(0, 0, 0, 1), None)),
    Col("s", "text", "text", "longtext", "TEXT",
        (PLANES, "", "quote ' \" back\\slash \\N NULL \\0", "tab\tnl\ncr\r\x1a end", None)),
    Col("v", "text", "varchar(20)", "varchar(20)", "VARCHAR(20)",
        ("\U0001F600" * 3, "x" * 20, "é", " lead and trail ", None)),
    Col("c", "char", "char(3)", "char(3)", "CHAR(3)", ("ab", "abc", "\U0001F600", "", None)),
    Col("by", "bytes", "bytea", "longblob", "BLOB", (b"", b"\x00\xff\x00", bytes(range(256)), b"\\N\t\n'", None)),
    Col("js", "json", "jsonb", "json", "JSON",
        ('{"a": [1, 2.5, "x"], "b": null}', "[]", '"str \U0001F600"', '{"n": {"deep": [true, false]}}', None)),
    Col("u", "uuid", "uuid", "uuid", "UUID", (*UUIDS, None)),
    Col("e", "text", "mood", "enum('sad','happy')", "TEXT", ("sad", "happy", "happy", "sad", None)),
    Col("a", "array", "integer[]", None, None, ([1, None, 3], [], [-2**31], [2**31 - 1, 0], None)),
]
ROWS = len(COLS[0].values)


# --- per-type semantic comparison -------------------------------------------------------------

def _f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def _time(v: Any) -> dt.time:
    if isinstance(v, dt.timedelta):  # PyMySQL reads TIME as a duration
        return (dt.datetime.min + v).time()
    return v if isinstance(v, dt.time) else dt.time.fromisoformat(str(v))


def _utc(v: Any) -> dt.datetime:
    v = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v


def norm(kind: str, v: Any) -> Any:
    """``v`` as read from any of the three databases, in one comparable form for its kind."""
    if v is None:
        return None
    if kind == "int":
        return int(Decimal(str(v)))
    if kind == "dec":
        return Decimal(str(v))
    if kind == "f64":
        return float(v)
    if kind == "f32":
        return _f32(float(v))
    if kind == "bool":
        return str(v).lower() in ("1", "true", "t")
    if kind == "date":
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
    if kind in ("ts", "tz"):
        return _utc(v)
    if kind == "time":
        return _time(v)
    if kind == "char":  # CHAR pads (PostgreSQL) or strips (MySQL) trailing blanks
        return str(v).rstrip(" ")
    if kind == "bytes":
        return bytes(v)
    if kind == "json":
        return json.loads(v) if isinstance(v, (str, bytes)) else v
    if kind == "uuid":
        return uuid.UUID(str(v))
    if kind == "array":
        return v if isinstance(v, list) else json.loads(v)
    return v


# --- the three databases ---------------------------------------------------------------------

@dataclass
class Dbs:
    pg: Any
    pg_db: str
    my: Any
    my_db: str
    root: Path
    ctx: ConnectorContext

    def link(self, kind: str, **extra: str) -> dict:
        if kind == "pg":
            return {**self.pg.link_inputs(self.pg_db), **extra}
        if kind == "my":
            return {**self.my.link_inputs(self.my_db), **extra}
        return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(self.root / "types.db"), **extra}

    def schema(self, kind: str) -> str | None:
        return {"pg": "public", "my": self.my_db, "sqlite": None}[kind]

    def sql(self, kind: str, *statements: str, params: list | None = None) -> None:
        if kind == "pg":
            with psycopg.connect(self.pg.dsn(self.pg_db), autocommit=True) as conn:
                for s in statements:
                    conn.execute(s, params)
        elif kind == "my":
            conn = self.my.connect(self.my_db)
            try:
                with conn.cursor() as cur:
                    for s in statements:
                        cur.execute(s, params)
            finally:
                conn.close()
        else:
            conn = sqlite3.connect(self.root / "types.db")
            for s in statements:
                conn.execute(s, params or ())
            conn.commit()
            conn.close()

    def rows(self, kind: str, table: str, cols: list[str]) -> list[tuple]:
        q = "`" if kind == "my" else '"'
        exprs = [q + c + q for c in cols]
        if kind == "my":  # the text protocol prints FLOAT with 6 digits: read it as the double it widens to
            floats = {n for n, t in self.types(kind, table).items() if t.startswith("float")}
            exprs = [f"({e} + 0e0)" if c in floats else e for c, e in zip(cols, exprs)]
        select = f"SELECT {', '.join(exprs)} FROM {q}{table}{q} ORDER BY {q}id{q}"
        if kind == "pg":
            with psycopg.connect(self.pg.dsn(self.pg_db)) as conn:
                for name in ("json", "jsonb"):  # the JSON text, as the other databases give it
                    conn.adapters.register_loader(name, psycopg.types.string.TextLoader)
                return conn.execute(select).fetchall()
        if kind == "my":
            conn = self.my.connect(self.my_db)
            try:
                with conn.cursor() as cur:
                    cur.execute(select)
                    return list(cur.fetchall())
            finally:
                conn.close()
        conn = sqlite3.connect(self.root / "types.db")
        try:
            return conn.execute(select).fetchall()
        finally:
            conn.close()

    def types(self, kind: str, table: str) -> dict[str, str]:
        """Declared type of each column of ``table``, as the database spells it."""
        if kind == "pg":
            with psycopg.connect(self.pg.dsn(self.pg_db)) as conn:
                return dict(conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                         "WHERE attrelid = %s::regclass AND attnum > 0", [f'"{table}"']).fetchall())
        if kind == "my":
            conn = self.my.connect(self.my_db)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                "%s AND TABLE_NAME = %s", [self.my_db, table])
                    return dict(cur.fetchall())
            finally:
                conn.close()
        conn = sqlite3.connect(self.root / "types.db")
        try:
            return {r[1]: r[2] for r in conn.execute(f'PRAGMA table_info("{table}")')}
        finally:
            conn.close()


def _pg_value(c: Col, v: Any) -> Any:
    if v is None:
        return None
    if c.kind == "json":
        return psycopg.types.json.Jsonb(json.loads(v))
    return v


def _my_value(c: Col, v: Any) -> Any:
    return str(v) if isinstance(v, uuid.UUID) else v


def _sqlite_value(c: Col, v: Any) -> Any:
    """SQLite has no types of its own: the conventions opencdm reads (ISO text, 0/1, exact decimal text)."""
    if v is None or isinstance(v, (int, float, str, bytes)):
        return int(v) if isinstance(v, bool) else v
    if isinstance(v, dt.datetime):
        return v.isoformat(" ")
    if isinstance(v, (dt.date, dt.time, Decimal, uuid.UUID)):
        return str(v) if not isinstance(v, (dt.date, dt.time)) else v.isoformat()
    return json.dumps(v)


def fill(dbs: Dbs, kind: str, table: str, cols: list[Col], rows: list[tuple]) -> None:
    """Create ``table`` with an ``id`` primary key and ``cols`` in ``kind``, and insert ``rows`` (values only)."""
    q = "`" if kind == "my" else '"'
    decl = [f"{q}id{q} {'INTEGER' if kind == 'sqlite' else 'bigint'} PRIMARY KEY"]
    decl += [f"{q}{c.name}{q} {c.ddl(kind)}" for c in cols]
    opts = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if kind == "my" else ""
    dbs.sql(kind, f"CREATE TABLE {q}{table}{q} ({', '.join(decl)}){opts}")
    mark = "?" if kind == "sqlite" else "%s"
    casts = [f"{mark}::{c.pg}" if kind == "pg" else mark for c in cols]
    insert = f"INSERT INTO {q}{table}{q} VALUES ({mark}, {', '.join(casts)})"
    convert = {"pg": _pg_value, "my": _my_value, "sqlite": _sqlite_value}[kind]
    for i, row in enumerate(rows, 1):
        dbs.sql(kind, insert, params=[i, *(convert(c, v) for c, v in zip(cols, row))])


def source_cols(kind: str) -> list[Col]:
    return [c for c in COLS if c.ddl(kind)]


@pytest.fixture(scope="module")
def dbs(pg, mariadb, tmp_path_factory) -> Dbs:
    root = tmp_path_factory.mktemp("types")
    d = Dbs(pg, pg.create_database(), mariadb, mariadb.create_database(), root,
            ConnectorContext(file_root=str(root), allowed_dirs=(str(root),)))
    d.sql("pg", "CREATE TYPE mood AS ENUM ('sad', 'happy')")
    for kind in KINDS:
        cols = source_cols(kind)
        fill(d, kind, "fidelity", cols, [tuple(c.values[i] for c in cols) for i in range(ROWS)])
    return d


def transfer(dbs: Dbs, src: str, dst: str, table: str, src_table: str = "fidelity", link_extra: dict | None = None,
             prep: str = "CREATE_WHEN_NOT_EXIST", parts: int = 2) -> int:
    fjob = {"fromJobConfig.tableName": src_table}
    if dbs.schema(src):
        fjob["fromJobConfig.schemaName"] = dbs.schema(src)
    tjob = {"toJobConfig.tableName": table, "toJobConfig.tablePreparation": prep}
    if dbs.schema(dst):
        tjob["toJobConfig.schemaName"] = dbs.schema(dst)
    extractor = JDBC.extractor(dbs.link(src), fjob, dbs.ctx)
    schema = extractor.schema()
    loader = JDBC.loader(dbs.link(dst, **(link_extra or {})), tjob, dbs.ctx, uuid.uuid4().hex)
    loader.prepare(schema)
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(parts)]
    loader.commit(results)
    return sum(r.rows for r in results)


def _table(src: str, dst: str) -> str:
    return f"f_{src}_{dst}_{uuid.uuid4().hex[:6]}"


def check(dbs: Dbs, dst: str, table: str, cols: list[Col], expected: list[tuple]) -> None:
    got = dbs.rows(dst, table, ["id", *(c.name for c in cols)])
    assert [r[0] for r in got] == list(range(1, len(expected) + 1))
    for c_i, c in enumerate(cols, 1):
        want = [norm(c.kind, row[c_i - 1]) for row in expected]
        have = [norm(c.kind, r[c_i]) for r in got]
        assert have == want, f"column {c.name} ({c.kind}) changed"


def stored(dbs: Dbs, kind: str, table: str = "fidelity") -> list[tuple]:
    """The source rows as the source database holds them (values only, in ``source_cols`` order).

    PostgreSQL and MariaDB hold exactly what was inserted (asserted). SQLite's NUMERIC affinity
    turns decimal text into REAL whenever 15 significant digits survive: the source then holds
    the rounded value, and that is what must arrive.
    """
    cols = source_cols(kind)
    rows = [r[1:] for r in dbs.rows(kind, table, ["id", *(c.name for c in cols)])]
    if kind != "sqlite":
        for j, c in enumerate(cols):
            assert [norm(c.kind, r[j]) for r in rows] == [norm(c.kind, v) for v in c.values], c.name
    return rows


@pytest.mark.parametrize("src,dst", PAIRS)
def test_every_value_survives(dbs, src, dst):
    table = _table(src, dst)
    assert transfer(dbs, src, dst, table) == ROWS
    check(dbs, dst, table, source_cols(src), stored(dbs, src))


def test_mariadb_insert_statements_keep_every_value(dbs):
    """``usingNative=false``: multi-row INSERTs instead of LOAD DATA, same values."""
    table = _table("pg", "my")
    cols = source_cols("pg")
    transfer(dbs, "pg", "my", table, link_extra={"linkConfig.usingNative": "false", "linkConfig.commitSize": "2"})
    check(dbs, "my", table, cols, [tuple(c.values[i] for c in cols) for i in range(ROWS)])


EXPECTED_TYPES = {  # (src, dst): {column: type the loader creates}; the full matrix is in docs/types.md
    ("my", "pg"): {"u64": "numeric(20,0)", "u32": "bigint", "n38": "numeric(38,10)", "n65": "numeric(65,30)",
                   "b": "boolean", "tz": "timestamp with time zone", "js": "json", "u": "uuid",
                   "t": "time without time zone"},
    ("pg", "my"): {"n38": "decimal(38,10)", "n65": "decimal(65,30)", "b": "tinyint(1)", "tz": "datetime(6)",
                   "u": "uuid", "js": "longtext", "by": "longblob", "v": "varchar(20)", "a": "longtext",
                   "e": "longtext"},
    ("my", "my"): {"u64": "bigint(20) unsigned", "e": "enum('sad','happy')", "tz": "timestamp(6)", "u": "uuid"},
    ("pg", "pg"): {"n65": "numeric(65,30)", "a": "integer[]", "e": "mood", "js": "jsonb"},
}


@pytest.mark.parametrize("src,dst", list(EXPECTED_TYPES))
def test_created_types(dbs, src, dst):
    table = _table(src, dst)
    transfer(dbs, src, dst, table)
    got = dbs.types(dst, table)
    assert {k: got[k] for k in EXPECTED_TYPES[(src, dst)]} == EXPECTED_TYPES[(src, dst)]


# --- values a target cannot hold, and source values with no target equivalent ----------------

NONFINITE = [Col("x", "f64", "double precision", "double", "REAL", (math.inf, -math.inf, math.nan, 1.0, None))]


def _nonfinite(dbs: Dbs, kind: str) -> str:
    """A table of ±infinity and NaN in ``kind`` (SQLite itself stores NaN as NULL)."""
    name = f"nonfinite_{kind}"
    if name not in _tables(dbs, kind):
        fill(dbs, kind, name, NONFINITE, [(v,) for v in NONFINITE[0].values])
    return name


def _tables(dbs: Dbs, kind: str) -> set[str]:
    if kind == "pg":
        with psycopg.connect(dbs.pg.dsn(dbs.pg_db)) as conn:
            return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    conn = sqlite3.connect(dbs.root / "types.db")
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def _floats(dbs: Dbs, kind: str, table: str) -> list[str]:
    return [repr(None if r[1] is None else float(r[1])) for r in dbs.rows(kind, table, ["id", "x"])]


@pytest.mark.parametrize("src,dst", [("pg", "pg"), ("sqlite", "pg"), ("sqlite", "sqlite")])
def test_nan_and_infinity_survive_where_the_target_has_them(dbs, src, dst):
    name = _nonfinite(dbs, src)
    table = _table(src, dst)
    transfer(dbs, src, dst, table, src_table=name)
    assert _floats(dbs, dst, table) == _floats(dbs, src, name)
    assert _floats(dbs, dst, table)[:2] == ["inf", "-inf"]


@pytest.mark.parametrize("src,dst", [("pg", "my"), ("sqlite", "my"), ("pg", "sqlite")])
def test_non_finite_floats_fail_where_the_target_lacks_them(dbs, src, dst):
    what = "NaN or infinity" if dst == "my" else "NaN"
    with pytest.raises(LoadFailed, match=rf"column \[x\] holds {what}") as err:
        transfer(dbs, src, dst, _table(src, dst), src_table=_nonfinite(dbs, src))
    assert err.value.code == "Cdm.0234"


@pytest.mark.parametrize("src", ["my", "sqlite"])
def test_nul_in_text_fails_for_postgresql_naming_the_column(dbs, src):
    name = f"nul_{src}"
    cols = [Col("s", "text", None, "longtext", "TEXT", ("a\x00b", "ok"))]
    fill(dbs, src, name, cols, [("ok",), ("a\x00b",)])
    with pytest.raises(LoadFailed, match=r"column \[s\].*NUL") as err:
        transfer(dbs, src, "pg", _table(src, "pg"), src_table=name)
    assert err.value.code == "Cdm.0234"
    # MariaDB and SQLite keep it
    table = _table(src, "my")
    transfer(dbs, src, "my", table, src_table=name)
    assert [r[1] for r in dbs.rows("my", table, ["id", "s"])] == ["ok", "a\x00b"]


def test_mariadb_zero_dates_become_null(dbs):
    dbs.sql("my", "SET SESSION sql_mode = ''",
            "CREATE TABLE zero (id int PRIMARY KEY, d date, dt datetime(6), ts timestamp(6) NULL, ok date)",
            "INSERT INTO zero VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2020-01-01'),"
            " (2, '2021-00-05', '2021-02-00 10:00:00', NULL, '2020-01-02')")
    for dst in KINDS:
        table = _table("my", dst)
        transfer(dbs, "my", dst, table, src_table="zero")
        got = [tuple(norm("date", v) if i == 4 else v for i, v in enumerate(r)) for r in
               dbs.rows(dst, table, ["id", "d", "dt", "ts", "ok"])]
        assert got == [(1, None, None, None, dt.date(2020, 1, 1)), (2, None, None, None, dt.date(2020, 1, 2))]


def test_mariadb_time_outside_a_day_fails_naming_the_column(dbs):
    dbs.sql("my", "CREATE TABLE longtime (id int PRIMARY KEY, span time(6))",
            "INSERT INTO longtime VALUES (1, '12:00:00'), (2, '-838:59:59')")
    with pytest.raises(ExtractFailed, match=r"column \[span\] holds the TIME -838:59:59") as err:
        transfer(dbs, "my", "pg", _table("my", "pg"), src_table="longtime")
    assert err.value.code == "Cdm.0233"


def test_unsupported_type_fails_before_anything_moves(dbs):
    dbs.sql("my", "CREATE TABLE shapes (id int PRIMARY KEY, g geometry, n int)",
            "INSERT INTO shapes VALUES (1, ST_GeomFromText('POINT(1 1)'), 5)")
    fjob = {"fromJobConfig.schemaName": dbs.my_db, "fromJobConfig.tableName": "shapes"}
    with pytest.raises(ExtractFailed, match=r"Unsupported type geometry \(column \[g\]\)") as err:
        JDBC.extractor(dbs.link("my"), fjob, dbs.ctx).schema()
    assert err.value.code == "Cdm.0921"
    # the other columns can still be moved
    table = _table("my", "pg")
    fjob["fromJobConfig.columnList"] = "id&n"
    extractor = JDBC.extractor(dbs.link("my"), fjob, dbs.ctx)
    loader = JDBC.loader(dbs.link("pg"), {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table,
                                          "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"}, dbs.ctx, "spatial1")
    loader.prepare(extractor.schema())
    loader.commit([loader.load(WholeSource(0), extractor.extract(WholeSource(0)))])
    assert dbs.rows("pg", table, ["id", "n"]) == [(1, 5)]


def test_tinyint1_is_boolean_unless_told_otherwise(dbs):
    dbs.sql("my", "CREATE TABLE flags (id int PRIMARY KEY, f tinyint(1))", "INSERT INTO flags VALUES (1, 1), (2, 2)")
    fjob = {"fromJobConfig.schemaName": dbs.my_db, "fromJobConfig.tableName": "flags"}
    with pytest.raises(ExtractFailed, match=r"column \[f\] is read as a boolean but holds 2.*tinyInt1isBit"):
        list(JDBC.extractor(dbs.link("my"), fjob, dbs.ctx).extract(WholeSource(0)))
    link = dbs.link("my", **{"linkConfig.jdbcProperties": '{"tinyInt1isBit": "false"}'})
    batches = list(JDBC.extractor(link, fjob, dbs.ctx).extract(WholeSource(0)))
    assert batches[0].column("f").to_pylist() == [1, 2]
