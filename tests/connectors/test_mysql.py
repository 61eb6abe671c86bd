"""The MYSQL dialect of generic-jdbc-connector against a real MariaDB: flow, errors, safety, options.

Values and types are covered by test_types.py; this file covers what the dialect does around
them: staging and atomic commits, retries, partitions, LOCAL INFILE safety, TLS reads, custom
queries and wildcards, and the translation of driver errors into CDM codes.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from opencdm.connectors import get
from opencdm.connectors.arrow import TYPE_KEY
from opencdm.connectors.base import ConnectorContext, KeyRange, LoadResult, WholeSource
from opencdm.connectors.jdbc.mysql import MysqlDialect
from opencdm.connectors.jdbc.mysql.infile import Infile
from opencdm.errors import ExtractFailed, InvalidInput, LinkRejected, LinkUnreachable, LoadFailed
from tests.connectors import jdbc_data as data
from tests.infra.postgres import free_port

JDBC = get("generic-jdbc-connector")
DATA = data.rows()
EXPECTED = data.checksums(DATA)
MY_DDL = """CREATE TABLE {name} (id bigint PRIMARY KEY, i int, n decimal(12,2), s text, v varchar(20),
    ts datetime(6), tz timestamp(6) NULL, d date, b boolean) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"""


@dataclass
class Env:
    my: object
    db: str
    pg: object
    pg_db: str
    root: Path
    ctx: ConnectorContext

    def link(self, kind: str = "my", **extra) -> dict:
        if kind == "my":
            return {**self.my.link_inputs(self.db), **extra}
        if kind == "pg":
            return {**self.pg.link_inputs(self.pg_db), **extra}
        return {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(self.root / "my.db"), **extra}

    def sql(self, *statements: str) -> list:
        conn = self.my.connect(self.db)
        try:
            with conn.cursor() as cur:
                out = []
                for s in statements:
                    cur.execute(s)
                    out = list(cur.fetchall())
                return out
        finally:
            conn.close()

    def fill(self, table: str, rows: list[tuple]) -> None:
        conn = self.my.connect(self.db)
        try:
            with conn.cursor() as cur:
                cur.execute(MY_DDL.format(name=table))
                cur.executemany(f"INSERT INTO {table} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                                [(*r[:6], None if r[6] is None else r[6].replace(tzinfo=None), *r[7:]) for r in rows])
        finally:
            conn.close()

    def rows(self, kind: str, table: str) -> list[tuple]:
        if kind == "my":
            return self.sql(f"SELECT {', '.join(data.COLUMNS)} FROM {table} ORDER BY id")
        if kind == "pg":
            return data.pg_rows(self.pg.dsn(self.pg_db), table)
        return data.sqlite_rows(self.root / "my.db", table)

    def stages(self) -> list:
        return self.sql(f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{self.db}'"
                        " AND TABLE_NAME LIKE 'opencdm_stage%'")


@pytest.fixture(scope="module")
def env(mariadb, pg, tmp_path_factory) -> Env:
    return make_env(mariadb, pg, tmp_path_factory.mktemp("mysql"))


def make_env(mariadb, pg, root: Path) -> Env:
    """A MariaDB database, a PostgreSQL one and a SQLite file, each holding ``src``."""
    e = Env(mariadb, mariadb.create_database(), pg, pg.create_database(), root,
            ConnectorContext(file_root=str(root), allowed_dirs=(str(root),)))
    e.fill("src", DATA)
    data.fill_pg(pg.dsn(e.pg_db), "src", DATA)
    data.fill_sqlite(root / "my.db", "src", DATA)
    return e


def _table() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def from_job(env: Env, kind: str = "my", **extra) -> dict:
    schema = {"my": env.db, "pg": "public", "sqlite": None}[kind]
    return {**({"fromJobConfig.schemaName": schema} if schema else {}), "fromJobConfig.tableName": "src", **extra}


def to_job(env: Env, table: str, prep: str = "DO_NOTHING", kind: str = "my", **extra) -> dict:
    schema = {"my": env.db, "pg": "public", "sqlite": None}[kind]
    return {**({"toJobConfig.schemaName": schema} if schema else {}), "toJobConfig.tableName": table,
            "toJobConfig.tablePreparation": prep, **extra}


def transfer(env: Env, src: dict, fjob: dict, dst: dict, tjob: dict, parts: int = 3) -> list[LoadResult]:
    extractor = JDBC.extractor(src, fjob, env.ctx)
    loader = JDBC.loader(dst, tjob, env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(parts)]
    loader.commit(results)
    return results


@pytest.mark.parametrize("src,dst", [("my", "my"), ("my", "pg"), ("pg", "my"), ("my", "sqlite"), ("sqlite", "my")])
def test_transfer(env, src, dst):
    table = _table()
    parts = JDBC.extractor(env.link(src), from_job(env, src), env.ctx).partitions(3)
    assert len(parts) == 3 and all(isinstance(p, KeyRange) for p in parts)
    results = transfer(env, env.link(src), from_job(env, src), env.link(dst),
                       to_job(env, table, "CREATE_WHEN_NOT_EXIST", dst))
    assert sum(r.rows for r in results) == len(DATA)
    assert data.checksums(env.rows(dst, table)) == EXPECTED
    assert env.stages() == []


def test_into_an_existing_table_clearing_it(env):
    table = _table()
    env.fill(table, data.rows(2010)[2000:])
    transfer(env, env.link(), from_job(env), env.link(), to_job(env, table, **{"toJobConfig.shouldClearTable": "true"}))
    assert data.checksums(env.rows("my", table)) == EXPECTED


@pytest.mark.parametrize("staged", [True, False])
def test_failed_move_leaves_the_target_as_it_was(env, staged):
    table = _table()
    env.sql(f"CREATE TABLE {table} (id bigint, s text CHECK (s NOT LIKE '%#1%'))",
            f"INSERT INTO {table} VALUES (1, 'a')")
    if staged:  # a view keeps the table from being rebuilt aside
        env.sql(f"CREATE VIEW {table}_v AS SELECT * FROM {table}")
    extractor = JDBC.extractor(env.link(), from_job(env, **{"fromJobConfig.columnList": "id&s"}), env.ctx)
    loader = JDBC.loader(env.link(), to_job(env, table, **{"toJobConfig.shouldClearTable": "true"}), env.ctx, "f1")
    loader.prepare(extractor.schema())
    assert loader.write_path.startswith("staged:" if staged else "swap:")
    with pytest.raises(LoadFailed, match="CONSTRAINT"):
        # staged: the CHECK rejects the move after the DELETE, both roll back; swap: the table built
        # aside has the CHECK too, so the load itself fails
        loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)])
    assert env.sql(f"SELECT id, s FROM {table}") == [(1, "a")]
    loader.abort()
    assert env.stages() == []


def test_abort_and_retried_loads(env):
    table = _table()
    env.fill(table, DATA[:50])
    before = env.rows("my", table)
    extractor = JDBC.extractor(env.link(), from_job(env), env.ctx)
    run_id = uuid.uuid4().hex
    loader = JDBC.loader(env.link(), to_job(env, table, **{"toJobConfig.shouldClearTable": "true"}), env.ctx, run_id)
    loader.prepare(extractor.schema())
    parts = extractor.partitions(2)
    first = list(extractor.extract(parts[0]))

    def dies_midway():
        yield first[0].slice(0, 10)
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):  # the source's own error, not the driver's
        loader.load(parts[0], dies_midway())
    loader.load(parts[0], first)
    loader.abort()
    loader.abort()
    assert env.stages() == [] and env.rows("my", table) == before
    loader = JDBC.loader(env.link(), to_job(env, table, **{"toJobConfig.shouldClearTable": "true"}), env.ctx, run_id)
    loader.prepare(extractor.schema())
    with pytest.raises(RuntimeError, match="worker lost"):
        loader.load(parts[0], dies_midway())
    results = [loader.load(p, extractor.extract(p)) for p in parts] + [loader.load(parts[0], first)]
    loader.commit(results)
    assert data.checksums(env.rows("my", table)) == EXPECTED


def test_concurrent_loads_of_separate_workers(env):
    table = _table()
    run_id = uuid.uuid4().hex
    tjob = to_job(env, table, "CREATE_WHEN_NOT_EXIST")
    extractor = JDBC.extractor(env.link(), from_job(env), env.ctx)
    loader = JDBC.loader(env.link(), tjob, env.ctx, run_id)
    loader.prepare(extractor.schema())

    def worker(part):
        ex = JDBC.extractor(env.link(), from_job(env), env.ctx)
        return JDBC.loader(env.link(), tjob, env.ctx, run_id).load(part, ex.extract(part))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, extractor.partitions(8)))
    loader.commit(results)
    assert data.checksums(env.rows("my", table)) == EXPECTED


def test_nullable_partition_column_and_where_clause(env):
    fjob = from_job(env, **{"fromJobConfig.partitionColumn": "I", "fromJobConfig.whereClause": "id > 1500 AND b"})
    parts = JDBC.extractor(env.link(), fjob, env.ctx).partitions(4)
    assert parts[-1].nulls
    table = _table()
    transfer(env, env.link(), fjob, env.link("pg"), to_job(env, table, "CREATE_WHEN_NOT_EXIST", "pg"), 4)
    assert data.checksums(env.rows("pg", table)) == data.checksums([r for r in DATA if r[0] > 1500 and r[8]])


def test_text_partition_key_with_percent_signs_in_the_where_clause(env):
    fjob = from_job(env, **{"fromJobConfig.partitionColumn": "v", "fromJobConfig.whereClause": "s LIKE '%#1%'"})
    parts = JDBC.extractor(env.link(), fjob, env.ctx).partitions(4)
    assert len(parts) > 2 and isinstance(parts[1].lo, str)
    table = _table()
    transfer(env, env.link(), fjob, env.link("pg"), to_job(env, table, "CREATE_WHEN_NOT_EXIST", "pg"), 4)
    assert data.checksums(env.rows("pg", table)) == data.checksums([r for r in DATA if r[3] and "#1" in r[3]])


def test_custom_query_and_wildcard_source(env):
    env.sql("CREATE TABLE part_a LIKE src", "CREATE TABLE part_b LIKE src",
            "INSERT INTO part_a SELECT * FROM src WHERE id <= 1000",
            "INSERT INTO part_b SELECT * FROM src WHERE id > 1000")
    table = _table()
    transfer(env, env.link(), from_job(env, **{"fromJobConfig.tableName": "part_*"}), env.link("pg"),
             to_job(env, table, "CREATE_WHEN_NOT_EXIST", "pg"))
    assert data.checksums(env.rows("pg", table)) == EXPECTED
    table = _table()
    fjob = {"fromJobConfig.useSql": "true",
            "fromJobConfig.sql": "SELECT id, i, n, s, v, ts, tz, d, b FROM src WHERE id % 2 = 0"}
    schema = JDBC.extractor(env.link(), fjob, env.ctx).schema()
    assert [str(f.type) for f in schema] == ["int64", "int32", "decimal128(12, 2)", "string", "string",
                                             "timestamp[us]", "timestamp[us, tz=UTC]", "date32[day]", "bool"]
    transfer(env, env.link(), fjob, env.link("pg"), to_job(env, table, "CREATE_WHEN_NOT_EXIST", "pg"))
    assert data.checksums(env.rows("pg", table)) == data.checksums([r for r in DATA if r[0] % 2 == 0])


def test_tls_link_reads_over_the_driver(env):
    link = env.link(**{"linkConfig.useSSL": "true", "linkConfig.fetchSize": "1500"})
    JDBC.check_link(link, env.ctx)
    dialect = MysqlDialect(link, env.ctx)
    with dialect.connect(ExtractFailed) as conn:
        assert dialect.query(conn, "SHOW STATUS LIKE 'Ssl_cipher'")[0][1]
    table = _table()
    transfer(env, link, from_job(env), env.link("pg"), to_job(env, table, "CREATE_WHEN_NOT_EXIST", "pg"))
    assert data.checksums(env.rows("pg", table)) == EXPECTED
    batches = list(JDBC.extractor(link, from_job(env), env.ctx).extract(WholeSource(0)))
    assert max(b.num_rows for b in batches) == 1500


def test_read_batches_hold_about_eight_mib_whatever_the_row_width(env):
    """With no fetchSize a read batch holds ~8 MiB of the table's rows (by its AVG_ROW_LENGTH), not
    65,536 rows: ~20 KB rows come a few hundred to a batch, and the narrow src rows all in one."""
    table = _table()
    env.sql(f"CREATE TABLE {table} (id int PRIMARY KEY, body mediumtext)",
            f"INSERT INTO {table} SELECT seq, REPEAT(MD5(seq), 625) FROM seq_1_to_1000", f"ANALYZE TABLE {table}")
    avg = env.sql(f"SELECT AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_NAME = '{table}'")[0][0]
    assert avg > 20000
    wide = list(JDBC.extractor(env.link(), from_job(env, **{"fromJobConfig.tableName": table}), env.ctx)
                .extract(WholeSource(0)))
    assert sum(b.num_rows for b in wide) == 1000 and max(b.num_rows for b in wide) == (8 << 20) // avg
    assert max(b.nbytes for b in wide) < 16 << 20
    narrow = list(JDBC.extractor(env.link(), from_job(env), env.ctx).extract(WholeSource(0)))
    assert [b.num_rows for b in narrow] == [len(DATA)]
    given = env.link(**{"linkConfig.fetchSize": "2000"})  # the link's own fetchSize still wins
    assert [b.num_rows for b in JDBC.extractor(given, from_job(env, **{"fromJobConfig.tableName": table}),
                                               env.ctx).extract(WholeSource(0))] == [1000]


def test_read_batch_size_without_statistics_is_guessed_from_the_column_types(env):
    dialect = MysqlDialect(env.link(), env.ctx)
    narrow = pa.schema([pa.field("id", pa.int64()), pa.field("code", pa.string(), metadata={TYPE_KEY: b"varchar(16)"})])
    assert dialect._fetch_size(narrow, None) == 65536  # 30 bytes a row: the cap
    wide = pa.schema([pa.field("id", pa.int64()), pa.field("body", pa.string(), metadata={TYPE_KEY: b"mediumtext"})])
    assert dialect._fetch_size(wide, None) == (8 << 20) // (9 + 261)
    assert dialect._fetch_size(wide, 1000) == (8 << 20) // 1000  # the table's statistics win
    assert dialect._fetch_size(wide, 1 << 30) == 64


def test_progress_estimate_uses_the_engine_row_count_not_a_scan(env, monkeypatch):
    """A run's row estimate (progress only) comes from information_schema.TABLES.TABLE_ROWS: no
    COUNT(*) reads the whole table before the partitions start; a filtered read still counts."""
    table = _table()
    env.sql(f"CREATE TABLE {table} (id int PRIMARY KEY)", f"INSERT INTO {table} SELECT seq FROM seq_1_to_12345",
            f"ANALYZE TABLE {table}")
    seen: list[str] = []
    real = MysqlDialect.query
    monkeypatch.setattr(MysqlDialect, "query", lambda self, conn, sql, params=(): seen.append(sql) or real(
        self, conn, sql, params))
    engine_rows = env.sql(f"SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_NAME = '{table}'")[0][0]
    whole = from_job(env, **{"fromJobConfig.tableName": table})
    assert JDBC.extractor(env.link(), whole, env.ctx).estimate_rows() == engine_rows > 0
    assert not any("COUNT(*)" in sql for sql in seen)
    where = from_job(env, **{"fromJobConfig.tableName": table, "fromJobConfig.whereClause": "id > 45"})
    assert JDBC.extractor(env.link(), where, env.ctx).estimate_rows() == 12300


def test_local_infile_refused_by_the_server_falls_back_to_insert(env):
    env.sql("SET GLOBAL local_infile = 0")
    try:
        table = _table()
        transfer(env, env.link(), from_job(env), env.link(), to_job(env, table, "CREATE_WHEN_NOT_EXIST"))
        assert data.checksums(env.rows("my", table)) == EXPECTED
    finally:
        env.sql("SET GLOBAL local_infile = 1")


def test_the_server_cannot_read_other_local_files(env, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send me\n")
    dialect = MysqlDialect(env.link(), env.ctx)
    env.sql("CREATE TABLE IF NOT EXISTS sink (line text)")
    with dialect.connect(LoadFailed, infile=True) as conn:
        conn.opencdm_infile = Infile("offered.tsv", iter([memoryview(b"fine\n")]))
        with pytest.raises(LoadFailed, match="did not offer"):  # a hostile server asks for another file
            dialect.execute(conn, f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE sink")
        conn.opencdm_infile = None
        with pytest.raises(LoadFailed, match="unprompted"):
            dialect.execute(conn, f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE sink")
        conn.rollback()
    assert env.sql("SELECT count(*) FROM sink") == [(0,)]


def test_extract_stopped_early_releases_the_connections(env):
    link = env.link(**{"linkConfig.fetchSize": "1000"})
    extractor = JDBC.extractor(link, from_job(env), env.ctx)
    count = f"SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = '{env.db}' AND USER = 'opencdm'"
    idle = env.sql(count)[0][0]
    for _ in range(5):
        batches = extractor.extract(WholeSource(0))
        assert next(batches).num_rows > 0
        batches.close()
    deadline = time.monotonic() + 5
    while env.sql(count)[0][0] > idle and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.sql(count)[0][0] == idle
    assert sum(b.num_rows for b in extractor.extract(WholeSource(0))) == len(DATA)


def test_errors_become_cdm_codes_without_the_password(env):
    bad = env.link(**{"linkConfig.password": "wrong-Secret-pw"})
    with pytest.raises(LinkRejected) as err:
        JDBC.check_link(bad, env.ctx)
    assert err.value.code == "Cdm.0950" and "wrong-Secret-pw" not in str(err.value)
    closed = env.link(**{"linkConfig.port": str(free_port())})
    with pytest.raises(LinkUnreachable) as err:
        JDBC.check_link(closed, env.ctx)
    assert err.value.code == "Cdm.0901" and err.value.retryable
    with pytest.raises(LinkRejected) as err:
        JDBC.check_link(env.link(**{"linkConfig.database": "no_such_db"}), env.ctx)
    assert err.value.code == "Cdm.0901" and "no_such_db" in str(err.value)
    with pytest.raises(LinkRejected, match="nosuch") as err:
        JDBC.extractor(env.link(), from_job(env, **{"fromJobConfig.tableName": "nosuch"}), env.ctx).schema()
    assert err.value.code == "Cdm.0900"
    loader = JDBC.loader(env.link(), to_job(env, "no_target"), env.ctx, "r1")
    with pytest.raises(LinkRejected, match="no_target") as err:
        loader.prepare(JDBC.extractor(env.link(), from_job(env), env.ctx).schema())
    assert err.value.code == "Cdm.0900"
    where = from_job(env, **{"fromJobConfig.whereClause": "no_such_column > 1"})
    with pytest.raises(ExtractFailed, match="no_such_column") as err:
        list(JDBC.extractor(env.link(), where, env.ctx).extract(WholeSource(0)))
    assert err.value.code == "Cdm.0902"
    for name in ("linkConfig.host", "linkConfig.port", "linkConfig.username", "linkConfig.password"):
        with pytest.raises(InvalidInput, match=name):
            JDBC.check_link(env.link(**{name: ""}), env.ctx)
    with pytest.raises(InvalidInput, match="jdbcProperties"):
        JDBC.check_link(env.link(**{"linkConfig.jdbcProperties": "not json"}), env.ctx)
    with pytest.raises(InvalidInput, match=r"\[zeroDateTimeBehavior\] means nothing"):
        JDBC.check_link(env.link(**{"linkConfig.jdbcProperties": '{"zeroDateTimeBehavior": "convertToNull"}'}),
                        env.ctx)
    with pytest.raises(InvalidInput, match=r"\[characterEncoding\]"):  # opencdm always speaks utf8mb4
        JDBC.check_link(env.link(**{"linkConfig.jdbcProperties": '{"characterEncoding": "latin1"}'}), env.ctx)
    JDBC.check_link(env.link(**{"linkConfig.jdbcProperties": '{"useUnicode": "true", "characterEncoding": "UTF-8"}'}),
                    env.ctx)  # what it does anyway: accepted


def test_drop_and_create(env):
    table = _table()
    env.sql(f"CREATE TABLE {table} (x int)", f"INSERT INTO {table} VALUES (1)")
    transfer(env, env.link("sqlite"), from_job(env, "sqlite"), env.link(), to_job(env, table, "DROP_AND_CREATE"))
    assert data.checksums(env.rows("my", table)) == EXPECTED


@pytest.mark.parametrize("dst", ["my", "pg"])
def test_auto_create_extends_char_columns_and_copies_not_null(env, dst):
    table = _table()
    tjob = to_job(env, table, "CREATE_WHEN_NOT_EXIST", dst,
                  **{"toJobConfig.extendCharLength": "true", "toJobConfig.useNullable": "true"})
    transfer(env, env.link(), from_job(env, **{"fromJobConfig.columnList": "id&v&s"}), env.link(dst), tjob)
    if dst == "my":
        got = env.sql("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS"
                      f" WHERE TABLE_SCHEMA = '{env.db}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION")
        assert got == [("id", "bigint(20)", "NO", "PRI"), ("v", "varchar(60)", "YES", ""), ("s", "text", "YES", "")]
    else:
        with psycopg.connect(env.pg.dsn(env.pg_db)) as conn:
            got = conn.execute("SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                               " WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum", [table]).fetchall()
        assert got == [("id", "bigint", True), ("v", "character varying(60)", False), ("s", "text", False)]


def test_key_sample_of_a_big_table_is_one_scan_without_a_sort(env):
    env.sql("CREATE TABLE big (id bigint PRIMARY KEY, x int)",
            "INSERT INTO big SELECT seq, seq % 7 FROM seq_1_to_60000", "ANALYZE TABLE big")
    dialect = MysqlDialect(env.link(), env.ctx)
    with dialect.connect(ExtractFailed) as conn:
        keys = dialect.sample_keys(conn, dialect.table(env.db, "big"), "`id`", "`x` > 0", [], 1000, (env.db, "big"))
    assert 500 < len(keys) < 5000 and keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(k % 7 for k in keys)
    parts = JDBC.extractor(env.link(), from_job(env, **{"fromJobConfig.tableName": "big"}), env.ctx).partitions(4)
    assert len(parts) == 4


@pytest.mark.parametrize("prep", ["DROP_AND_CREATE", "CREATE_WHEN_NOT_EXIST"])
def test_failed_commit_of_a_new_table_leaves_the_old_one(env, prep):
    """MySQL DDL autocommits, so a new target is built aside and renamed in: a failure before the
    rename keeps the old table (or none) and leaves nothing behind."""
    table = _table()
    if prep == "DROP_AND_CREATE":
        env.sql(f"CREATE TABLE {table} (x int)", f"INSERT INTO {table} VALUES (7)")
    extractor = JDBC.extractor(env.link(), from_job(env), env.ctx)
    loader = JDBC.loader(env.link(), to_job(env, table, prep), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    lying = [LoadResult(r.index, r.rows + 1) for r in results]  # the stage no longer matches: the move fails
    with pytest.raises(LoadFailed):
        loader.commit(lying)
    if prep == "DROP_AND_CREATE":
        assert env.sql(f"SELECT x FROM {table}") == [(7,)]
    else:
        assert env.sql(f"SHOW TABLES LIKE '{table}'") == []
    loader.abort()
    assert env.stages() == []
    loader = JDBC.loader(env.link(), to_job(env, table, prep), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)])
    assert data.checksums(env.rows("my", table)) == EXPECTED
