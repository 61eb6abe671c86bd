"""generic-jdbc-connector FROM-side options against a real PostgreSQL and real SQLite files.

Custom SQL (``useSql``), ``*`` wildcards in schema and table names, ``boundaryQuery``,
``allowNullValueInPartitionColumn``, skewed and non-integer keys, and tables with no key. Each
test plans partitions on the server side, then reads every partition the way a worker does: a
fresh extractor built from the same inputs, fed the partition after a pickle round trip.
"""

from __future__ import annotations

import pickle
import random
import sqlite3
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext, KeyRange, WholeSource
from opencdm.connectors.partitioning import NoRows, TablePart
from opencdm.errors import ExtractFailed, InvalidInput, LinkRejected
from tests.connectors import jdbc_data as data

JDBC = get("generic-jdbc-connector")
DATA = data.rows()
KINDS = ["pg", "sqlite"]

SKEW_ROWS = 20_000


def _skewed_keys() -> list[int]:
    """95 % of the rows within 1 % of the key range [0, 100000)."""
    rng = random.Random(5)
    keys = [rng.randrange(0, 1_000) for _ in range(SKEW_ROWS * 95 // 100)]
    keys += [rng.randrange(1_000, 100_000) for _ in range(SKEW_ROWS - len(keys))]
    rng.shuffle(keys)
    return keys


@dataclass
class Env:
    pg: object
    db: str
    root: Path
    ctx: ConnectorContext

    @property
    def dsn(self) -> str:
        return self.pg.dsn(self.db)

    def link(self, kind: str) -> dict:
        if kind == "pg":
            return self.pg.link_inputs(self.db)
        return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(self.root / "src.db")}

    def sql(self, kind: str, *statements: str) -> None:
        if kind == "pg":
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                for s in statements:
                    conn.execute(s)
        else:
            conn = sqlite3.connect(self.root / "src.db")
            for s in statements:
                conn.execute(s)
            conn.commit()
            conn.close()

    def fill(self, kind: str, table: str, rows: list[tuple]) -> None:
        if kind == "pg":
            data.fill_pg(self.dsn, table, rows)
        else:
            data.fill_sqlite(self.root / "src.db", table, rows)

    def count(self, kind: str, table: str) -> int:
        if kind == "pg":
            with psycopg.connect(self.dsn) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn = sqlite3.connect(self.root / "src.db")
        try:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("source_options")
    e = Env(pg, pg.create_database(), root, ConnectorContext(file_root=str(root), allowed_dirs=(str(root),)))
    skew = _skewed_keys()
    for kind in KINDS:
        e.fill(kind, "src", DATA)
        for i in range(3):  # three same-shaped tables that split DATA between them
            e.fill(kind, f"shard_{i + 1}", DATA[i::3])
        e.fill(kind, "other_shard", DATA[:5])  # matches *shard* but not shard_*
        e.sql(kind, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
              "CREATE TABLE orders (id INTEGER PRIMARY KEY, cid INTEGER, amount NUMERIC(10,2))",
              "CREATE TABLE skew (k INTEGER NOT NULL, pad TEXT)",
              "CREATE TABLE nokey (x INTEGER, y TEXT)",
              "CREATE TABLE victim (x INTEGER)", "INSERT INTO victim VALUES (1), (2)",
              "CREATE VIEW src_view AS SELECT id, s FROM src")
        e.sql(kind, "INSERT INTO customers VALUES " + ", ".join(f"({c}, 'customer {c}')" for c in range(1, 51)))
        e.sql(kind, "INSERT INTO orders VALUES " + ", ".join(
            f"({o}, {o % 47 + 1}, {o * 37 % 1000}.{o % 100:02d})" for o in range(1, 1001)))
        e.sql(kind, "INSERT INTO skew VALUES " + ", ".join(f"({k}, 'p{j}')" for j, k in enumerate(skew)))
        e.sql(kind, "INSERT INTO nokey VALUES " + ", ".join(f"({x}, 'y{x % 13}')" for x in range(5000)))
    e.sql("pg", *[s for t in ("a", "b", "c") for s in (
        f"CREATE SCHEMA tenant_{t}", PG_ORDERS.format(name=f"tenant_{t}.orders"))])
    with psycopg.connect(e.dsn, autocommit=True) as conn:
        for i, t in enumerate(("a", "b", "c")):
            with conn.cursor().copy(f"COPY tenant_{t}.orders FROM STDIN") as copy:
                for row in DATA[i::3]:
                    copy.write_row(row)
    return e


PG_ORDERS = data.PG_DDL.replace("id bigint PRIMARY KEY", "id bigint")


def from_job(table: str = "src", **extra) -> dict:
    return {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": table, **extra}


def sql_job(sql: str, **extra) -> dict:
    return {"fromJobConfig.useSql": "true", "fromJobConfig.sql": sql, **extra}


def read(env: Env, kind: str, job: dict, n: int = 4) -> tuple[list, list[list[tuple]]]:
    """Partitions of the source, and the rows each one reads (as Python tuples)."""
    parts = JDBC.extractor(env.link(kind), job, env.ctx).partitions(n)
    assert [p.index for p in parts] == list(range(len(parts)))
    out = []
    for part in parts:
        worker = JDBC.extractor(env.link(kind), job, env.ctx)
        batches = list(worker.extract(pickle.loads(pickle.dumps(part))))
        out.append([tuple(r.values()) for b in batches for r in b.to_pylist()])
    return parts, out


def ids(chunks: list[list[tuple]], at: int = 0) -> list:
    return sorted(r[at] for chunk in chunks for r in chunk)


ALL_IDS = [r[0] for r in DATA]


# -- custom SQL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_custom_sql_with_join_and_aggregate(env, kind):
    query = ("SELECT c.id, c.name, count(o.id) AS n_orders, sum(o.amount) AS total FROM customers c "
             "JOIN orders o ON o.cid = c.id GROUP BY c.id, c.name;")
    expected = {}
    for o in range(1, 1001):
        cid = o % 47 + 1
        n, total = expected.get(cid, (0, Decimal(0)))
        expected[cid] = (n + 1, total + Decimal(f"{o * 37 % 1000}.{o % 100:02d}"))
    job = sql_job(query, **{"fromJobConfig.partitionColumn": "id", "fromJobConfig.whereClause": "n_orders >= 20"})
    extractor = JDBC.extractor(env.link(kind), job, env.ctx)
    schema = extractor.schema()
    assert schema.names == ["id", "name", "n_orders", "total"]
    assert schema.field("n_orders").type.bit_width == 64  # count(*) is a bigint in both
    parts, chunks = read(env, kind, job, 3)
    assert all(isinstance(p, KeyRange) for p in parts) and [p.nulls for p in parts] == [False] * 3 + [True]
    got = {r[0]: (r[1], r[2], Decimal(str(r[3])).quantize(Decimal("0.01"))) for chunk in chunks for r in chunk}
    assert got == {c: (f"customer {c}", n, t) for c, (n, t) in expected.items() if n >= 20}
    assert sum(map(len, chunks)) == len(got)  # no row read twice
    assert extractor.estimate_rows() is None


@pytest.mark.parametrize("kind", KINDS)
def test_custom_sql_column_list_and_declared_types(env, kind):
    job = sql_job("select id, n, d, s AS label, n * 2 AS twice from src -- trailing comment",
                  **{"fromJobConfig.columnList": "LABEL&id&d"})
    schema = JDBC.extractor(env.link(kind), job, env.ctx).schema()
    assert schema.names == ["label", "id", "d"]
    assert str(schema.field("d").type) == "date32[day]"
    assert schema.field("id").metadata.get(b"opencdm.pk") is None  # a query has no primary key
    if kind == "pg":
        full = JDBC.extractor(env.link(kind), sql_job("select n, n * 2 AS twice from src"), env.ctx).schema()
        assert full.field("n").metadata[b"opencdm.type"] == b"numeric(12,2)"
        assert full.field("twice").metadata[b"opencdm.type"] == b"numeric"
    parts, chunks = read(env, kind, job, 1)
    assert parts == [WholeSource(0)]
    assert sorted((r[1], r[0]) for r in chunks[0]) == sorted((r[0], r[3]) for r in DATA)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ["DELETE FROM victim", "delete from victim where x = 1; select 1",
                                 "UPDATE victim SET x = 0", "DROP TABLE victim", "select 1; delete from victim"])
def test_custom_sql_that_is_not_a_select_is_refused(env, kind, bad):
    with pytest.raises(InvalidInput) as err:
        JDBC.extractor(env.link(kind), sql_job(bad), env.ctx)
    assert err.value.code == "Cdm.0014"
    with pytest.raises(InvalidInput):
        JDBC.check_job(env.link(kind), sql_job(bad), "from", env.ctx)
    assert env.count(kind, "victim") == 2


@pytest.mark.parametrize("kind", KINDS)
def test_custom_sql_cannot_write_even_inside_a_select(env, kind):
    """A data-modifying CTE passes the keyword check; the derived table and read-only session stop it."""
    job = sql_job("WITH gone AS (DELETE FROM victim RETURNING x) SELECT x FROM gone")
    with pytest.raises(ExtractFailed):
        extractor = JDBC.extractor(env.link(kind), job, env.ctx)
        extractor.schema()
        list(extractor.extract(WholeSource(0)))
    if kind == "pg":  # a function with side effects runs in a read-only transaction
        env.sql("pg", "CREATE SEQUENCE IF NOT EXISTS victim_seq")
        with pytest.raises(ExtractFailed, match="read-only"):
            list(JDBC.extractor(env.link(kind), sql_job("SELECT nextval('victim_seq') AS v"), env.ctx)
                 .extract(WholeSource(0)))
    assert env.count(kind, "victim") == 2


def test_custom_sql_needs_distinct_column_names(env):
    job = sql_job("SELECT c.id, o.id FROM customers c JOIN orders o ON o.cid = c.id")
    with pytest.raises(InvalidInput, match="distinct names"):
        JDBC.extractor(env.link("pg"), job, env.ctx).schema()


# -- wildcards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_wildcard_tables_are_read_as_one_source(env, kind):
    job = from_job("shard_*")
    extractor = JDBC.extractor(env.link(kind), job, env.ctx)
    schema = extractor.schema()
    assert schema.names == list(data.COLUMNS) and all(f.nullable for f in schema)
    assert all(b"opencdm.pk" not in (f.metadata or {}) for f in schema)  # ids may repeat across tables
    parts, chunks = read(env, kind, job, 6)
    assert all(isinstance(p, TablePart) for p in parts)
    assert {p.table for p in parts} == {"shard_1", "shard_2", "shard_3"} and len(parts) >= 6
    rows = sorted((r for chunk in chunks for r in chunk), key=lambda r: r[0])
    assert data.checksums(rows) == data.checksums(DATA)
    assert extractor.estimate_rows() == len(DATA)


@pytest.mark.parametrize("pattern", ["*shard_2", "*hard*", "SHARD_*"])
def test_wildcard_forms(env, pattern):
    got = {p.table for p in JDBC.extractor(env.link("sqlite"), from_job(pattern), env.ctx).partitions(2)}
    assert got == {"*shard_2": {"shard_2"}, "*hard*": {"shard_1", "shard_2", "shard_3", "other_shard"},
                   "SHARD_*": {"shard_1", "shard_2", "shard_3"}}[pattern]


def test_wildcard_schemas(env):
    job = {"fromJobConfig.schemaName": "tenant_*", "fromJobConfig.tableName": "orders",
           "fromJobConfig.partitionColumn": "id", "fromJobConfig.whereClause": "id <= 1000"}
    parts, chunks = read(env, "pg", job, 6)
    assert {(p.schema, p.table) for p in parts} == {(f"tenant_{t}", "orders") for t in "abc"}
    rows = sorted((r for chunk in chunks for r in chunk), key=lambda r: r[0])
    assert data.checksums(rows) == data.checksums(DATA[:1000])
    no_key = {"fromJobConfig.schemaName": "*tenant_b*", "fromJobConfig.tableName": "orders"}
    parts, chunks = read(env, "pg", no_key, 3)  # no primary key: split on ctid
    assert ids(chunks) == ALL_IDS[1::3] and {p.part.column for p in parts} == {"ctid"}


@pytest.mark.parametrize("kind", KINDS)
def test_wildcard_without_match_or_with_different_structures(env, kind):
    with pytest.raises(LinkRejected, match=r"nothing_like_this\*") as err:
        JDBC.extractor(env.link(kind), from_job("nothing_like_this*"), env.ctx).schema()
    assert err.value.code == "Cdm.0900"
    env.sql(kind, "CREATE TABLE mixed_1 (id INTEGER, s TEXT)", "CREATE TABLE mixed_2 (id INTEGER, s INTEGER)")
    with pytest.raises(LinkRejected, match=r"(?i)column 2 is \[s integer\] in \[(public.)?mixed_2\]") as err:
        JDBC.extractor(env.link(kind), from_job("mixed_*"), env.ctx).partitions(4)
    assert err.value.code == "Cdm.0931"
    job = from_job("mixed_*", **{"fromJobConfig.columnList": "id"})  # the columns read do match
    assert JDBC.extractor(env.link(kind), job, env.ctx).schema().names == ["id"]


# -- boundaryQuery and NULL keys ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_boundary_query_replaces_min_max(env, kind):
    job = from_job(**{"fromJobConfig.boundaryQuery": "SELECT 100, 1500", "fromJobConfig.partitionColumn": "id"})
    parts, chunks = read(env, kind, job, 4)
    assert parts[0].lo == 100 and parts[-1].hi == 1500 and parts[-1].last and len(parts) == 4
    assert ids(chunks) == list(range(100, 1501))  # as Sqoop: keys outside the boundaries are not read
    one = JDBC.extractor(env.link(kind), job, env.ctx).partitions(1)
    assert one == [KeyRange(0, "id", 100, 1500, last=True)]
    text = from_job(**{"fromJobConfig.boundaryQuery": "SELECT 'v1000', 'v1999'", "fromJobConfig.partitionColumn": "v"})
    _, chunks = read(env, kind, text, 4)  # plus the NULL partition (allowNullValueInPartitionColumn unset)
    assert ids(chunks) == sorted(r[0] for r in DATA if r[4] is None or "v1000" <= r[4] <= "v1999")


@pytest.mark.parametrize("kind", KINDS)
def test_boundary_query_edge_cases(env, kind):
    nulls = from_job(**{"fromJobConfig.boundaryQuery": "SELECT NULL, NULL", "fromJobConfig.partitionColumn": "i"})
    parts, chunks = read(env, kind, nulls, 4)
    assert parts == [KeyRange(0, "i", nulls=True)] and ids(chunks) == [r[0] for r in DATA if r[1] is None]
    none = {**nulls, "fromJobConfig.allowNullValueInPartitionColumn": "false"}
    assert read(env, kind, none, 4) == ([NoRows(0)], [[]])
    for bad in ("SELECT 1", "SELECT 1, 2 UNION ALL SELECT 3, 4"):
        with pytest.raises(InvalidInput, match="boundaryQuery"):
            JDBC.extractor(env.link(kind), {**nulls, "fromJobConfig.boundaryQuery": bad}, env.ctx).partitions(4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 4])
def test_allow_null_value_in_partition_column(env, kind, n):
    base = from_job(**{"fromJobConfig.partitionColumn": "i"})
    nulls = [r[0] for r in DATA if r[1] is None]
    assert nulls
    for allow, expected in [(None, ALL_IDS), ("true", ALL_IDS), ("false", sorted(set(ALL_IDS) - set(nulls)))]:
        job = base if allow is None else {**base, "fromJobConfig.allowNullValueInPartitionColumn": allow}
        parts, chunks = read(env, kind, job, n)
        assert ids(chunks) == expected, allow
        assert any(getattr(p, "nulls", False) for p in parts) == (allow != "false" and n > 1)


# -- how keys are cut ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_skewed_key_gets_balanced_partitions(env, kind):
    job = from_job("skew", **{"fromJobConfig.partitionColumn": "k"})
    parts, chunks = read(env, kind, job, 8)
    counts = [len(c) for c in chunks]
    assert sum(counts) == SKEW_ROWS and len(parts) == 8  # NOT NULL: no NULL partition
    # equal widths would put 95 % of the rows in the first range; the quantile fallback spreads them
    assert max(counts) < 2 * SKEW_ROWS / 8, counts
    assert sorted(r[0] for c in chunks for r in c) == sorted(_skewed_keys())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("column", ["n", "d", "ts", "tz", "s", "v"])
def test_non_integer_keys_cover_every_row_once(env, kind, column):
    job = from_job(**{"fromJobConfig.partitionColumn": column, "fromJobConfig.whereClause": "id % 10 <> 3"})
    parts, chunks = read(env, kind, job, 5)
    assert len([p for p in parts if not p.nulls]) >= 4 and parts[-1].nulls  # nullable: a NULL partition
    got = ids(chunks)
    assert got == [i for i in ALL_IDS if i % 10 != 3]
    assert max(map(len, chunks)) < len(got) / 2  # actually split


@pytest.mark.parametrize("kind", KINDS)
def test_tables_without_a_usable_key(env, kind):
    parts, chunks = read(env, kind, from_job("nokey"), 4)
    assert len(parts) == 4 and {p.column for p in parts} == {"ctid" if kind == "pg" else "rowid"}
    assert ids(chunks) == list(range(5000)) and max(map(len, chunks)) < 5000 / 2
    parts, chunks = read(env, kind, from_job("src_view"), 4)  # a view has no key nor row address
    assert parts == [WholeSource(0)] and ids(chunks) == ALL_IDS
    bool_key = from_job(**{"fromJobConfig.partitionColumn": "b"})  # not splittable: read whole
    parts, chunks = read(env, kind, bool_key, 4)
    assert all(not isinstance(p, KeyRange) or p.column != "b" for p in parts) and ids(chunks) == ALL_IDS
    no_nulls = {**bool_key, "fromJobConfig.allowNullValueInPartitionColumn": "false"}
    parts, chunks = read(env, kind, no_nulls, 4)
    assert parts == [KeyRange(0, "b")] and ids(chunks) == [r[0] for r in DATA if r[8] is not None]


@pytest.mark.parametrize("kind", KINDS)
def test_one_partition_is_the_whole_source(env, kind):
    assert JDBC.extractor(env.link(kind), from_job(), env.ctx).partitions(1) == [WholeSource(0)]
    assert JDBC.extractor(env.link(kind), from_job("nokey"), env.ctx).partitions(1) == [WholeSource(0)]


def test_transfer_of_a_wildcard_source_into_a_new_table(env):
    """End to end through a loader: three tables into one auto-created target."""
    extractor = JDBC.extractor(env.link("sqlite"), from_job("shard_*"), env.ctx)
    table = f"t_{uuid.uuid4().hex[:10]}"
    loader = JDBC.loader(env.link("pg"), {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table,
                                          "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST"},
                         env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(4)])
    assert data.checksums(data.pg_rows(env.dsn, table)) == data.checksums(DATA)
