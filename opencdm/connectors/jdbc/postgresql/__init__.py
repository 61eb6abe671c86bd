"""PostgreSQL dialect of ``generic-jdbc-connector``, on ADBC.

Reads are binary ``COPY (query) TO STDOUT`` decoded into Arrow in C; stage writes are
``adbc_ingest`` (binary ``COPY FROM STDIN``). Types ADBC hands back as extension types
(numeric, json, uuid, ...) are read as plain strings; the declared type travels in field metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa

from opencdm.connectors import egress
from opencdm.connectors.arrow import conform, field_dialect, field_type, plain_type
from opencdm.connectors.jdbc.dialect import Column, Dialect
from opencdm.connectors.jdbc.postgresql import types
from opencdm.connectors.jdbc.postgresql.load import PostgresLoads
from opencdm.connectors.jdbc.sqltext import derived_table, quote_ident, sql_literal
from opencdm.errors import (
    CDM_CODES, CdmError, ExtractFailed, LinkRejected, LinkUnreachable, LoadFailed, MissingDriver
)


_COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = pg_catalog.to_regclass($1)::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = pg_catalog.to_regclass($1)::oid AND i.indisprimary"""
_TABLES = """
SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND left(n.nspname, 3) <> 'pg_'
  AND n.nspname <> 'information_schema' AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"""
_FOREIGN_KEYS = """
SELECT cn.nspname, c.relname, pn.nspname, p.relname FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_class p ON p.oid = k.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
WHERE k.contype = 'f'"""
_SIZE = """
SELECT c.relkind, c.reltuples, pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int
FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)"""

#: Arrow batches read from PostgreSQL aim at this size (ADBC's default, 16 MiB, was no faster and
#: held ~90 MiB more per worker in a 2.5M-row partition).
BATCH_BYTES = 1 << 20
#: ``native_format``: the rows of ``COPY (query) TO STDOUT (FORMAT binary)``, byte for byte.
NATIVE_FORMAT = "postgresql-copy-binary"
#: A native chunk is handed on at this size, or after this long when the source is slow.
CHUNK_BYTES, CHUNK_SECONDS = 1 << 18, 0.5


def _driver() -> Any:
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError as exc:
        raise MissingDriver("The PostgreSQL driver is missing: pip install adbc-driver-postgresql") from exc
    return dbapi


def _cause(exc: BaseException, secret: str | None) -> str:
    """The useful line of a libpq/ADBC message, without the echoed query or any secret."""
    text = str(exc).split("\nQuery was:")[0].split(". SQLSTATE:")[0]
    for marker in ("ERROR:", "FATAL:"):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = re.sub(r"^\s*[A-Z_]+: (\[libpq\] )?", "", text).strip()
    line = " ".join(text.split())[:500].rstrip(".")
    return line.replace(secret, "***") if secret else line


def _translate(exc: Exception, failure: type[CdmError], table: str | None, secret: str | None) -> CdmError:
    state = getattr(exc, "sqlstate", None) or ""
    cause = _cause(exc, secret)
    if state in ("42P01", "3F000"):
        m = re.search(r'(?:relation|schema) "([^"]+)" does not exist', cause)
        return LinkRejected(CDM_CODES["Cdm.0900"] % (m.group(1) if m else table), code="Cdm.0900")
    if state.startswith("28"):
        return LinkRejected(f"{CDM_CODES['Cdm.0950']} Cause: {cause}.", code="Cdm.0950")
    if state.startswith(("08", "57P")):
        return LinkUnreachable(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    nul = re.search(r"0x00\b.*\bcolumn (\S+?)\.?$", cause) if state == "22021" else None
    if nul:  # PostgreSQL text cannot hold U+0000; opencdm fails rather than strip it (docs/types.md)
        return LoadFailed(CDM_CODES["Cdm.0234"] % f"column [{nul.group(1)}] holds a NUL character (U+0000), which "
                          "PostgreSQL text cannot store", code="Cdm.0234")
    return failure(CDM_CODES["Cdm.0902"] % cause, code="Cdm.0902")


def _connect_error(exc: Exception, secret: str | None) -> CdmError:
    cause = _cause(exc, secret)
    low = cause.lower()
    if "authentication" in low or "pg_hba.conf" in low or ("role" in low and "does not exist" in low):
        return LinkRejected(f"{CDM_CODES['Cdm.0950']} Cause: {cause}.", code="Cdm.0950")
    if "database" in low and "does not exist" in low:
        return LinkRejected(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    return LinkUnreachable(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")


class PostgresDialect(PostgresLoads, Dialect):
    name = "postgresql"
    typed_stage = True
    two_phase = True
    driver_properties = frozenset({"currentSchema", "ApplicationName", "connectTimeout", "ssl", "sslmode"})
    scratch_table = "UNLOGGED "
    native_format = NATIVE_FORMAT
    deferred_primary_key = True

    def _uri(self, write: bool = True) -> str:
        link = self.link
        host = f"[{link.host}]" if ":" in link.host else link.host
        user = quote(link.username, safe="")
        password = quote(link.password, safe="")
        db = quote(link.database or "postgres", safe="")
        opts = {k: str(v) for k, v in self._options(write).items()}
        return f"postgresql://{user}:{password}@{host}:{link.port}/{db}?{urlencode(opts, quote_via=quote)}"

    def check(self) -> None:
        with self.connect(LinkRejected) as conn:
            self.query(conn, "SELECT 1")

    @contextmanager
    def connect(self, failure: type[CdmError], table: str | None = None, write: bool = False,
                autocommit: bool = False) -> Iterator[Any]:
        """A psycopg connection for catalog queries, DDL and commits: the server plans and commits
        runs without loading ADBC (and the pyarrow modules it pulls in)."""
        with self.connect_copy(failure, table, write, autocommit=autocommit) as conn:
            yield conn

    @contextmanager
    def connect_adbc(self, failure: type[CdmError], table: str | None = None, write: bool = False,
                     autocommit: bool = False) -> Iterator[Any]:
        """An ADBC connection, for Arrow reads and ``adbc_ingest`` (worker side)."""
        dbapi = _driver()
        from adbc_driver_manager import Error

        secret = self.link.password
        try:
            conn = dbapi.connect(self._uri(write), autocommit=autocommit)
        except Error as exc:
            raise _connect_error(exc, secret) from exc
        try:
            yield conn
        except Error as exc:
            raise _translate(exc, failure, table, secret) from exc
        except pa.ArrowException as exc:
            raise failure(str(exc)) from exc
        finally:
            try:
                conn.close()
            except Error:
                pass

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        try:
            yield
        except BaseException:
            try:
                conn.rollback()
            except Exception:  # the original error matters more than a failed rollback
                pass
            raise
        conn.commit()

    def param(self, i: int) -> str:
        return f"${i}"

    def inline(self, value: Any) -> str | None:
        if isinstance(value, str):  # an E'' string means the same whatever standard_conforming_strings says
            return None if "\x00" in value else "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return sql_literal(value)

    def default_schema(self, conn: Any) -> str | None:
        return self.query(conn, "SELECT pg_catalog.current_schema()")[0][0]

    def estimated_rows(self, conn: Any, schema: str | None, table: str) -> int | None:
        # the planner's row count: free, where COUNT(*) reads the whole table (-1/0: never analysed)
        rows = self.query(conn, "SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = "
                                f"pg_catalog.to_regclass({self.inline(self.table(schema, table))})")
        return int(rows[0][0]) if rows and rows[0][0] is not None and rows[0][0] > 0 else None

    def tables(self, conn: Any) -> list[tuple[str | None, str]]:
        return [(s, t) for s, t in self.query(conn, _TABLES)]

    def foreign_keys(self, conn: Any) -> list[tuple[tuple[str | None, str], tuple[str | None, str]]]:
        return [((a, b), (c, d)) for a, b, c, d in self.query(conn, _FOREIGN_KEYS)]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        with _run(conn, f"SELECT * FROM {derived_table(sql)} LIMIT 0") as cur:
            res = cur.pgresult
            cols = [(res.fname(i).decode(), res.ftype(i), res.fmod(i)) for i in range(res.nfields)]
        named = self.query(conn, "SELECT pg_catalog.format_type(u.o, u.m), t.typname FROM unnest($1::oid[], $2::int[]) "
                                 "WITH ORDINALITY AS u(o, m, i) JOIN pg_catalog.pg_type t ON t.oid = u.o ORDER BY u.i",
                           [[c[1] for c in cols], [c[2] for c in cols]]) if cols else []
        return [types.column(name, declared, typname, True) for (name, _, _), (declared, typname) in zip(cols, named)]

    def sample_keys(self, conn: Any, source: str, key: str, cond: str, params: Sequence[Any], n: int,
                    table: tuple[str | None, str] | None = None) -> list:
        size = self.query(conn, _SIZE, [self.table(*table)]) if table else []
        if size and size[0][0] in ("r", "m"):
            _, tuples, pages = size[0]
            rows = tuples if tuples > 0 else pages * 100  # never analysed: within ~3x (<= 290 rows a page)
            if pages > 100_000:  # ~2000 random pages (not all of an 800 MB+ table), then n rows of theirs
                sql = (f"SELECT k FROM (SELECT {key} AS k FROM {source} TABLESAMPLE SYSTEM "
                       f"({100.0 * 2000 / pages:.6f}) WHERE {cond} ORDER BY random() LIMIT {int(n)}) s ORDER BY k")
                return [r[0] for r in self.query(conn, sql, params)]
            if rows > 4 * n:  # each row with probability n/rows: one pass, no sort of the table
                sql = (f"SELECT {key} AS k FROM {source} TABLESAMPLE BERNOULLI ({min(100.0, 100.0 * n / rows):.6f}) "
                       f"WHERE {cond} ORDER BY k")
                return [r[0] for r in self.query(conn, sql, params)]
        return super().sample_keys(conn, source, key, cond, params, n, table)

    def physical_key(self, conn: Any, schema: str | None, table: str, n: int) -> tuple[str, list] | None:
        size = self.query(conn, _SIZE, [self.table(schema, table)])
        if n < 2 or not size or size[0][0] not in ("r", "m"):
            return None
        pages = int(size[0][2])
        cuts = sorted({pages * i // n for i in range(1, n)} - {0})  # TID range scans since PostgreSQL 14
        return ("ctid", [f"({c},0)" for c in cuts]) if cuts else None

    def columns(self, conn: Any, schema: str | None, table: str) -> list[Column] | None:
        rows = self.query(conn, _COLUMNS, [self.table(schema, table)])
        if not rows and not self.query(conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                                       [self.table(schema, table)])[0][0]:
            return None
        return [types.column(n, t, tn, not nn) for n, t, tn, nn in rows]

    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]:
        return [r[0] for r in self.query(conn, _PRIMARY_KEY, [self.table(schema, table)])]

    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one statement; never two: over psycopg it runs in pipeline mode (``_run``), and ADBC
        prepares every statement (``PQprepare``) before running it; either way the server parses it
        with the extended query protocol, which refuses ``SELECT 1; DROP TABLE t`` as a whole."""
        if _is_psycopg(conn):
            with _run(conn, sql, params) as cur:
                return cur.fetchall()
        with conn.cursor() as cur:
            cur.execute(sql, parameters=tuple(params) if params else None)
            return cur.fetchall()

    def execute(self, conn: Any, sql: str) -> None:
        """One statement, never two (see ``query``)."""
        if _is_psycopg(conn):
            _run(conn, sql).close()
            return
        with conn.cursor() as cur:
            cur.execute(sql)

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema,
             row_bytes: int | None = None) -> Iterator[pa.RecordBatch]:
        """ADBC prepares ``sql`` to learn its columns, then runs ``COPY (sql) TO STDOUT`` with
        ``PQexecParams``: both over the extended protocol, so a second statement fails both."""
        with self.connect_adbc(ExtractFailed) as aconn, aconn.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            cur.execute(sql, parameters=tuple(params) if params else None)
            for batch in cur.fetch_record_batch():
                if batch.num_rows:
                    yield conform(batch, schema)

    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        declared = field_type(f)
        if declared and types.PORTABLE.match(declared):
            return declared
        if declared and field_dialect(f) == self.name:  # user types (enums, domains) may not exist here
            if self.query(conn, "SELECT pg_catalog.to_regtype($1) IS NOT NULL", [declared])[0][0]:
                return declared
        return types.arrow_ddl(plain_type(f.type))

    def clear_sql(self, table: str) -> str:
        return f"TRUNCATE TABLE {table}"

    def clear(self, conn: Any, table: str) -> None:
        """``TRUNCATE``, or ``DELETE`` when another table's foreign key references it (PostgreSQL refuses
        to truncate such a table even when no row refers to it; a row that does still stops the DELETE)."""
        referenced = self.query(conn, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE contype = 'f' "
                                      "AND confrelid = pg_catalog.to_regclass($1) AND conrelid <> confrelid)", [table])
        self.execute(conn, f"DELETE FROM {table}" if referenced[0][0] else self.clear_sql(table))

    # -- psycopg connections (catalog, DDL, commits, COPY) ------------------------------------------

    def _conninfo(self, write: bool) -> dict[str, Any]:
        """libpq keywords for psycopg: the same server, options and credentials as ``_uri``."""
        link = self.link
        info = {"host": link.host, "port": link.port, "user": link.username, "password": link.password,
                "dbname": link.database or "postgres", **self._options(write)}
        return info

    def _options(self, write: bool) -> dict[str, Any]:
        """libpq options of every connection: ours, then ``useSSL`` and the ``jdbcProperties`` that mean
        something to libpq (PgJDBC names: currentSchema, ApplicationName, connectTimeout, sslmode, ssl);
        ``dialect_for`` refuses any other."""
        props = self.link.properties
        opts: dict[str, Any] = {"connect_timeout": int(props.get("connectTimeout") or 10),
                                "application_name": props.get("ApplicationName") or "opencdm",
                                "options": "-c TimeZone=UTC"}
        if props.get("currentSchema"):
            opts["options"] += " -c search_path=" + props["currentSchema"].replace(" ", r"\ ")
        pinned = egress.address(self.link.host, self.link.port, self.ctx)
        if pinned != self.link.host:  # connect where the allow-list check looked; TLS still verifies the name
            opts["hostaddr"] = pinned
        if not write:  # reads (custom SQL included) cannot change anything
            opts["options"] += " -c default_transaction_read_only=on"
        if self.link.use_ssl or props.get("ssl") == "true":
            opts["sslmode"] = "require"
        if props.get("sslmode"):
            opts["sslmode"] = props["sslmode"]
        return opts

    @contextmanager
    def connect_copy(self, failure: type[CdmError], table: str | None = None, write: bool = False,
                     autocommit: bool = True) -> Iterator[Any]:
        """A psycopg connection (autocommit unless asked) for raw COPY and catalog work; errors translated."""
        try:
            import psycopg
        except ImportError as exc:
            raise MissingDriver("The PostgreSQL COPY driver is missing: pip install 'psycopg[binary]'") from exc
        secret = self.link.password
        try:
            conn = psycopg.connect(**self._conninfo(write), autocommit=autocommit)
        except psycopg.Error as exc:
            raise _connect_error(exc, secret) from exc
        try:
            yield conn
        except psycopg.Error as exc:
            raise _translate(exc, failure, table, secret) from exc
        finally:
            conn.close()

    def rename_table(self, conn: Any, schema: str | None, old: str, new: str) -> None:
        super().rename_table(conn, schema, old, new)
        table = self.table(schema, new)
        pk = self.query(conn, "SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'p' AND "
                              "conrelid = pg_catalog.to_regclass($1)::oid", [table])
        want = new.encode()[:58].decode(errors="ignore") + "_pkey"  # PostgreSQL's own default name
        if pk and pk[0][0] != want and not self.query(conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                                                      [self.table(schema, want)])[0][0]:
            self.execute(conn, f"ALTER TABLE {table} RENAME CONSTRAINT {quote_ident(pk[0][0])} TO {quote_ident(want)}")

    def swap_reason(self, conn: Any, schema: str | None, table: str, names: Sequence[str]) -> str | None:
        from opencdm.connectors.jdbc.postgresql import swap

        return swap.reason(self, conn, self.table(schema, table), names)

    def twin_sql(self, conn: Any, schema: str | None, table: str, stage: str) -> str:
        from opencdm.connectors.jdbc.postgresql import swap

        return swap.create_stage_sql(self, conn, self.table(schema, table), self.table(schema, stage))

    def swap(self, conn: Any, schema: str | None, stage: str, table: str) -> None:
        from opencdm.connectors.jdbc.postgresql import swap

        swap.swap(self, conn, schema, stage, self.table(schema, table), table)

    def lock(self, conn: Any, table: str) -> None:
        self.execute(conn, f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    def select_expr(self, col: Column) -> str:
        """``numeric`` columns as the server's text: PostgreSQL prints numerics faster than ADBC decodes
        their binary form (the same exact text either way)."""
        if col.expr is None and col.type.startswith("numeric"):
            ident = quote_ident(col.name)
            return f"CAST({ident} AS text) AS {ident}"
        return super().select_expr(col)

    def raw_reader(self) -> PostgresDialect:
        from opencdm.connectors.jdbc.postgresql.copy import CopyReader  # the passthrough only

        return CopyReader(self.link, self.ctx)


def _is_psycopg(conn: Any) -> bool:
    return type(conn).__module__.startswith("psycopg")


def _run(conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    """A cursor (``$1`` placeholders, as ADBC takes them) that ran ``sql`` on a psycopg connection in
    pipeline mode, where libpq sends every query with the extended protocol (Parse, Bind, Execute):
    a Parse holds one statement, so a second one fails the whole query. Without parameters psycopg
    would otherwise use the simple protocol, which runs any number of statements. Costs ~0.05 ms."""
    import psycopg

    cur, args = psycopg.RawCursor(conn), tuple(params) if params else None
    if psycopg.capabilities.has_pipeline():
        with conn.pipeline():
            cur.execute(sql, args)
    else:  # libpq < 14: a named prepared statement, also a single Parse
        cur.execute(sql, args, prepare=True)
    return cur


