"""The JDBC loader's typed staging and the PostgreSQL binary COPY passthrough, against real databases.

Atomicity is the point: a killed load, a retried or doubled partition, a failed drop of the old
table, all leave the target exactly as it was (or exactly right), and the native stream moves the
same rows as the Arrow batches.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext, KeyRange
from opencdm.errors import ExtractFailed, LoadFailed
from tests.connectors import jdbc_data as data

JDBC = get("generic-jdbc-connector")
DATA = data.rows()
EXPECTED = data.checksums(DATA)


class Env:
    def __init__(self, pg, root: Path) -> None:
        self.pg, self.root = pg, root
        self.db = pg.create_database()
        self.dsn = pg.dsn(self.db)
        self.ctx = ConnectorContext(file_root=str(root), allowed_dirs=(str(root),))
        data.fill_pg(self.dsn, "src", DATA)
        data.fill_sqlite(root / "src.db", "src", DATA)

    def link(self, kind: str, file: str = "dst.db") -> dict:
        if kind == "pg":
            return self.pg.link_inputs(self.db)
        return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(self.root / file)}

    def sql(self, *statements: str) -> list:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return [conn.execute(s).fetchall() if s.lstrip().upper().startswith("SELECT") else conn.execute(s)
                    for s in statements]

    def one(self, sql: str, params=None):
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def rows(self, kind: str, table: str) -> list[tuple]:
        if kind == "pg":
            return data.pg_rows(self.dsn, table)
        return data.sqlite_rows(self.root / "dst.db", table)

    def staging(self, kind: str) -> list[str]:
        if kind == "pg":
            return [r[0] for r in self.sql("SELECT relname FROM pg_class WHERE relname LIKE 'opencdm_stage%'")[0]]
        if not (self.root / "dst.db").exists():
            return []
        conn = sqlite3.connect(self.root / "dst.db")
        try:
            return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'opencdm_stage%'")]
        finally:
            conn.close()

    def snapshot(self, table: str) -> tuple:
        """Rows, their exact text, and the table's identity: unchanged means not rewritten either."""
        return (self.rows("pg", table), self.one(f"SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"),
                self.one(f"SELECT pg_relation_filenode('{table}')"))


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory) -> Env:
    return Env(pg, tmp_path_factory.mktemp("staging"))


def from_job(**extra) -> dict:
    return {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src", **extra}


def to_job(table: str, prep: str = "DO_NOTHING", **extra) -> dict:
    return {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table,
            "toJobConfig.tablePreparation": prep, **extra}


def _table() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def load(extractor, loader, part, native: bool):
    if native:
        return loader.load_native(part, extractor.native_stream(part), extractor.native_format())
    return loader.load(part, extractor.extract(part))


@pytest.mark.parametrize("kind", ["pg", "sqlite"])
def test_owned_target_is_the_stage_renamed(env, kind):
    table = _table()
    if kind == "pg":
        env.sql(f"CREATE TABLE {table} (x integer)", f"INSERT INTO {table} VALUES (1)")
    extractor = JDBC.extractor(env.link(kind, "src.db"), from_job(), env.ctx)
    loader = JDBC.loader(env.link(kind), to_job(table, "DROP_AND_CREATE"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    native = loader.accepts_native(extractor.native_format() or "")
    assert native == (kind == "pg")
    results = [load(extractor, loader, p, native) for p in extractor.partitions(3)]
    if kind == "pg":
        stage = loader.stage
        assert env.one("SELECT relpersistence FROM pg_class WHERE relname = %s", [stage]) == "p"  # logged: final
    loader.commit(results)
    assert data.checksums(env.rows(kind, table)) == EXPECTED and env.staging(kind) == []
    if kind == "pg":
        assert data.pg_text_md5(env.dsn, table) == data.pg_text_md5(env.dsn, "src")
        assert env.one("SELECT relpersistence FROM pg_class WHERE relname = %s", [table]) == "p"
        assert env.one("SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = %s::regclass",
                       [table]) == f"{table}_pkey"
        assert env.one("SELECT obj_description(%s::regclass, 'pg_class')", [table]) is None


def test_kept_target_stages_unlogged_with_its_own_types(env):
    table = _table()
    env.sql(f"CREATE TABLE {table} (id bigint PRIMARY KEY, i bigint CHECK (i > -60000), n numeric(14,3), s text,"
            " v text, ts timestamp, tz timestamptz, d date, b boolean, extra int, CHECK (extra > 0 OR i > 0))")
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    assert env.one("SELECT relpersistence FROM pg_class WHERE relname = %s", [loader.stage]) == "u"
    types = "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute " \
            "WHERE attrelid = %s::regclass AND attnum > 0"
    assert env.one(types, [loader.stage]) == env.one(types, [table]).removesuffix(",integer")
    # the target's own rules on the staged columns, so a row it refuses fails at load (dirty data)
    assert env.sql(f"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{loader.stage}'::regclass"
                   " AND contype = 'c'")[0] == [("CHECK ((i > '-60000'::integer))",)]
    assert env.one("SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id'",
                   [loader.stage])
    assert not loader.accepts_native("postgresql-copy-binary")  # i and n differ from the source's types
    results = [load(extractor, loader, p, False) for p in extractor.partitions(2)]
    loader.commit(results)
    assert data.checksums(env.rows("pg", table)) == EXPECTED and env.staging("pg") == []


def test_native_stream_moves_exactly_what_extract_reads(env):
    fjob = from_job(**{"fromJobConfig.partitionColumn": "i", "fromJobConfig.whereClause": "id > 150 AND b"})
    extractor = JDBC.extractor(env.link("pg"), fjob, env.ctx)
    parts = extractor.partitions(3)
    assert parts[-1].nulls and all(isinstance(p, KeyRange) for p in parts)
    for p in parts:
        assert sum(c.rows for c in extractor.native_stream(p)) == sum(b.num_rows for b in extractor.extract(p))
    table = _table()
    loader = JDBC.loader(env.link("pg"), to_job(table, "CREATE_WHEN_NOT_EXIST"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    assert loader.accepts_native("postgresql-copy-binary")
    loader.commit([load(extractor, loader, p, True) for p in parts])
    expected = [r for r in DATA if r[0] > 150 and r[8]]
    assert data.checksums(env.rows("pg", table)) == data.checksums(expected)


def test_native_is_refused_where_the_bytes_would_differ(env):
    env.sql("CREATE TABLE IF NOT EXISTS odd (id integer PRIMARY KEY, u uuid, j jsonb)",
            "INSERT INTO odd VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": 1}') ON CONFLICT DO NOTHING")
    cases = [  # (source link, from job): read as text casts, from another dialect
        (env.link("pg"), from_job(**{"fromJobConfig.tableName": "odd"})),
        (env.link("sqlite", "src.db"), from_job()),
    ]
    for link, fjob in cases:
        extractor = JDBC.extractor(link, fjob, env.ctx)
        loader = JDBC.loader(env.link("pg"), to_job(_table(), "CREATE_WHEN_NOT_EXIST"), env.ctx, uuid.uuid4().hex)
        loader.prepare(extractor.schema())
        assert not loader.accepts_native("postgresql-copy-binary")
        loader.commit([load(extractor, loader, p, False) for p in extractor.partitions(2)])


def test_native_stream_errors_are_translated(env):
    extractor = JDBC.extractor(env.link("pg"), from_job(**{"fromJobConfig.whereClause": "no_such_column > 1"}),
                               env.ctx)
    with pytest.raises(ExtractFailed, match="no_such_column") as err:
        list(extractor.native_stream(extractor.partitions(1)[0]))
    assert err.value.code == "Cdm.0902"


@pytest.mark.parametrize("native", [False, True], ids=["arrow", "native"])
def test_retries_and_concurrent_attempts_never_double_rows(env, native):
    table = _table()
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    run_id = uuid.uuid4().hex
    loader = JDBC.loader(env.link("pg"), to_job(table, "DROP_AND_CREATE"), env.ctx, run_id)
    loader.prepare(extractor.schema())
    parts = extractor.partitions(3)

    def dies_midway():
        first = next(iter(extractor.native_stream(parts[0]) if native else extractor.extract(parts[0])))
        yield first
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):  # rolled back, claim included
        fmt = loader.dialect.native_format
        loader.load_native(parts[0], dies_midway(), fmt) if native else loader.load(parts[0], dies_midway())

    def worker(part):  # a fresh loader, as in a worker process
        return load(extractor, JDBC.loader(env.link("pg"), to_job(table, "DROP_AND_CREATE"), env.ctx, run_id), part,
                    native)

    results = []
    threads = [threading.Thread(target=lambda p=p: results.append(worker(p))) for p in parts + parts[:1] + parts[:1]]
    for t in threads:  # partition 0 three times at once: one writes, the others wait and skip
        t.start()
    for t in threads:
        t.join()
    zero = [r.rows for r in results if r.index == 0]
    assert len(zero) == 3 and len(set(zero)) == 1  # every attempt reports the rows the one write committed
    loader.commit(results)
    assert data.checksums(env.rows("pg", table)) == EXPECTED


def test_commit_checks_the_ledger_against_the_loads(env):
    table = _table()
    env.sql(f"CREATE TABLE {table} (x integer)", f"INSERT INTO {table} VALUES (1)")
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table, "DROP_AND_CREATE"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    results = [load(extractor, loader, p, True) for p in extractor.partitions(3)]
    for reported in (results[:2], [*results[:2], type(results[2])(results[2].index, results[2].rows + 1)]):
        with pytest.raises(LoadFailed, match="the loads reported"):
            loader.commit(reported)
    assert env.sql(f"SELECT x FROM {table}")[0] == [(1,)]
    loader.abort()
    assert env.staging("pg") == []


def test_drop_and_create_keeps_a_referenced_table_when_the_drop_fails(env):
    parent, child = _table(), _table()
    env.sql(f"CREATE TABLE {parent} (id bigint PRIMARY KEY, note text)",
            f"INSERT INTO {parent} VALUES (1, 'one'), (2, 'two')",
            f"CREATE TABLE {child} (pid bigint REFERENCES {parent} (id))", f"INSERT INTO {child} VALUES (1), (2)")
    with psycopg.connect(env.dsn) as conn:
        before = conn.execute(f"SELECT *, pg_relation_filenode('{parent}') FROM {parent} ORDER BY id").fetchall()
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(parent, "DROP_AND_CREATE"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    results = [load(extractor, loader, p, True) for p in extractor.partitions(2)]
    with pytest.raises(LoadFailed, match="depend"):  # the foreign key depends on the old table: no DROP
        loader.commit(results)
    loader.abort()
    with psycopg.connect(env.dsn) as conn:
        assert conn.execute(f"SELECT *, pg_relation_filenode('{parent}') FROM {parent} ORDER BY id").fetchall() \
            == before
        assert conn.execute(f"SELECT pid FROM {child} ORDER BY pid").fetchall() == [(1,), (2,)]
    assert env.staging("pg") == []


def test_create_when_not_exist_on_a_table_created_meanwhile_appends_to_it(env):
    table = _table()
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table, "CREATE_WHEN_NOT_EXIST"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())  # no table yet: the stage is built as the target
    results = [load(extractor, loader, p, True) for p in extractor.partitions(2)]
    old = data.rows(2010)[2000:]
    data.fill_pg(env.dsn, table, old)  # someone else creates it before the commit
    loader.commit(results)
    assert data.checksums(env.rows("pg", table)) == data.checksums(DATA + old) and env.staging("pg") == []


def _stuck_load(link: dict, job: dict, tjob: dict, ctx: ConnectorContext, run_id: str, native: bool) -> None:
    """Worker process: load partition 0 after the first piece of it, and then hang."""
    extractor = JDBC.extractor(link, job, ctx)
    loader = JDBC.loader(link, tjob, ctx, run_id)
    part = extractor.partitions(2)[0]

    def hangs():
        yield next(iter(extractor.native_stream(part) if native else extractor.extract(part)))
        time.sleep(600)

    if native:
        loader.load_native(part, hangs(), loader.dialect.native_format)
    else:
        loader.load(part, hangs())


@pytest.mark.parametrize("native", [False, True], ids=["arrow", "native"])
def test_killed_load_leaves_the_target_untouched_and_its_retry_is_whole(env, native):
    table = _table()
    data.fill_pg(env.dsn, table, DATA[:30])
    before = env.snapshot(table)
    run_id = uuid.uuid4().hex
    tjob = to_job(table, "DROP_AND_CREATE")
    extractor = JDBC.extractor(env.link("pg"), from_job(), env.ctx)
    loader = JDBC.loader(env.link("pg"), tjob, env.ctx, run_id)
    loader.prepare(extractor.schema())
    proc = multiprocessing.get_context("spawn").Process(
        target=_stuck_load, args=(env.link("pg"), from_job(), tjob, env.ctx, run_id, native), daemon=True)
    proc.start()
    copying = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%FROM STDIN%%' AND state = 'active'"
    deadline = time.monotonic() + 60
    while not env.one(copying):
        assert time.monotonic() < deadline and proc.is_alive()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    deadline = time.monotonic() + 30
    while env.one(copying):  # the backend notices its client is gone and rolls back
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert env.snapshot(table) == before
    ledger = f"{loader.stage}_parts"
    assert env.sql(f"SELECT part, rows FROM {ledger} ORDER BY part")[0] == [(-1, 1)]  # only the mark: no claim left
    assert env.one(f"SELECT count(*) FROM {loader.stage}") == 0
    results = [load(extractor, loader, p, native) for p in extractor.partitions(2)]
    assert env.snapshot(table) == before  # still: loads only write the stage
    loader.commit(results)
    assert data.checksums(env.rows("pg", table)) == EXPECTED and env.staging("pg") == []


def test_killed_sqlite_load_rolls_back(env):
    link = env.link("sqlite")
    table = _table()
    data.fill_sqlite(env.root / "dst.db", table, DATA[:30])
    before = env.rows("sqlite", table)
    run_id = uuid.uuid4().hex
    tjob = to_job(table, "DROP_AND_CREATE")
    src = env.link("sqlite", "src.db")
    extractor = JDBC.extractor(src, from_job(), env.ctx)
    loader = JDBC.loader(link, tjob, env.ctx, run_id)
    loader.prepare(extractor.schema())
    proc = multiprocessing.get_context("spawn").Process(
        target=_stuck_sqlite_load, args=(src, link, from_job(), tjob, env.ctx, run_id), daemon=True)
    proc.start()
    deadline = time.monotonic() + 60
    while not (env.root / "dst.db-journal").exists() and not (env.root / "dst.db-wal").exists():
        assert time.monotonic() < deadline and proc.is_alive()
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert env.rows("sqlite", table) == before
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    loader.commit(results)
    assert data.checksums(env.rows("sqlite", table)) == EXPECTED and env.staging("sqlite") == []


def _stuck_sqlite_load(src: dict, link: dict, job: dict, tjob: dict, ctx: ConnectorContext, run_id: str) -> None:
    extractor = JDBC.extractor(src, job, ctx)
    part = extractor.partitions(2)[0]

    def hangs():
        yield next(iter(extractor.extract(part)))
        time.sleep(600)

    JDBC.loader(link, tjob, ctx, run_id).load(part, hangs())


class _Dirty:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.reasons: list[str] = []

    def record(self, rows, reasons) -> None:
        self.rows += rows.to_pylist()
        self.reasons += reasons


def test_dirty_rows_are_set_aside_at_load_time(env):
    """The stage has the target's types, so a value the target rejects fails in ``load``, where
    dirty-data handling can bisect it out, and not later in the commit."""
    env.sql("CREATE TABLE IF NOT EXISTS mixed (id bigint PRIMARY KEY, s text)",
            "INSERT INTO mixed SELECT g, CASE WHEN g % 250 = 0 THEN 'x' || g ELSE g::text END "
            "FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING")
    table = _table()
    env.sql(f"CREATE TABLE {table} (id bigint, s integer)")
    extractor = JDBC.extractor(env.link("pg"), from_job(**{"fromJobConfig.tableName": "mixed"}), env.ctx)
    loader = JDBC.loader(env.link("pg"), to_job(table), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    dirty = _Dirty()
    results = [loader.load(p, extractor.extract(p), dirty=dirty) for p in extractor.partitions(2)]
    loader.commit(results)
    assert sorted(r["id"] for r in dirty.rows) == [250, 500, 750, 1000]
    assert all("invalid input syntax for type integer" in r for r in dirty.reasons)
    assert env.one(f"SELECT count(*) FROM {table}") == 996 == sum(r.rows for r in results)


def test_native_stream_of_a_custom_query(env):
    job = {"fromJobConfig.useSql": "true", "fromJobConfig.partitionColumn": "id",
           "fromJobConfig.sql": "SELECT id, n, s, d FROM src WHERE id % 3 = 0 AND s LIKE '%#%'"}
    extractor = JDBC.extractor(env.link("pg"), job, env.ctx)
    table = _table()
    loader = JDBC.loader(env.link("pg"), to_job(table, "CREATE_WHEN_NOT_EXIST"), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    assert loader.accepts_native("postgresql-copy-binary")
    loader.commit([load(extractor, loader, p, True) for p in extractor.partitions(3)])
    cols = ("id", "n", "s", "d")
    want = [(r[0], r[2], r[3], r[7]) for r in DATA if r[0] % 3 == 0 and r[3] is not None and "#" in r[3]]
    assert data.pg_rows(env.dsn, table, cols) == want
