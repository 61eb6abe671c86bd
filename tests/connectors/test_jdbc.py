"""generic-jdbc-connector end to end, in process, against a real PostgreSQL and real SQLite files.

Each test drives the SDK the way the engine does: extractor.schema/partitions/extract, then
loader.prepare/load/commit (or abort), and checks the target by count and per-column checksums.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from opencdm.connectors import get, names
from opencdm.connectors.base import ConnectorContext, KeyRange, LoadResult, WholeSource
from opencdm.connectors.jdbc import dialect_for
from opencdm.errors import ExtractFailed, InvalidInput, LinkRejected, LinkUnreachable, LoadFailed
from tests.connectors import jdbc_data as data
from tests.infra.postgres import free_port

JDBC = get("generic-jdbc-connector")
DATA = data.rows()
EXPECTED = data.checksums(DATA)


@dataclass
class Env:
    pg: object
    db: str
    root: Path
    ctx: ConnectorContext

    @property
    def dsn(self) -> str:
        return self.pg.dsn(self.db)

    def link(self, kind: str, file: str = "dst.db") -> dict:
        if kind == "pg":
            return self.pg.link_inputs(self.db)
        return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(self.root / file)}

    def src(self, kind: str) -> dict:
        return self.link(kind, "src.db")

    def rows(self, kind: str, table: str, columns=data.COLUMNS, order: str = "id") -> list[tuple]:
        if kind == "pg":
            return data.pg_rows(self.dsn, table, columns, order)
        return data.sqlite_rows(self.root / "dst.db", table, columns, order)

    def sql(self, kind: str, *statements: str) -> None:
        if kind == "pg":
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                for s in statements:
                    conn.execute(s)
        else:
            conn = sqlite3.connect(self.root / "dst.db")
            for s in statements:
                conn.execute(s)
            conn.commit()
            conn.close()

    def create_target(self, kind: str, table: str, rows=()) -> None:
        if kind == "pg":
            data.fill_pg(self.dsn, table, list(rows))
        else:
            data.fill_sqlite(self.root / "dst.db", table, list(rows))

    def stages(self, kind: str) -> list:
        if kind == "pg":
            with psycopg.connect(self.dsn) as conn:
                return conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'opencdm_stage%'"
                                    " AND relkind IN ('r', 'p')").fetchall()
        conn = sqlite3.connect(self.root / "dst.db")
        try:
            return conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'opencdm_stage%'").fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("jdbc")
    db = pg.create_database()
    data.fill_pg(pg.dsn(db), "src", DATA)
    data.fill_pg(pg.dsn(db), "empty_src", [])
    data.fill_sqlite(root / "src.db", "src", DATA)
    return Env(pg, db, root, ConnectorContext(file_root=str(root), allowed_dirs=(str(root),)))


def _table() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def from_job(**extra) -> dict:
    return {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src", **extra}


def to_job(table: str, prep: str = "DO_NOTHING", **extra) -> dict:
    return {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table,
            "toJobConfig.tablePreparation": prep, **extra}


def transfer(env: Env, src: dict, fjob: dict, dst: dict, tjob: dict, max_partitions: int = 3) -> list[LoadResult]:
    extractor = JDBC.extractor(src, fjob, env.ctx)
    schema = extractor.schema()
    loader = JDBC.loader(dst, tjob, env.ctx, uuid.uuid4().hex)
    loader.prepare(schema)
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(max_partitions)]
    loader.commit(results)
    return results


def test_registered():
    assert "generic-jdbc-connector" in names()


DIRECTIONS = [("pg", "pg"), ("sqlite", "pg"), ("pg", "sqlite"), ("sqlite", "sqlite")]


@pytest.mark.parametrize("prep", ["CREATE_WHEN_NOT_EXIST", "DO_NOTHING"])
@pytest.mark.parametrize("src,dst", DIRECTIONS)
def test_transfer_all_types(env, src, dst, prep):
    table = _table()
    if prep == "DO_NOTHING":
        env.create_target(dst, table)
    extractor = JDBC.extractor(env.src(src), from_job(), env.ctx)
    parts = extractor.partitions(3)
    assert [type(p) for p in parts] == [KeyRange] * 3  # single integer primary key, NOT NULL
    results = transfer(env, env.src(src), from_job(), env.link(dst), to_job(table, prep))
    assert sum(r.rows for r in results) == len(DATA)
    assert data.checksums(env.rows(dst, table)) == EXPECTED
    assert env.stages(dst) == []
    if src == dst == "pg":  # same dialect: exact text of every column and the declared types
        assert data.pg_text_md5(env.dsn, table) == data.pg_text_md5(env.dsn, "src")
        with psycopg.connect(env.dsn) as conn:
            types = ("SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                     " WHERE attrelid = %s::regclass AND attnum > 0")
            assert conn.execute(types, [table]).fetchall() == conn.execute(types, ["src"]).fetchall()


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_nullable_partition_column_and_where_clause(env, kind):
    fjob = from_job(**{"fromJobConfig.partitionColumn": "I", "fromJobConfig.whereClause": "id > 1500 AND b"})
    parts = JDBC.extractor(env.src(kind), fjob, env.ctx).partitions(4)
    assert len(parts) == 5 and parts[-1].nulls
    table = _table()
    transfer(env, env.src(kind), fjob, env.link(kind), to_job(table, "CREATE_WHEN_NOT_EXIST"), 4)
    expected = [r for r in DATA if r[0] > 1500 and r[8]]
    assert data.checksums(env.rows(kind, table)) == data.checksums(expected)


@pytest.mark.parametrize("src,dst", [("sqlite", "pg"), ("pg", "sqlite")])
def test_column_lists(env, src, dst):
    table = _table()
    env.sql(dst, f"CREATE TABLE {table} (k BIGINT, txt TEXT, flag BOOLEAN, extra INTEGER DEFAULT 7)")
    fjob = from_job(**{"fromJobConfig.columnList": "ID&s&B"})
    tjob = to_job(table, **{"toJobConfig.columnList": "k&txt&flag"})
    transfer(env, env.src(src), fjob, env.link(dst), tjob)
    got = env.rows(dst, table, ("k", "txt", "flag", "extra"), order="k")
    assert [(k, s, None if b is None else bool(b)) for k, s, b, _ in got] == [(r[0], r[3], r[8]) for r in DATA]
    assert {e for *_, e in got} == {7}


def test_column_list_mismatch_is_refused_before_any_write(env):
    table = _table()
    env.create_target("pg", table)
    extractor = JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.columnList": "id&s"}), env.ctx)
    for extra, match in [({"toJobConfig.columnList": "id"}, "names 1 columns"),
                         ({"toJobConfig.columnList": "id&nope"}, r"Column \[nope\]")]:
        loader = JDBC.loader(env.link("pg"), to_job(table, **extra), env.ctx, uuid.uuid4().hex)
        with pytest.raises(InvalidInput, match=match):
            loader.prepare(extractor.schema())
    assert env.stages("pg") == []


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
@pytest.mark.parametrize("clear", [{"toJobConfig.shouldClearTable": "true"},
                                   {"toJobConfig.beforeImportType": "shouldClearTable",
                                    "toJobConfig.shouldClearTable": False},
                                   {}])
def test_clear_or_append(env, kind, clear):
    table = _table()
    old = data.rows(2010)[2000:]  # ids 2001..2010: distinct from the source rows
    env.create_target(kind, table, old)
    transfer(env, env.src(kind), from_job(), env.link(kind), to_job(table, **clear))
    expected = DATA if clear else DATA + old
    assert data.checksums(env.rows(kind, table)) == data.checksums(expected)


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_drop_and_create_replaces_the_table(env, kind):
    table = _table()
    env.sql(kind, f"CREATE TABLE {table} (x INTEGER)", f"INSERT INTO {table} VALUES (1)")
    transfer(env, env.src(kind), from_job(), env.link(kind), to_job(table, "DROP_AND_CREATE"))
    assert data.checksums(env.rows(kind, table)) == EXPECTED


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_missing_target_with_do_nothing(env, kind):
    loader = JDBC.loader(env.link(kind), to_job("no_such_target"), env.ctx, "r1")
    with pytest.raises(LinkRejected, match="no_such_target") as err:
        loader.prepare(JDBC.extractor(env.src(kind), from_job(), env.ctx).schema())
    assert err.value.code == "Cdm.0900"


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_missing_source_table(env, kind):
    with pytest.raises(LinkRejected, match="nosuch") as err:
        JDBC.extractor(env.src(kind), from_job(**{"fromJobConfig.tableName": "nosuch"}), env.ctx).schema()
    assert err.value.code == "Cdm.0900"


def test_empty_source(env):
    extractor = JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.tableName": "empty_src"}), env.ctx)
    assert extractor.partitions(8) == [WholeSource(0)] and extractor.estimate_rows() == 0
    table = _table()
    results = transfer(env, env.src("pg"), from_job(**{"fromJobConfig.tableName": "empty_src"}), env.link("pg"),
                       to_job(table, "CREATE_WHEN_NOT_EXIST"))
    assert results == [LoadResult(0, 0)] and env.rows("pg", table) == []


def _snapshot(env: Env, kind: str, table: str):
    rows = env.rows(kind, table)
    if kind == "sqlite":
        return rows
    with psycopg.connect(env.dsn) as conn:
        dump = conn.execute(f"SELECT md5(string_agg(t::text, '|' ORDER BY id)), pg_relation_filenode('{table}') "
                            f"FROM {table} t").fetchone()
    return rows, dump


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_abort_after_some_loads_leaves_target_untouched(env, kind):
    table = _table()
    env.create_target(kind, table, DATA[:50])
    before = _snapshot(env, kind, table)
    extractor = JDBC.extractor(env.src(kind), from_job(), env.ctx)
    run_id = uuid.uuid4().hex
    tjob = to_job(table, "DROP_AND_CREATE", **{"toJobConfig.shouldClearTable": "true"})
    loader = JDBC.loader(env.link(kind), tjob, env.ctx, run_id)
    loader.prepare(extractor.schema())
    parts = extractor.partitions(3)
    for p in parts[:2]:
        loader.load(p, extractor.extract(p))
    assert len(env.stages(kind)) == 2 and _snapshot(env, kind, table) == before  # the stage and its ledger
    loader.abort()
    loader.abort()  # idempotent
    assert env.stages(kind) == [] and _snapshot(env, kind, table) == before
    # After a server crash only the run id is known: a fresh loader still finds and drops the stage.
    JDBC.loader(env.link(kind), tjob, env.ctx, run_id).prepare(extractor.schema())
    assert len(env.stages(kind)) == 2
    JDBC.loader(env.link(kind), tjob, env.ctx, run_id).abort()
    assert env.stages(kind) == [] and _snapshot(env, kind, table) == before


def test_failed_commit_rolls_back_everything(env):
    table, parent = _table(), _table()
    env.sql("pg", f"CREATE TABLE {parent} (id BIGINT PRIMARY KEY)", f"INSERT INTO {parent} VALUES (1), (2)",
            f"CREATE TABLE {table} (id BIGINT REFERENCES {parent} (id), s TEXT)",
            f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
    extractor = JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.columnList": "id&s"}), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table, **{"toJobConfig.shouldClearTable": "true"}), env.ctx, "fail1")
    loader.prepare(extractor.schema())
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    with pytest.raises(LoadFailed) as err:  # the target's foreign key rejects the move, after the TRUNCATE
        loader.commit(results)
    assert err.value.code == "Cdm.0902"
    assert env.rows("pg", table, ("id", "s")) == [(1, "a"), (2, "b")]
    loader.abort()
    assert env.stages("pg") == []


def test_value_the_target_type_rejects_fails_the_load(env):
    """The stage has the target's own column types, so a bad value fails its partition's load."""
    table = _table()
    env.sql("pg", f"CREATE TABLE {table} (id BIGINT, s INTEGER)", f"INSERT INTO {table} VALUES (1, 1), (2, 2)")
    extractor = JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.columnList": "id&s"}), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table, **{"toJobConfig.shouldClearTable": "true"}), env.ctx, "fail2")
    loader.prepare(extractor.schema())
    part = extractor.partitions(2)[0]
    with pytest.raises(LoadFailed, match="invalid input syntax for type integer") as err:
        loader.load(part, extractor.extract(part))
    assert err.value.code == "Cdm.0902"
    loader.abort()
    assert env.rows("pg", table, ("id", "s")) == [(1, 1), (2, 2)] and env.stages("pg") == []


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_retried_load_does_not_double_rows(env, kind):
    table = _table()
    env.create_target(kind, table)
    extractor = JDBC.extractor(env.src(kind), from_job(), env.ctx)
    loader = JDBC.loader(env.link(kind), to_job(table), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    parts = extractor.partitions(2)
    first = list(extractor.extract(parts[0]))

    def dies_midway():
        yield first[0].slice(0, 10)
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):  # the source's own error, not a driver wrapping
        loader.load(parts[0], dies_midway())
    loader.load(parts[0], first)
    results = [loader.load(p, extractor.extract(p)) for p in parts]  # part 0 loaded a third time
    loader.commit(results + results[:1])
    assert data.checksums(env.rows(kind, table)) == EXPECTED


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_bad_where_clause(env, kind):
    extractor = JDBC.extractor(env.src(kind), from_job(**{"fromJobConfig.whereClause": "no_such_column > 1"}),
                               env.ctx)
    with pytest.raises(ExtractFailed) as err:
        list(extractor.extract(WholeSource(0)))
    assert err.value.code == "Cdm.0902" and "no_such_column" in str(err.value)


def test_bad_password_is_rejected_without_echoing_it(env):
    link = {**env.link("pg"), "linkConfig.password": "wrong-Secret-pw"}
    with pytest.raises(LinkRejected) as err:
        JDBC.check_link(link, env.ctx)
    assert err.value.code == "Cdm.0950" and "wrong-Secret-pw" not in str(err.value)


def test_closed_port_is_unreachable(env):
    link = {**env.link("pg"), "linkConfig.port": free_port()}
    with pytest.raises(LinkUnreachable) as err:
        JDBC.check_link(link, env.ctx)
    assert err.value.code == "Cdm.0901" and err.value.retryable
    with pytest.raises(LinkUnreachable):
        JDBC.extractor(link, from_job(), env.ctx).schema()


def test_check_link_ok_and_required_inputs(env):
    JDBC.check_link(env.link("pg"), env.ctx)
    JDBC.check_link(env.src("sqlite"), env.ctx)
    JDBC.check_link(env.link("sqlite", "new/../fresh.db"), env.ctx)  # creatable: fine, and not created
    assert not (env.root / "fresh.db").exists()
    for name in ("linkConfig.host", "linkConfig.port", "linkConfig.username", "linkConfig.password"):
        with pytest.raises(InvalidInput, match=name) as err:
            JDBC.check_link({**env.link("pg"), name: ""}, env.ctx)
        assert err.value.code == "Cdm.0238"
    with pytest.raises(InvalidInput, match="linkConfig.database"):
        JDBC.check_link({"linkConfig.databaseType": "SQLITE"}, env.ctx)


def test_unknown_database_type(env):
    with pytest.raises(InvalidInput, match="POSTGRESQL, DWS, SQLITE, MYSQL"):
        JDBC.check_link({**env.link("pg"), "linkConfig.databaseType": "ORACLE"}, env.ctx)
    with pytest.raises(InvalidInput, match="POSTGRESQL, DWS, SQLITE, MYSQL"):
        JDBC.extractor({"linkConfig.databaseType": "DB2"}, from_job(), env.ctx)
    with pytest.raises(InvalidInput, match="linkConfig.databaseType"):
        JDBC.check_job({}, from_job(), "from", env.ctx)


def test_sqlite_path_outside_allowed_dirs(env, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    data.fill_sqlite(outside / "secret.db", "src", DATA[:3])
    (env.root / "sneaky.db").symlink_to(outside / "secret.db")
    for path in [str(outside / "secret.db"), "../outside0/secret.db", "sneaky.db", str(outside / "new.db")]:
        link = {"linkConfig.databaseType": "SQLITE", "linkConfig.database": path}
        with pytest.raises(InvalidInput, match="outside this project.s file root"):
            JDBC.check_link(link, env.ctx)
        with pytest.raises(InvalidInput):
            JDBC.extractor(link, from_job(), env.ctx).schema()
        with pytest.raises(InvalidInput):
            JDBC.loader(link, to_job("x", "CREATE_WHEN_NOT_EXIST"), env.ctx, "r").prepare(
                JDBC.extractor(env.src("pg"), from_job(), env.ctx).schema())
    assert not (outside / "new.db").exists()
    nowhere = ConnectorContext(file_root=str(env.root))  # no allowed directory at all
    with pytest.raises(InvalidInput):
        JDBC.check_link(env.src("sqlite"), nowhere)


def test_check_job(env):
    link = env.link("pg")
    JDBC.check_job(link, from_job(**{"fromJobConfig.useSql": False}), "from", env.ctx)
    JDBC.check_job(link, {"fromJobConfig.useSql": "true", "fromJobConfig.sql": "select 1"}, "from", env.ctx)
    JDBC.check_job(link, from_job(**{"fromJobConfig.tableName": "tab*"}), "from", env.ctx)
    JDBC.check_job(link, to_job("t", "CREATE_WHEN_NOT_EXIST", **{"toJobConfig.shouldClearTable": True}), "to",
                   env.ctx)
    bad = [
        (from_job(**{"fromJobConfig.useSql": "true", "fromJobConfig.sql": "delete from src"}), "from", "SELECT"),
        (from_job(**{"fromJobConfig.useSql": "true"}), "from", "fromJobConfig.sql cannot be left blank"),
        ({"fromJobConfig.schemaName": "public"}, "from", "fromJobConfig.tableName cannot be left blank"),
        (from_job(**{"fromJobConfig.boundaryQuery": "select 1; select 2"}), "from", "boundaryQuery"),
        (from_job(**{"fromJobConfig.allowNullValueInPartitionColumn": "perhaps"}), "from", "allowNull"),
        (to_job("t", "SOMETIMES"), "to", "toJobConfig.tablePreparation"),
        (to_job("t", **{"toJobConfig.beforeImportType": "whereClause"}), "to", "toJobConfig.whereClause"),
        (to_job("t", **{"toJobConfig.shouldClearTable": "maybe"}), "to", "shouldClearTable"),
        (to_job("t"), "sideways", "direction"),
    ]
    for job, direction, match in bad:
        with pytest.raises(InvalidInput, match=match):
            JDBC.check_job(link, job, direction, env.ctx)


PG_EXTRA = """CREATE TABLE {name} (id integer PRIMARY KEY, u uuid, j jsonb, js json, by bytea, sm smallint,
    r real, dp double precision, t time, iv interval, ar integer[], ch char(3), big numeric, mood mood)"""


@pytest.fixture(scope="module")
def extra(env) -> str:
    """A PostgreSQL table of the types ADBC reads as extension types or that we read as text."""
    env.sql("pg", "CREATE TYPE mood AS ENUM ('sad', 'happy')",
            PG_EXTRA.format(name="extra"),
            """INSERT INTO extra VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, 2]}', '[1,  2]',
               '\\x00ff10', -32768, 1.5, 1e308, '23:59:59.999999', '1 year 2 days 00:00:01', '{1,NULL,3}', 'ab',
               '123456789012345678901234567890.123456789', 'happy'),
               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'NaN', NULL)""")
    return "extra"


def test_pg_extra_types_round_trip(env, extra):
    cols = ("id", "u", "j", "js", "by", "sm", "r", "dp", "t", "iv", "ar", "ch", "big", "mood")
    schema = JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.tableName": "extra"}), env.ctx).schema()
    assert schema.field("u").metadata[b"opencdm.type"] == b"uuid" and str(schema.field("u").type) == "string"
    table = _table()
    transfer(env, env.src("pg"), from_job(**{"fromJobConfig.tableName": "extra"}), env.link("pg"),
             to_job(table, "CREATE_WHEN_NOT_EXIST"))
    assert data.pg_text_md5(env.dsn, table, cols) == data.pg_text_md5(env.dsn, "extra", cols)
    transfer(env, env.src("pg"), from_job(**{"fromJobConfig.tableName": "extra"}), env.link("sqlite"),
             to_job(table, "CREATE_WHEN_NOT_EXIST"))
    got = env.rows("sqlite", table, cols)
    assert got[0][1:5] == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", '{"k": [1, 2]}', "[1,  2]", b"\x00\xff\x10")
    assert got[0][5:] == (-32768, 1.5, 1e308, "23:59:59.999999", "1 year 2 days 00:00:01", "[1,null,3]", "ab ",
                          "123456789012345678901234567890.123456789", "happy")
    assert got[1][:12] == (2,) + (None,) * 11 and got[1][12].lower() == "nan"  # ADBC spells it "nan"


def test_sqlite_dynamic_typing(env):
    """SQLite stores any value in any column: mixed storage classes are converted, not rejected."""
    path = env.root / "dirty.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE dirty (id INTEGER PRIMARY KEY, n NUMERIC, s TEXT, ts DATETIME, tz TIMESTAMPTZ,"
                 " d DATE, b BOOL, r REAL, x)")
    conn.executemany("INSERT INTO dirty VALUES (?,?,?,?,?,?,?,?,?)", [
        (1, 12.5, 42, "2021-02-03T04:05:06.5", "2021-02-03 04:05:06+02:00", "2021-02-03", 1, 2, b"raw"),
        (2, "abc", "t", 1612325106, "2021-02-03T02:05:06Z", "2021-02-03 10:00:00", "true", 2.5, 7),
        (3, 7, None, "2021-02-03", 0, 18000, 0, None, "x"),
    ])
    conn.commit()
    conn.close()
    link = env.link("sqlite", "dirty.db")
    table = _table()
    transfer(env, link, {"fromJobConfig.tableName": "dirty"}, env.link("pg"), to_job(table, "CREATE_WHEN_NOT_EXIST"))
    with psycopg.connect(env.dsn) as conn:
        got = conn.execute(f"SELECT n, s, ts::text, tz AT TIME ZONE 'UTC', d, b, r, x FROM {table} ORDER BY id")
        got = got.fetchall()
    assert got == [
        ("12.5", "42", "2021-02-03 04:05:06.5", dt.datetime(2021, 2, 3, 2, 5, 6), dt.date(2021, 2, 3), True, 2.0,
         "raw"),
        ("abc", "t", "2021-02-03 04:05:06", dt.datetime(2021, 2, 3, 2, 5, 6), dt.date(2021, 2, 3), True, 2.5, "7"),
        ("7", None, "2021-02-03 00:00:00", dt.datetime(1970, 1, 1), dt.date(1970, 1, 1), False, None, "x"),
    ]
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE dirtier (k INT)")
    conn.execute("INSERT INTO dirtier VALUES (1), ('one')")
    conn.commit()
    conn.close()
    with pytest.raises(ExtractFailed, match=r"column \[k\]") as err:  # text in an INT column is no int64
        list(JDBC.extractor(link, {"fromJobConfig.tableName": "dirtier"}, env.ctx).extract(WholeSource(0)))
    assert err.value.code == "Cdm.0233"


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_concurrent_loads_of_separate_workers(env, kind):
    table = _table()
    extractor = JDBC.extractor(env.src(kind), from_job(), env.ctx)
    run_id = uuid.uuid4().hex
    loader = JDBC.loader(env.link(kind), to_job(table, "CREATE_WHEN_NOT_EXIST"), env.ctx, run_id)
    loader.prepare(extractor.schema())

    def worker(part):  # what a worker process does: rebuild from plain inputs, then load
        ex = JDBC.extractor(env.src(kind), from_job(), env.ctx)
        return JDBC.loader(env.link(kind), to_job(table, "CREATE_WHEN_NOT_EXIST"), env.ctx, run_id).load(
            part, ex.extract(part))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, extractor.partitions(8)))
    loader.commit(results)
    assert data.checksums(env.rows(kind, table)) == EXPECTED


def test_pg_user_types_missing_in_target_database_become_text(env, extra):
    other = env.pg.create_database()
    table = _table()
    transfer(env, env.src("pg"), from_job(**{"fromJobConfig.tableName": "extra"}), env.pg.link_inputs(other),
             to_job(table, "CREATE_WHEN_NOT_EXIST"))
    with psycopg.connect(env.pg.dsn(other)) as conn:
        got = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
                           " AND attname IN ('mood', 'u', 'ar') ORDER BY attname", [table]).fetchall()
        assert got == [("integer[]",), ("text",), ("uuid",)]
        assert conn.execute(f"SELECT mood FROM {table} ORDER BY id").fetchall() == [("happy",), (None,)]


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_extract_stopped_early_releases_the_connection(env, kind):
    link = {**env.src(kind), "linkConfig.fetchSize": "1000"}
    extractor = JDBC.extractor(link, from_job(), env.ctx)
    for _ in range(5):
        batches = extractor.extract(WholeSource(0))
        assert next(batches).num_rows > 0
        batches.close()
    if kind == "pg":
        opened = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'opencdm'"
        with psycopg.connect(env.dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 5  # a closed backend leaves pg_stat_activity a moment later
            while conn.execute(opened).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert conn.execute(opened).fetchone()[0] == 0
    assert sum(b.num_rows for b in extractor.extract(WholeSource(0))) == len(DATA)


def test_credentials_with_uri_special_characters(env):
    password = "p@ss/w%rd :?#&=x'"
    env.sql("pg", f"CREATE ROLE \"we:ird@user\" LOGIN PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    link = {**env.link("pg"), "linkConfig.username": "we:ird@user", "linkConfig.password": password}
    JDBC.check_link(link, env.ctx)
    with pytest.raises(LinkRejected) as err:
        JDBC.check_link({**link, "linkConfig.password": password + "!"}, env.ctx)
    assert password not in str(err.value)


@pytest.mark.parametrize("dst", ["pg", "sqlite"])
def test_awkward_identifiers(env, dst):
    env.sql("pg", 'CREATE TABLE IF NOT EXISTS "Odd Table" ("Id" bigint PRIMARY KEY, "Mixed Case" text, "q""uote" int)',
            """INSERT INTO "Odd Table" VALUES (1, 'a', 1), (2, NULL, 2) ON CONFLICT DO NOTHING""")
    table = "Odd Target " + uuid.uuid4().hex[:6]
    transfer(env, env.src("pg"), from_job(**{"fromJobConfig.tableName": "Odd Table"}), env.link(dst),
             to_job(table, "CREATE_WHEN_NOT_EXIST"))
    got = env.rows(dst, f'"{table}"', ('"Id"', '"Mixed Case"', '"q""uote"'), order='"Id"')
    assert got == [(1, "a", 1), (2, None, 2)]


@pytest.mark.parametrize("src,dst", DIRECTIONS)
def test_auto_create_keeps_the_primary_key(env, src, dst):
    table = _table()
    transfer(env, env.src(src), from_job(), env.link(dst), to_job(table, "CREATE_WHEN_NOT_EXIST"))
    if dst == "pg":
        with psycopg.connect(env.dsn) as conn:
            pk = conn.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                              " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                              [table]).fetchall()
        assert pk == [("id",)]
    else:
        conn = sqlite3.connect(env.root / "dst.db")
        try:
            cols = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        finally:
            conn.close()
        assert [c[1] for c in cols if c[5]] == ["id"]


def test_pg_progress_estimate_uses_planner_statistics(env):
    env.sql("pg", "CREATE TABLE est AS SELECT g AS id FROM generate_series(1, 12345) g", "ANALYZE est",
            "DELETE FROM est WHERE id <= 45")
    assert JDBC.extractor(env.src("pg"), from_job(**{"fromJobConfig.tableName": "est"}), env.ctx).estimate_rows() \
        == 12345  # pg_class.reltuples, no COUNT(*) scan
    where = from_job(**{"fromJobConfig.tableName": "est", "fromJobConfig.whereClause": "id > 0"})
    assert JDBC.extractor(env.src("pg"), where, env.ctx).estimate_rows() == 12300  # a filter needs a real count


def test_pg_jdbc_properties_reach_libpq(env):
    env.sql("pg", "CREATE SCHEMA IF NOT EXISTS props", "CREATE TABLE props.only_here AS SELECT 1 AS id")
    link = {**env.src("pg"), "linkConfig.jdbcProperties": '{"currentSchema": "props", "ApplicationName": "etl-x"}'}
    extractor = JDBC.extractor(link, {"fromJobConfig.tableName": "only_here"}, env.ctx)
    assert [b.num_rows for p in extractor.partitions(1) for b in extractor.extract(p)] == [1]  # found via search_path
    dialect = dialect_for(link, env.ctx)
    with dialect.connect(InvalidInput) as conn:
        assert dialect.query(conn, "SELECT current_setting('application_name')")[0][0] == "etl-x"
    with pytest.raises(InvalidInput):
        dialect_for({**link, "linkConfig.jdbcProperties": "[1, 2]"}, env.ctx).check()
    with pytest.raises(InvalidInput, match=r"\[prepareThreshold\] means nothing.*currentSchema") as err:
        JDBC.check_link({**link, "linkConfig.jdbcProperties": '{"prepareThreshold": "0"}'}, env.ctx)
    assert err.value.code == "Cdm.0014"  # accepted and ignored would be a lie: refused, naming what works
