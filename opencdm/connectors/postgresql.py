"""PostgreSQL dialect of ``generic-jdbc-connector``, on ADBC.

Reads are binary ``COPY (query) TO STDOUT`` decoded into Arrow in C; stage writes are
``adbc_ingest`` (binary ``COPY FROM STDIN``). Types ADBC hands back as extension types
(numeric, json, uuid, ...) are read as plain strings; the declared type travels in field metadata.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa

from opencdm.connectors import config
from opencdm.connectors.sql import (
    PART_COLUMN, Column, Dialect, Feed, conform, field_dialect, field_type, int_literal, plain_type,
    quote_ident, with_part,
)
from opencdm.errors import (
    CDM_CODES, CdmError, LinkRejected, LinkUnreachable, LoadFailed, MissingDriver,
)

#: Types ADBC decodes natively, by ``pg_type.typname``. Any other type is selected as text.
_NATIVE: dict[str, pa.DataType] = {
    "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(),
    "float4": pa.float32(), "float8": pa.float64(), "numeric": pa.string(),
    "bool": pa.bool_(), "date": pa.date32(), "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
    "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "bytea": pa.binary(),
}
#: Declared types that mean the same in most SQL dialects, so they survive a cross-dialect create.
_PORTABLE = re.compile(
    r"^(numeric|decimal|varchar|character varying|char|character)\s*\(\s*\d+(\s*,\s*\d+)?\s*\)$", re.I)

_COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = pg_catalog.to_regclass($1)::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = pg_catalog.to_regclass($1)::oid AND i.indisprimary"""


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
    return failure(CDM_CODES["Cdm.0902"] % cause, code="Cdm.0902")


def _connect_error(exc: Exception, secret: str | None) -> CdmError:
    cause = _cause(exc, secret)
    low = cause.lower()
    if "authentication" in low or "pg_hba.conf" in low or ("role" in low and "does not exist" in low):
        return LinkRejected(f"{CDM_CODES['Cdm.0950']} Cause: {cause}.", code="Cdm.0950")
    if "database" in low and "does not exist" in low:
        return LinkRejected(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    return LinkUnreachable(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")


class PostgresDialect(Dialect):
    name = "postgresql"

    def validate(self) -> None:
        config.require(self.link, "linkConfig.host", "linkConfig.port", "linkConfig.username",
                       "linkConfig.password")
        port = config.get_int(self.link, "linkConfig.port")
        if not 0 < port < 65536:
            raise config.invalid("linkConfig.port", port, "a TCP port")

    def _uri(self) -> str:
        self.validate()
        host = config.get_str(self.link, "linkConfig.host")
        host = f"[{host}]" if ":" in host else host
        user = quote(config.get_str(self.link, "linkConfig.username"), safe="")
        password = quote(config.get_secret(self.link, "linkConfig.password"), safe="")
        db = quote(config.get_str(self.link, "linkConfig.database", "postgres"), safe="")
        opts = {"connect_timeout": "10", "application_name": "opencdm", "options": "-c TimeZone=UTC"}
        if config.get_bool(self.link, "linkConfig.useSSL"):
            opts["sslmode"] = "require"
        port = config.get_int(self.link, "linkConfig.port")
        return f"postgresql://{user}:{password}@{host}:{port}/{db}?{urlencode(opts, quote_via=quote)}"

    def check(self) -> None:
        with self.connect(LinkRejected) as conn:
            self.query(conn, "SELECT 1")

    @contextmanager
    def connect(self, failure: type[CdmError], table: str | None = None, write: bool = False) -> Iterator[Any]:
        dbapi = _driver()
        from adbc_driver_manager import Error

        secret = config.get_secret(self.link, "linkConfig.password")
        try:
            conn = dbapi.connect(self._uri())
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
        return int_literal(value)

    def columns(self, conn: Any, schema: str | None, table: str) -> list[Column] | None:
        rows = self.query(conn, _COLUMNS, [self.table(schema, table)])
        if not rows and not self.query(conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                                       [self.table(schema, table)])[0][0]:
            return None
        return [_column(n, t, tn, not nn) for n, t, tn, nn in rows]

    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]:
        return [r[0] for r in self.query(conn, _PRIMARY_KEY, [self.table(schema, table)])]

    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(sql, parameters=tuple(params) if params else None)
            return cur.fetchall()

    def execute(self, conn: Any, sql: str) -> None:
        with conn.cursor() as cur:
            cur.execute(sql)

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        with conn.cursor() as cur:
            cur.execute(sql, parameters=tuple(params) if params else None)
            for batch in cur.fetch_record_batch():
                if batch.num_rows:
                    yield conform(batch, schema)

    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        self.execute(conn, f"DROP TABLE IF EXISTS {self.table(schema, stage)}")
        plain = _stage_schema(fields)
        with conn.cursor() as cur:
            cur.adbc_ingest(stage, plain.empty_table(), mode="create", db_schema_name=schema)
        self.execute(conn, f"ALTER TABLE {self.table(schema, stage)} SET UNLOGGED")

    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        it = iter(batches)
        first = next(it, None)
        with self.connect(LoadFailed, stage, write=True) as conn, self.transaction(conn):
            self.execute(conn, f"DELETE FROM {self.table(schema, stage)} WHERE {PART_COLUMN} = {int(index)}")
            if first is None:
                return 0
            target = _stage_schema(first.schema)
            data = pa.schema(list(target)[:-1])
            feed = Feed(itertools.chain((first,), it), lambda b: with_part(conform(b, data), index))
            try:
                with conn.cursor() as cur:
                    cur.adbc_ingest(stage, feed.reader(target), mode="append", db_schema_name=schema)
            except Exception:
                feed.reraise()
                raise
            return feed.rows

    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        declared = field_type(f)
        if declared and _PORTABLE.match(declared):
            return declared
        if declared and field_dialect(f) == self.name:  # user types (enums, domains) may not exist here
            if self.query(conn, "SELECT pg_catalog.to_regtype($1) IS NOT NULL", [declared])[0][0]:
                return declared
        return _arrow_ddl(plain_type(f.type))

    def clear_sql(self, table: str) -> str:
        return f"TRUNCATE TABLE {table}"


def _column(name: str, declared: str, typname: str, nullable: bool) -> Column:
    if typname in _NATIVE:
        return Column(name, declared, nullable, _NATIVE[typname])
    ident = quote_ident(name)
    return Column(name, declared, nullable, pa.string(), expr=f"CAST({ident} AS text) AS {ident}")



def _stage_schema(fields: pa.Schema) -> pa.Schema:
    cols = [pa.field(f.name, plain_type(f.type)) for f in fields if f.name != PART_COLUMN]
    return pa.schema([*cols, pa.field(PART_COLUMN, pa.int32())])


def _arrow_ddl(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time without time zone"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if pa.types.is_interval(t):
        return "interval"
    return "text"
