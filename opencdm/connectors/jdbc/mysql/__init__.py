"""MySQL / MariaDB dialect of ``generic-jdbc-connector`` (``linkConfig.databaseType`` = ``MYSQL``).

* **Reads** stream through connectorx (``arrow_stream``): the MySQL binary protocol is decoded into
  Arrow in Rust, ``linkConfig.fetchSize`` rows per batch (without it, ~8 MiB of rows by the table's
  ``AVG_ROW_LENGTH``, at most 65,536), so memory stays bounded and no Python runs per value. Each
  column is selected through an expression that hands connectorx only values it decodes exactly:
  wide decimals as text (parsed into ``decimal128`` by Arrow), dates and times as integer
  day/microsecond counts (so zero dates such as ``0000-00-00`` come out as NULL instead of crashing
  the decoder), ``TIMESTAMP`` as UTC epoch microseconds. connectorx has no TLS, so a link with
  ``useSSL`` reads over PyMySQL (server-side cursor), through the same expressions, about five times
  slower.
* **Metadata, DDL and writes** use PyMySQL (pure Python; every byte of bulk data is formatted
  by pyarrow in C). A stage partition is written in one transaction as one
  ``LOAD DATA LOCAL INFILE`` stream of tab-separated text (``usingNative``, the default), or as
  multi-row ``INSERT`` statements of ``commitSize`` rows (``usingNative=false``, or when the
  server refuses LOCAL INFILE). The LOCAL INFILE stream is served from memory and only under
  the name this loader asked for: a server asking for any other file gets nothing (a hostile
  server cannot read the opencdm host's files).
* Sessions run in strict SQL mode with ``time_zone='+00:00'``, so a value that does not fit its
  target column fails the job instead of being truncated.

Type mapping and value formatting live in ``types``, reads in ``read``, stage writes in ``write``,
the LOCAL INFILE guard in ``infile`` and driver errors in ``errors``; docs/types.md has the whole
matrix.

MySQL has no transactional DDL, so tables are never dropped or renamed inside a transaction: a run
that owns its target, or clears one that nothing depends on (``swap_reason``), writes its partitions
straight into a table built aside (``load_aside``, claimed in an InnoDB ledger) that the commit
renames into place with one atomic ``RENAME TABLE``; a run that appends to a kept InnoDB table writes
into it in XA transactions prepared per partition and committed together (``xa``); other runs use the
tagged stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from opencdm.connectors import config
from opencdm.connectors.arrow import PK_KEY, field_dialect, field_type, plain_type
from opencdm.connectors.jdbc.dialect import Column, Dialect
from opencdm.connectors.jdbc.mysql import infile as infile_mod
from opencdm.connectors.jdbc.mysql import types
from opencdm.connectors.jdbc.mysql.errors import driver_error, pymysql_module
from opencdm.connectors.jdbc.mysql.read import MysqlReads
from opencdm.connectors.jdbc.mysql.write import MysqlWrites
from opencdm.connectors.jdbc.sqltext import derived_table, int_literal
from opencdm.errors import CdmError, LinkRejected

SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
_COLUMNS = """SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND CAST(TABLE_NAME AS BINARY) = CAST(%s AS BINARY)
ORDER BY ORDINAL_POSITION"""
_PRIMARY_KEY = """SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND CAST(TABLE_NAME AS BINARY) = CAST(%s AS BINARY)
  AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX"""
_TABLE_STATS = """SELECT TABLE_ROWS, AVG_ROW_LENGTH FROM information_schema.TABLES
WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND CAST(TABLE_NAME AS BINARY) = CAST(%s AS BINARY)"""
_JSON_CHECKS = """SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = COALESCE(%s, DATABASE()) AND CAST(TABLE_NAME AS BINARY) = CAST(%s AS BINARY)"""


# --- error translation --------------------------------------------------------------------------


def _bind(sql: str, params: Sequence[Any]) -> tuple[str, tuple | None]:
    """PyMySQL's ``(query, args)``. SQL built with ``param`` tokens may hold a user's literal %
    (``LIKE 'a%'`` in a whereClause), which must become %% once there are args; our own
    queries use %s directly."""
    if not params:
        return sql, None
    if "\x00" in sql:
        sql = re.sub(r"\x00\d+\x00", "%s", sql.replace("%", "%%"))
    return sql, tuple(params)


# --- the dialect --------------------------------------------------------------------------------

class MysqlDialect(MysqlReads, MysqlWrites, Dialect):
    name = "mysql"
    driver_properties = frozenset({"tinyInt1isBit", "useSSL", "requireSSL", "allowLoadLocalInfile", "connectTimeout"})
    # Connector/J settings that ask for what opencdm always does: Unicode (utf8mb4) on the wire
    equivalent_properties = {"useUnicode": ("true",), "characterEncoding": ("utf-8", "utf8", "utf8mb4")}
    q = "`"
    transactional_ddl = False  # DDL commits on its own: new targets are built aside, then RENAME TABLE
    builds_aside = True  # partitions write straight into that table (see load_aside)
    ledger_options = " ENGINE=InnoDB"
    _server: str | None = None  # VERSION(), once per instance

    def properties(self) -> Mapping[str, str]:
        """``linkConfig.jdbcProperties``: Connector/J property names."""
        return self.link.properties

    def _flag(self, name: str, default: bool) -> bool:
        return config.get_bool(self.properties(), name, default)

    def ssl(self) -> bool:
        return (bool(self.link.use_ssl) or self._flag("useSSL", False)
                or self._flag("requireSSL", False))

    def check(self) -> None:
        with self.connect(LinkRejected) as conn:
            self.query(conn, "SELECT 1")

    def _kwargs(self) -> dict[str, Any]:
        link = self.link
        timeout = config.get_int(self.properties(), "connectTimeout", 10000)
        kwargs = dict(
            host=self.address(), port=link.port, user=link.username, password=link.password,
            database=link.database, charset="utf8mb4", autocommit=False,
            connect_timeout=max(1, min(timeout // 1000 if timeout else 31536000, 31536000)),
            init_command=f"SET SESSION sql_mode='{SQL_MODE}', time_zone='+00:00', explicit_defaults_for_timestamp=ON",
        )
        if self.ssl():  # encrypted, like Connector/J useSSL without a trust store: the certificate is not verified
            kwargs["ssl"] = {"verify_mode": False, "check_hostname": False}
        elif link.use_ssl is not None:  # explicitly off; unset: TLS when the server offers it
            kwargs["ssl_disabled"] = True
        return kwargs

    @contextmanager
    def connect(self, failure: type[CdmError], table: str | None = None, write: bool = False,
                infile: bool = False) -> Iterator[Any]:
        pymysql = pymysql_module()
        secret = self.link.password
        try:
            conn = infile_mod.connection_class()(**self._kwargs(), local_infile=infile)
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        except pymysql.MySQLError as exc:
            raise driver_error(exc, LinkRejected, table, secret) from exc
        try:
            yield conn
        except pymysql.MySQLError as exc:
            raise driver_error(exc, failure, table, secret) from exc
        except pa.ArrowException as exc:
            raise failure(str(exc)) from exc
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not hide the real error
                pass

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.begin()
        try:
            yield
        except BaseException:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the original error matters more than a failed rollback
                pass
            raise
        conn.commit()

    def param(self, i: int) -> str:
        return f"\x00{int(i)}\x00"  # a token ``_bind`` turns into %s once literal % signs are escaped

    def inline(self, value: Any) -> str | None:
        return int_literal(value)

    def columns(self, conn: Any, schema: str | None, table: str) -> list[Column] | None:
        rows = self.query(conn, _COLUMNS, [schema, table])
        if not rows:
            return None
        json_cols: set[str] = set()
        if any(r[1].lower() == "longtext" for r in rows) and self._mariadb(conn):
            for (clause,) in self.query(conn, _JSON_CHECKS, [schema, table]):
                m = re.fullmatch(r"json_valid\(`((?:[^`]|``)+)`\)", clause.strip())
                if m:
                    json_cols.add(m.group(1).replace("``", "`"))
        tiny_bool = self._flag("tinyInt1isBit", True)
        out = []
        for name, data_type, declared, nullable, precision, scale in rows:
            if name in json_cols:
                data_type, declared = "json", "json"
            out.append(types.column(name, data_type, declared, nullable == "YES", precision, scale, tiny_bool))
        return out

    def _version(self, conn: Any) -> str:
        if self._server is None:
            self._server = str(self.query(conn, "SELECT VERSION()")[0][0])
        return self._server

    def _mariadb(self, conn: Any) -> bool:
        return "mariadb" in self._version(conn).lower()

    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]:
        return [r[0] for r in self.query(conn, _PRIMARY_KEY, [schema, table])]

    def _table_stat(self, conn: Any, schema: str | None, table: str, column: int) -> int | None:
        """``TABLE_ROWS`` (0) or ``AVG_ROW_LENGTH`` (1) of the table: the engine's estimates, NULL for
        a view; None also when 0 (never analysed, or empty)."""
        rows = self.query(conn, _TABLE_STATS, [schema, table])
        return int(rows[0][column]) if rows and rows[0][column] else None

    def estimated_rows(self, conn: Any, schema: str | None, table: str) -> int | None:
        # free, where the COUNT(*) the run would otherwise start with reads the whole table
        # before any partition starts (InnoDB samples TABLE_ROWS)
        return self._table_stat(conn, schema, table, 0)

    def row_bytes(self, conn: Any, schema: str | None, table: str) -> int | None:
        return self._table_stat(conn, schema, table, 1)

    random_function = "RAND()"

    def default_schema(self, conn: Any) -> str | None:
        return self.query(conn, "SELECT DATABASE()")[0][0]

    def tables(self, conn: Any) -> list[tuple[str | None, str]]:
        return [(s, t) for s, t in self.query(
            conn, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN "
                  "('mysql', 'information_schema', 'performance_schema', 'sys')")]

    def foreign_keys(self, conn: Any) -> list[tuple[tuple[str | None, str], tuple[str | None, str]]]:
        return [((a, b), (c, d)) for a, b, c, d in self.query(
            conn, "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME FROM "
                  "information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL")]

    def sample_keys(self, conn: Any, source: str, key: str, cond: str, params: Sequence[Any], n: int,
                    table: tuple[str | None, str] | None = None) -> list:
        """A Bernoulli sample (``RAND() < f``) sized from InnoDB's row estimate: one scan of the key,
        no sort of the whole table as ``ORDER BY RAND() LIMIT n`` needs (0.15 s instead of 0.9 s
        for a million rows)."""
        rows = (self.estimated_rows(conn, *table) if table is not None else None) or 0
        if rows <= 2 * n:
            return super().sample_keys(conn, source, key, cond, params, n, table)
        sql = f"SELECT {key} AS k FROM {source} WHERE {cond} AND RAND() < {1.5 * n / rows:.6g} ORDER BY k"
        return [r[0] for r in self.query(conn, sql, params)]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {derived_table(sql)} LIMIT 0")
            fields = cur._result.fields if cur._result is not None else []
        tiny_bool = self._flag("tinyInt1isBit", True)
        return [types.result_column(f, tiny_bool) for f in fields]

    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one statement: PyMySQL does not ask for CLIENT_MULTI_STATEMENTS, so the server
        refuses ``SELECT 1; DROP TABLE t`` as a syntax error without running any of it."""
        with conn.cursor() as cur:
            cur.execute(*_bind(sql, params))
            return list(cur.fetchall())

    def execute(self, conn: Any, sql: str) -> None:
        """One statement, never two (see ``query``)."""
        with conn.cursor() as cur:
            cur.execute(sql)

    # reads ----------------------------------------------------------------------------------------

    # writes ---------------------------------------------------------------------------------------

    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        declared = field_type(f)
        pk = PK_KEY in (f.metadata or {})
        if declared and field_dialect(f) == self.name:
            low = declared.lower()
            if low.startswith(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")):
                return f"{declared} {types.TEXT_CHARSET}"
            return declared
        version = re.match(r"(\d+)\.(\d+)", self._version(conn))
        uuid_type = self._mariadb(conn) and version is not None and (int(version[1]), int(version[2])) >= (10, 7)
        t = plain_type(f.type)
        portable = types.portable(declared, pk, uuid_type)
        if portable and not (pk and portable.startswith("longtext")):
            return portable
        return types.arrow_ddl(t, pk)

    def cast(self, expr: str, col: Column) -> str:
        return expr  # strict mode converts on assignment and fails on any loss; CAST has few target types

    def clear_sql(self, table: str) -> str:
        return f"DELETE FROM {table}"  # TRUNCATE would commit the move's transaction half way

    def swap_in(self, conn: Any, schema: str | None, new: str, target: str, exists: bool) -> None:
        # RENAME TABLE of several tables is atomic in MySQL/MariaDB: readers see the old or the new table
        if not exists:
            self.execute(conn, f"RENAME TABLE {self.table(schema, new)} TO {self.table(schema, target)}")
            return
        old = new[: -len("_new")] + "_old" if new.endswith("_new") else new + "_old"
        self.execute(conn, f"DROP TABLE IF EXISTS {self.table(schema, old)}")
        self.execute(conn, f"RENAME TABLE {self.table(schema, target)} TO {self.table(schema, old)}, "
                           f"{self.table(schema, new)} TO {self.table(schema, target)}")
        self.execute(conn, f"DROP TABLE {self.table(schema, old)}")
