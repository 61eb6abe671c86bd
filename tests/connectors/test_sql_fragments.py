"""SQL a user supplies (either side's whereClause, sql, boundaryQuery) can never run a second statement.

Against a real PostgreSQL, MariaDB and SQLite, each holding a ``canary`` table: attack payloads are
refused by ``check_job`` and again by the extractor and loader constructors (a stored job cannot skip
the check); each dialect's own ``query``/``execute``/``read`` refuses a stacked statement that was never
validated (the defence in depth); legitimate conditions with ``;`` or ``--`` inside literals, quoted
identifiers or comments still read and delete the right rows. Then the validator alone, and a seeded
run of it against each server's own lexer.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.jdbc import dialect_for
from opencdm.connectors.jdbc.sqltext import select_statement, sql_code, sql_input, where_group
from opencdm.errors import CdmError, ExtractFailed, InvalidInput, LoadFailed

JDBC = get("generic-jdbc-connector")
KINDS = ("pg", "my", "sqlite")
LEXER = {"pg": "postgresql", "my": "mysql", "sqlite": "sqlite"}
WEIRD = {"pg": '"weird;col"', "my": "`weird;col`", "sqlite": "[weird;col]"}  # a column named weird;col
#: (id, name, note, weird;col)
ROWS = [(1, "a;b", "x", 0), (2, "plain", "50%--off", 0), (3, "it's", "y", 7), (4, "c", "semi;colon", 0),
        (5, "d", "z", 0), (6, "a;b", "--", 1), (7, "e", "w", 0), (8, "f", "v", 0), (9, "g", "u", 0),
        (10, "h", "t", 2), (11, "i", "s", 0), (12, "j", "r", 0)]
#: The probe's payload (it dropped a table through a read-only session), and its relatives.
PROBE = "1=1); COMMIT; BEGIN READ WRITE; DROP TABLE canary; COMMIT; --"
ATTACKS = [
    PROBE,
    "1=1; DROP TABLE canary",
    "1=1) OR (1=1",  # leaves the parentheses the condition is wrapped in
    "1=1) OR 1=1 --",  # ... and comments out the partition range after them
    "1=1 -- x\n) OR (1=1",
    "name = 'x; DROP TABLE canary",  # unterminated quote
    "1=1 /* ; DROP TABLE canary",  # unterminated comment
    "1=1\x00; DROP TABLE canary",
]
#: What only one server lexes that way.
DIALECT_ATTACKS = {
    "pg": ["name = E'\\' ; DROP TABLE canary; --'", "/* /* */ ' */ ; DROP TABLE canary; -- '", "1=1 --\r) OR (1=1",
           "name = $a$ ; DROP TABLE canary", "id = 1$a$;$a$"],
    "my": ["name = 'a\\' ; DROP TABLE canary; -- '", "1=1 /*!; DROP TABLE canary */", "/* /* */ x */ 1=1",
           "name = \"a\\\" ; DROP TABLE canary; -- \""],
    "sqlite": ["id = $x(';DROP)", "id = :a", "[weird;col > 0"],
}


@dataclass
class Side:
    kind: str
    link: dict
    schema: str | None
    ctx: ConnectorContext
    sql: Callable[[str], list]  # runs SQL outside opencdm, returns the rows

    def exists(self, table: str) -> bool:
        if self.kind == "pg":
            return self.sql(f"SELECT to_regclass('{table}') IS NOT NULL")[0][0]
        if self.kind == "my":
            return bool(self.sql(f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{self.schema}'"
                                 f" AND TABLE_NAME = '{table}'")[0][0])
        return bool(self.sql(f"SELECT COUNT(*) FROM sqlite_master WHERE name = '{table}'")[0][0])

    def canary(self) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS canary (x int)")

    def dialect(self):
        return dialect_for(self.link, self.ctx)


def _pg_side(pg) -> Side:
    db = pg.create_database()

    def sql(statement: str) -> list:
        with psycopg.connect(pg.dsn(db), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    return Side("pg", pg.link_inputs(db), "public", ConnectorContext(), sql)


def _my_side(mariadb) -> Side:
    db = mariadb.create_database()

    def sql(statement: str) -> list:
        conn = mariadb.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall())
        finally:
            conn.close()

    return Side("my", mariadb.link_inputs(db), db, ConnectorContext(), sql)


def _sqlite_side(root) -> Side:
    path = root / "fragments.db"

    def sql(statement: str) -> list:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            return conn.execute(statement).fetchall()
        finally:
            conn.close()

    link = {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(path)}
    return Side("sqlite", link, None, ConnectorContext(allowed_dirs=(str(root),)), sql)


def _fill(side: Side, table: str, rows: list[tuple]) -> None:
    text = "varchar(40)" if side.kind != "sqlite" else "TEXT"
    side.sql(f"CREATE TABLE {table} (id int PRIMARY KEY, name {text}, note {text}, {WEIRD[side.kind]} int)")
    values = ", ".join("({}, '{}', '{}', {})".format(i, n.replace("'", "''"), o.replace("'", "''"), w)
                       for i, n, o, w in rows)
    if values:
        side.sql(f"INSERT INTO {table} VALUES {values}")


@pytest.fixture(scope="module", params=KINDS)
def side(request, tmp_path_factory) -> Side:
    if request.param == "pg":
        s = _pg_side(request.getfixturevalue("pg"))
    elif request.param == "my":
        s = _my_side(request.getfixturevalue("mariadb"))
    else:
        s = _sqlite_side(tmp_path_factory.mktemp("fragments"))
    _fill(s, "src", ROWS)
    return s


def from_job(side: Side, **extra) -> dict:
    schema = {"fromJobConfig.schemaName": side.schema} if side.schema else {}
    return {**schema, "fromJobConfig.tableName": "src", "fromJobConfig.partitionColumn": "id", **extra}


def to_job(side: Side, table: str, where: str) -> dict:
    schema = {"toJobConfig.schemaName": side.schema} if side.schema else {}
    return {**schema, "toJobConfig.tableName": table, "toJobConfig.beforeImportType": "whereClause",
            "toJobConfig.whereClause": where}


def _attacks() -> list:
    return [pytest.param(k, p, id=f"{k}-{i}") for k in KINDS
            for i, p in enumerate(ATTACKS + DIALECT_ATTACKS[k])]


# -- (a) refused when the job is checked, and again when a stored job is run ------------------------

@pytest.mark.parametrize("side,payload", _attacks(), indirect=["side"])
def test_attack_is_refused_by_check_job_and_by_the_extractor_and_loader(side, payload):
    side.canary()
    fjob = from_job(side, **{"fromJobConfig.whereClause": payload})
    tjob = to_job(side, "src", payload)
    attempts = [("fromJobConfig.whereClause", lambda: JDBC.check_job(side.link, fjob, "from", side.ctx)),
                ("fromJobConfig.whereClause", lambda: JDBC.extractor(side.link, fjob, side.ctx)),
                ("toJobConfig.whereClause", lambda: JDBC.check_job(side.link, tjob, "to", side.ctx)),
                ("toJobConfig.whereClause", lambda: JDBC.loader(side.link, tjob, side.ctx, "run1"))]
    for name, attempt in attempts:
        with pytest.raises(InvalidInput) as err:
            attempt()
        assert err.value.code == "Cdm.0014" and name in str(err.value)
    assert side.exists("canary")


def test_stacked_custom_query_and_boundary_query_are_refused(side):
    side.canary()
    jobs = [("fromJobConfig.sql", {"fromJobConfig.useSql": "true",
                                   "fromJobConfig.sql": "SELECT * FROM src; DROP TABLE canary"}),
            ("fromJobConfig.sql", {"fromJobConfig.useSql": "true",
                                   "fromJobConfig.sql": "SELECT * FROM (SELECT 1) q) x"}),
            ("fromJobConfig.boundaryQuery",
             from_job(side, **{"fromJobConfig.boundaryQuery": "SELECT 1, 2; DROP TABLE canary; --"}))]
    for name, job in jobs:
        with pytest.raises(InvalidInput, match=name) as err:
            JDBC.check_job(side.link, job, "from", side.ctx)
        assert err.value.code == "Cdm.0014"
        with pytest.raises(InvalidInput, match=name):
            JDBC.extractor(side.link, job, side.ctx)
    assert side.exists("canary")


# -- (b) the dialects run one statement, validated or not ---------------------------------------------

#: A stacked statement that escapes a read-only session (PostgreSQL), then a plain one.
ESCAPE = "SELECT 1 AS a; COMMIT; BEGIN READ WRITE; DROP TABLE canary; COMMIT"
STACKED = "SELECT 1; DROP TABLE canary"
ONE_INT = pa.schema([pa.field("a", pa.int64())])


def _refused(connect: Callable[[], AbstractContextManager], call: Callable[[object], object]) -> None:
    """``call(conn)`` fails, on a connection of its own (driver errors become CdmError on leaving it)."""
    with pytest.raises(CdmError), connect() as conn:
        call(conn)


def test_query_execute_and_read_run_one_statement(side):
    side.canary()
    d = side.dialect()
    read, write = (lambda: d.connect(ExtractFailed)), (lambda: d.connect(LoadFailed, write=True))
    _refused(read, lambda c: d.query(c, ESCAPE))
    _refused(read, lambda c: d.query(c, f"SELECT COUNT(*) FROM src WHERE ({PROBE}\n)"))  # the probe, unvalidated
    _refused(write, lambda c: d.query(c, STACKED))
    _refused(write, lambda c: d.execute(c, STACKED))
    _refused(write, lambda c: d.execute(c, "CREATE TABLE other (x int); DROP TABLE canary"))
    # MySQL: connectorx runs a query it cannot prepare again as text, with multi-statements on, and
    # appends " LIMIT 0" to it, which the last statement here takes
    _refused(read, lambda c: list(d.read(c, "SELECT 1 AS a; DROP TABLE canary; SELECT 1 AS a", [], ONE_INT)))
    assert side.exists("canary")
    assert not side.exists("other")


@pytest.mark.timeout(60)  # with the simple protocol, the COPY reader would wait for the second COPY forever
def test_postgres_adbc_and_copy_paths_run_one_statement(request):
    side = _pg_side(request.getfixturevalue("pg"))
    side.canary()
    d = side.dialect()

    def adbc():  # ADBC prepares every statement before running it
        return d.connect_adbc(LoadFailed, write=True, autocommit=True)

    _refused(adbc, lambda c: d.query(c, STACKED))
    _refused(adbc, lambda c: d.execute(c, STACKED))
    raw = d.raw_reader()  # the binary COPY passthrough, on libpq directly
    _refused(lambda: raw.connect(ExtractFailed, write=True),
             lambda c: list(raw.read(c, "SELECT 1 AS a) TO STDOUT; DROP TABLE canary; COPY (SELECT 1", [], ONE_INT)))
    assert side.exists("canary")


def test_postgres_without_pipeline_mode_still_runs_one_statement(request, monkeypatch):
    side = _pg_side(request.getfixturevalue("pg"))
    side.canary()
    monkeypatch.setattr(psycopg.capabilities, "has_pipeline", lambda check=False: False)  # libpq < 14
    d = side.dialect()
    _refused(lambda: d.connect(LoadFailed, write=True), lambda c: d.execute(c, STACKED))
    with d.connect(LoadFailed, write=True) as conn, d.transaction(conn):
        d.execute(conn, "CREATE TABLE t_prepared (x int)")
        d.execute(conn, "INSERT INTO t_prepared VALUES (1)")
        assert d.query(conn, "SELECT x FROM t_prepared WHERE x = $1", [1]) == [(1,)]
        d.execute(conn, "DROP TABLE t_prepared")
    assert side.exists("canary")


def test_postgres_statements_the_dialect_runs_work_in_pipeline_mode(request):
    """DDL, BEGIN/COMMIT, savepoints and catalog queries all run over the extended protocol."""
    d = _pg_side(request.getfixturevalue("pg")).dialect()
    with d.connect(LoadFailed, write=True, autocommit=True) as conn:
        d.execute(conn, "BEGIN")
        d.execute(conn, "CREATE TABLE t_pipe (x int PRIMARY KEY)")
        d.execute(conn, "SAVEPOINT s")
        with pytest.raises(psycopg.errors.UniqueViolation):
            d.execute(conn, "INSERT INTO t_pipe VALUES (1), (1)")
        d.execute(conn, "ROLLBACK TO SAVEPOINT s")
        d.execute(conn, "INSERT INTO t_pipe VALUES (2)")
        d.execute(conn, "RELEASE SAVEPOINT s")
        d.execute(conn, "COMMIT")
        assert d.query(conn, "SELECT x FROM t_pipe") == [(2,)]
        assert [c.name for c in d.columns(conn, "public", "t_pipe")] == ["x"]
        assert d.primary_key(conn, "public", "t_pipe") == ["x"]
        assert [c.name for c in d.query_columns(conn, "SELECT x, 'a;b' AS y FROM t_pipe")] == ["x", "y"]
        d.execute(conn, "DROP TABLE t_pipe")


def test_mysql_client_never_asks_for_multi_statements(request):
    from pymysql.constants import CLIENT

    d = _my_side(request.getfixturevalue("mariadb")).dialect()
    with d.connect(ExtractFailed) as conn:
        assert not conn.client_flag & CLIENT.MULTI_STATEMENTS


def test_mysql_bounds_read_the_same_under_any_sql_mode(request):
    """A key value quoted by PyMySQL (backslash escapes) read by connectorx, whose session has the server's
    sql_mode: with NO_BACKSLASH_ESCAPES such a value ended its string and ran the rest as statements."""
    mariadb = request.getfixturevalue("mariadb")
    side = _my_side(mariadb)
    side.canary()
    side.sql("CREATE TABLE src_k (k varchar(100) PRIMARY KEY, v int)")
    side.sql("INSERT INTO src_k VALUES ('a', 1), ('b''\\\\', 2), ('c', 3)")
    lo = "a' AND 1=0 LIMIT 0; DROP TABLE canary; SELECT 1 FROM src_k WHERE k >= 'a"
    job = {"fromJobConfig.schemaName": side.schema, "fromJobConfig.tableName": "src_k",
           "fromJobConfig.partitionColumn": "k",
           "fromJobConfig.boundaryQuery": "SELECT '{}', 'z'".format(lo.replace("'", "''"))}
    mode = mariadb.sql("SELECT @@GLOBAL.sql_mode").strip()
    mariadb.sql("SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'")
    try:
        extractor = JDBC.extractor(side.link, job, side.ctx)
        rows = [r for p in extractor.partitions(1) for b in extractor.extract(p) for r in b.to_pylist()]
    finally:
        mariadb.sql(f"SET GLOBAL sql_mode = '{mode}'")
    assert sorted(r["k"] for r in rows) == ["b'\\", "c"]  # the bound is compared as the text it is
    assert side.exists("canary")


# -- (c) legitimate conditions still read and delete the right rows -----------------------------------

def _legit(kind: str) -> list:
    cases = [
        ("name = 'a;b' OR note LIKE '%--%'", {1, 2, 6}),
        (f"{WEIRD[kind]} > 0", {3, 6, 10}),
        ("name = 'it''s'\n   OR id = 5 -- a comment; with 'a quote\n", {3, 5}),
        ("id > 10 -- a trailing comment must not swallow the partition range", {11, 12}),
        ("note = 'semi;colon' /* ; */ OR (id IN (7, 8) AND name <> ')')", {4, 7, 8}),
    ]
    if kind == "pg":
        cases += [("note = $$semi;colon$$ OR name = 'it' || chr(39) || 's'", {3, 4}),
                  ("id = 9 OR note = U&'\\0078' OR name = E'a;b\\\\' || 'x'", {1, 9})]
    if kind == "my":
        cases += [("name = \"it's\" # a comment; too", {3}), ("id = 11--1", {12}), ("note = '50%--off'", {2})]
    return [pytest.param(kind, w, ids, id=f"{kind}-{i}") for i, (w, ids) in enumerate(cases)]


@pytest.mark.parametrize("side,where,expected", [c for k in KINDS for c in _legit(k)], indirect=["side"])
def test_legit_condition_reads_the_right_rows_once(side, where, expected):
    job = from_job(side, **{"fromJobConfig.whereClause": where})
    JDBC.check_job(side.link, job, "from", side.ctx)
    extractor = JDBC.extractor(side.link, job, side.ctx)
    parts = extractor.partitions(3)
    assert len(parts) > 1 or len(expected) <= 1
    ids = [i for p in parts for b in extractor.extract(p) for i in b.column("id").to_pylist()]
    assert sorted(ids) == sorted(expected)  # each row once: a comment did not eat a partition's range


def test_legit_delete_condition_deletes_the_right_rows(side):
    table = f"dst_{uuid.uuid4().hex[:8]}"
    _fill(side, table, [(100, "a;b", "old", 0), (101, "keep", "a;b", 0), (102, "x'y", "old", 0)])
    tjob = to_job(side, table, "name = 'a;b' -- old rows of a;b\n   OR name = 'x''y'")
    JDBC.check_job(side.link, tjob, "to", side.ctx)
    fjob = from_job(side, **{"fromJobConfig.whereClause": "id <= 2"})
    extractor = JDBC.extractor(side.link, fjob, side.ctx)
    loader = JDBC.loader(side.link, tjob, side.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)])
    assert sorted(r[0] for r in side.sql(f"SELECT id FROM {table}")) == [1, 2, 101]


# -- the validator alone -------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect,text", [
    ("postgresql", "name = 'a;b'"), ("postgresql", "note LIKE '%--%'"), ("postgresql", '"weird;col" > 0'),
    ("postgresql", "a = 1\n  AND b = 2 -- note"), ("postgresql", "x = $$;$$ AND y = $q$a;b$q$ AND z$ = 1"),
    ("postgresql", "/* a /* nested; */ still comment; */ x = 1"), ("postgresql", "x = E'C:\\\\'"),
    ("postgresql", "a$b = $1"), ("postgresql", "x = 1\r\n AND y = 2"),
    ("mysql", "name = 'a;b'"), ("mysql", "x = 1--1"), ("mysql", "`we;ird` = 1 # c;"), ("mysql", 'x = "a;b"'),
    ("mysql", "x = 'a\\\\'"), ("mysql", "x = 'a\\nb'"),
    ("sqlite", "[a;b] = 1"), ("sqlite", "x = 'C:\\'"), ("sqlite", "a$b = 1"), ("sqlite", "`a;b` = '/*'"),
])
def test_validator_accepts(dialect, text):
    assert sql_input(text, "w", dialect) == text.strip()
    assert len(sql_code(text, dialect)) == len(text)


@pytest.mark.parametrize("dialect,text,match", [
    ("postgresql", "x = 'a", "unterminated ' quote"), ("postgresql", "1; 2", "';'"),
    ("postgresql", "x = E'a\\' ; DROP TABLE t; --'", "backslash"), ("postgresql", "x = 1$a$;$a$", r"'\$' right after"),
    ("postgresql", "/* /* */ x", "unterminated /\\* comment"), ("postgresql", "x = $a$ ;", r"unterminated \$\$"),
    ("postgresql", "x = \x0b1", "U\\+000B"), ("postgresql", "(1", "parentheses"),
    ("postgresql", "1) OR (1", "parentheses"),
    ("postgresql", "1 --\r) OR (1", "parentheses"), ("postgresql", '"a;b', 'unterminated " quote'),
    ("mysql", "x = 'a\\' ; DROP TABLE t; -- '", "backslash"), ("mysql", "/*!; DROP TABLE t */", "executable"),
    ("mysql", "/*M!100000 x */", "executable"), ("mysql", "/* /* */ x */", "nested"),
    ("mysql", 'x = "a\\"', "backslash"),
    ("mysql", "x = 1 --1; y", "';'"), ("mysql", "`a", "unterminated ` quote"),
    ("sqlite", "x = $a(';DROP)", "parameter"), ("sqlite", "x = ?", "parameter"),
    ("sqlite", "x = [a", r"unterminated \["),
    ("sqlite", "/* /* */ ; */", "';'"),
])
def test_validator_refuses(dialect, text, match):
    with pytest.raises(InvalidInput, match=match) as err:
        sql_input(text, "fromJobConfig.whereClause", dialect)
    assert err.value.code == "Cdm.0014" and "fromJobConfig.whereClause" in str(err.value)


def test_validator_statements_and_groups():
    assert sql_input("  ", "w") is None and sql_input(None, "w") is None
    assert select_statement("SELECT ';' FROM t; ;", "s", "mysql") == "SELECT ';' FROM t"
    assert select_statement("SELECT 1 -- c", "s") == "SELECT 1 -- c"
    with pytest.raises(InvalidInput, match="SELECT statement, not"):
        select_statement("DELETE FROM t", "s", "sqlite")
    with pytest.raises(InvalidInput, match="balanced"):
        select_statement("SELECT 1) AS q, (SELECT 2", "s")
    assert where_group("a = 1") == "(a = 1)" and where_group("a = 1 -- c") == "(a = 1 -- c\n)"
    assert where_group("a = 1 # c") == "(a = 1 # c\n)"
    assert sql_code("a = 'x;' -- y", "postgresql") == "a =" + " " * 10


# -- the validator against each server's own lexer -----------------------------------------------------

_TOKENS = ["'", "''", '"', "`", "\\", "\\\\", "--", "-- ", "#", "/*", "*/", "/*!", "$$", "$a$", "E'", ";", "(", ")",
           "\n", "\r", " ", "1", "x", "[", "]", "$", "1$", "U&'", "_utf8mb4'", "*", "/", "-", "a$b", "é", "?", ":"]
_CORES = ["; SELECT 'inj' AS z; SELECT (1", ") ; SELECT 'inj' AS z; SELECT (1", "; SELECT 'inj' AS z"]


def _fuzz(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rnd.choice(_TOKENS) for _ in range(rnd.randint(0, 7))]
        parts.insert(rnd.randint(0, len(parts)), rnd.choice(_CORES))
        out.append("1=1 " + "".join(parts) + "".join(rnd.choice(_TOKENS) for _ in range(rnd.randint(0, 3))))
    return out


def _accepted(text: str, dialect: str) -> bool:
    try:
        return sql_input(text, "w", dialect) is not None
    except InvalidInput:
        return False


def test_what_the_validator_accepts_is_one_statement_to_the_server(side, request):
    """Random mixes of quotes, comments, backslashes and dollar signs around a stacked statement: whatever
    passes must be a single statement to the server itself, under settings that change its lexing."""
    lexer = LEXER[side.kind]
    accepted = [f"SELECT 1 AS a WHERE {where_group(t)} AND 1 = 1" for t in _fuzz(1500, 7) if _accepted(t, lexer)]
    assert len(accepted) > 20  # the run exercised something
    several = []
    if side.kind == "pg":  # the extended protocol's Parse says whether the text holds several statements
        d = side.dialect()
        with d.connect(ExtractFailed, autocommit=True) as conn:
            for setting in ("on", "off"):
                d.execute(conn, f"SET standard_conforming_strings = {setting}")
                for sql in accepted:
                    try:
                        d.query(conn, sql)
                    except psycopg.Error as exc:
                        if "multiple commands" in str(exc):
                            several.append((setting, sql))
    elif side.kind == "my":  # a client that asks for multi-statements, as connectorx's does
        import pymysql
        from pymysql.constants import CLIENT

        mariadb = request.getfixturevalue("mariadb")
        for mode in ("STRICT_ALL_TABLES", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"):
            conn = mariadb.connect(side.schema, client_flag=CLIENT.MULTI_STATEMENTS)
            try:
                with conn.cursor() as cur:
                    cur.execute(f"SET SESSION sql_mode = '{mode}'")
                    for sql in accepted:
                        try:
                            cur.execute(sql)
                        except pymysql.MySQLError:
                            continue  # the first statement failed: nothing after it ran
                        try:
                            while cur.nextset():
                                several.append((mode, sql))
                        except pymysql.MySQLError:
                            several.append((mode, sql))  # a second statement was there (and failed)
            finally:
                conn.close()
    else:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        for sql in accepted:
            try:
                conn.execute(sql)
            except sqlite3.ProgrammingError as exc:
                if "one statement" in str(exc):
                    several.append(("", sql))
            except sqlite3.Error:
                pass
            ends = [i for i, ch in enumerate(sql) if ch == ";" and sqlite3.complete_statement(sql[:i + 1])]
            if any(sql[i + 1:].strip() for i in ends):
                several.append(("complete", sql))
    assert several == []
