"""SQLite dialect of ``generic-jdbc-connector``: ``linkConfig.database`` is a file path.

The path must resolve (symlinks followed) inside one of ``ConnectorContext.allowed_dirs``, so
a link cannot read or create files anywhere else. Reads use the stdlib ``sqlite3`` and choose
Arrow types from the declared column types (SQLite's own affinity rules, plus dates and
timestamps); stage writes use ADBC ingest, which measured about twice as fast as
``executemany``. Dates and timestamps are stored as ISO text, booleans as 0/1.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from opencdm.connectors import arrays, config, staging
from opencdm.connectors.bisect import write_isolating
from opencdm.connectors.files.paths import confine
from opencdm.connectors.sql import (
    PART_COLUMN, Column, Dialect, Feed, derived_table, field_dialect, field_type, quote_ident, split_range,
    with_part,
)
from opencdm.errors import (
    CDM_CODES, CdmError, ExtractFailed, LinkRejected, LinkUnreachable, LoadFailed,
    MissingDriver,
)

UTC = dt.timezone.utc
_BOOL_WORDS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def arrow_type(declared: str) -> pa.DataType:
    """Arrow type for a declared SQLite column type (affinity rules first, then dates and times)."""
    d = declared.upper()
    if "INT" in d:
        return pa.int64()
    if any(k in d for k in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in d or "BINARY" in d:
        return pa.binary()
    if any(k in d for k in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    if "BOOL" in d:
        return pa.bool_()
    if "TIMESTAMPTZ" in d or "WITH TIME ZONE" in d:
        return pa.timestamp("us", tz="UTC")
    if "DATETIME" in d or "TIMESTAMP" in d:
        return pa.timestamp("us")
    if "DATE" in d:
        return pa.date32()
    return pa.string()  # NUMERIC/DECIMAL (kept exact as text), untyped, anything else


def _to_array(values: Sequence[Any], f: pa.Field) -> pa.Array:
    t = f.type
    try:
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return pa.array(values, pa.string()).cast(t)
        if pa.types.is_boolean(t):
            return pa.array(values, pa.int64()).cast(t)
        return pa.array(values, t)
    except _ARROW_ERRORS:
        pass
    if pa.types.is_string(t):
        try:  # numbers in a NUMERIC or untyped column: Arrow formats them in C
            return pa.array(values).cast(t)
        except _ARROW_ERRORS:
            pass
    # mixed storage classes (SQLite is dynamically typed): convert value by value
    try:
        return pa.array([None if v is None else _convert(v, t) for v in values], t)
    except (ValueError, TypeError, OverflowError, pa.ArrowException) as exc:
        raise ExtractFailed(CDM_CODES["Cdm.0233"] % f"column [{f.name}] cannot be read as {t}: {exc}",
                            code="Cdm.0233") from exc


def _convert(v: Any, t: pa.DataType) -> Any:
    if pa.types.is_string(t):
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    if pa.types.is_integer(t):
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"{v!r} is not an integer")
        return int(v)
    if pa.types.is_floating(t):
        return float(v)
    if pa.types.is_binary(t):
        return v if isinstance(v, bytes) else str(v).encode()
    if pa.types.is_boolean(t):
        if isinstance(v, str):
            word = v.strip().lower()
            if word not in _BOOL_WORDS:
                raise ValueError(f"{v!r} is not a boolean")
            return _BOOL_WORDS[word]
        return bool(v)
    stamp = _timestamp(v, t)
    return stamp.date() if pa.types.is_date(t) else stamp


def _timestamp(v: Any, t: pa.DataType) -> dt.datetime:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            stamp = dt.datetime.fromisoformat(v.strip())
        else:
            stamp = dt.datetime.fromtimestamp(v, UTC)
    else:
        stamp = dt.datetime.fromtimestamp(v, UTC)  # epoch seconds
    if getattr(t, "tz", None):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def storable(arr: pa.Array, f: pa.Field | None = None) -> pa.Array:
    """``arr`` as a type SQLite stores readably: ISO text for dates and times, 0/1 for booleans.

    A PostgreSQL array column (``f`` says so) becomes JSON text (``opencdm.connectors.arrays``).
    """
    import pyarrow.compute as pc  # here, not at import: workers that never write SQLite skip ~10 MiB

    if f is not None and arrays.is_pg_array(f):
        arr = arrays.to_json(f, arr)
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    t = arr.type
    if f is not None and pa.types.is_floating(t) and pc.any(pc.is_nan(arr)).as_py():
        raise LoadFailed(CDM_CODES["Cdm.0234"] % f"column [{f.name}] holds NaN, which SQLite stores as NULL",
                         code="Cdm.0234")
    if pa.types.is_dictionary(t):
        return storable(arr.dictionary_decode())
    if pa.types.is_boolean(t):
        return arr.cast(pa.int64())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) \
            or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return arr
    if pa.types.is_fixed_size_binary(t):
        return arr.cast(pa.binary())
    if pa.types.is_timestamp(t):  # SQLite's own text form: no fraction when it is zero
        text = pc.replace_substring_regex(arr.cast(pa.timestamp(t.unit)).cast(pa.string()), r"\.0+$", "")
        # formatting in UTC directly is ~8x faster than via the tz
        return pc.binary_join_element_wise(text, "+00:00", "") if t.tz else text
    try:
        return arr.cast(pa.string())
    except pa.ArrowNotImplementedError:
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def _stage_sql_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_floating(t):
        return "REAL"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    return "TEXT"


@contextmanager
def _guard(failure: type[CdmError], table: str | None) -> Iterator[None]:
    """Translate sqlite3 and ADBC errors raised in the block into the opencdm tree."""
    try:
        from adbc_driver_manager import Error
    except ImportError:
        Error = sqlite3.Error  # noqa: N806
    try:
        yield
    except (sqlite3.Error, Error) as exc:
        raise _translate(exc, failure, table) from exc
    except pa.ArrowException as exc:
        raise failure(str(exc)) from exc


def _translate(exc: Exception, failure: type[CdmError], table: str | None) -> CdmError:
    cause = " ".join(str(exc).split())[:500].rstrip(".")
    low = cause.lower()
    if "no such table" in low:
        return LinkRejected(CDM_CODES["Cdm.0900"] % (table or cause.split(":")[-1].strip()), code="Cdm.0900")
    if "not a database" in low or "readonly" in low:
        return LinkRejected(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    if "locked" in low or "unable to open" in low or "disk i/o" in low:
        return LinkUnreachable(CDM_CODES["Cdm.0901"] % cause, code="Cdm.0901")
    return failure(CDM_CODES["Cdm.0902"] % cause, code="Cdm.0902")


class SqliteDialect(Dialect):
    name = "sqlite"
    typed_stage = True

    def path(self) -> Path:
        """The database file, resolved; InvalidInput unless inside the project's file roots."""
        config.require(self.link, "linkConfig.database")
        return confine(config.get_str(self.link, "linkConfig.database"), self.ctx, "linkConfig.database")

    def validate(self) -> None:
        self.path()

    def check(self) -> None:
        path = self.path()
        if not path.exists():
            if not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
                raise LinkRejected(CDM_CODES["Cdm.0901"] % f"cannot create {path.name}: no writable directory",
                                   code="Cdm.0901")
            return
        with self.connect(LinkRejected) as conn:
            self.query(conn, "SELECT count(*) FROM sqlite_master")

    @contextmanager
    def connect(self, failure: type[CdmError], table: str | None = None, write: bool = False) -> Iterator[Any]:
        path = self.path()
        if not write and not path.is_file():
            raise LinkRejected(CDM_CODES["Cdm.0901"] % f"database file {path.name} does not exist", code="Cdm.0901")
        with _guard(failure, table):
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode={'rwc' if write else 'ro'}", uri=True,
                                   isolation_level=None, timeout=60, check_same_thread=False)
            try:
                yield conn
            finally:
                conn.close()

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def param(self, i: int) -> str:
        return "?"

    def table(self, schema: str | None, name: str) -> str:
        return quote_ident(name)  # one file, one schema: schemaName does not apply

    def _info(self, conn: Any, table: str) -> list[tuple]:
        return self.query(conn, f"PRAGMA table_info({quote_ident(table)})")

    def columns(self, conn: Any, schema: str | None, table: str) -> list[Column] | None:
        rows = self._info(conn, table)
        rowid_alias = sum(1 for r in rows if r[5]) == 1
        return [
            Column(name, decl, not (notnull or (pk and rowid_alias and decl.upper() == "INTEGER")),
                   arrow_type(decl))
            for _cid, name, decl, notnull, _default, pk in rows
        ] or None

    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]:
        return [r[1] for r in sorted((r for r in self._info(conn, table) if r[5]), key=lambda r: r[5])]

    def tables(self, conn: Any) -> list[tuple[str | None, str]]:
        rows = self.query(conn, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                                " AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")
        return [(None, r[0]) for r in rows]

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        """Declared types through a temporary view (the temp schema is writable on a read-only
        connection); a computed column has none, so it takes the storage class of its first values."""
        view = quote_ident(f"opencdm_q_{uuid.uuid4().hex}")
        self.execute(conn, f"CREATE TEMP VIEW {view} AS SELECT * FROM {derived_table(sql)}")
        try:
            info = [(r[1], r[2]) for r in self.query(conn, f"PRAGMA temp.table_info({view})")]
            untyped = [n for n, decl in info if not decl]
            seen: dict[str, str] = {}
            if untyped:
                aggs = ", ".join(f"group_concat(DISTINCT typeof({quote_ident(n)}))" for n in untyped)
                row = self.query(conn, f"SELECT {aggs} FROM (SELECT * FROM {view} LIMIT 1000)")[0]
                seen = {n: _storage_decl(set((k or "").split(",")) - {"null", ""}) for n, k in zip(untyped, row)}
        finally:
            self.execute(conn, f"DROP VIEW IF EXISTS temp.{view}")
        return [Column(n, decl or seen[n], True, arrow_type(decl or seen[n])) for n, decl in info]

    def physical_key(self, conn: Any, schema: str | None, table: str, n: int) -> tuple[str, list] | None:
        names = {r[1].lower() for r in self._info(conn, table)}
        alias = next((a for a in ("rowid", "_rowid_", "oid") if a not in names), None)
        if n < 2 or alias is None:
            return None
        try:
            lo, hi = self.query(conn, f"SELECT min({alias}), max({alias}) FROM {quote_ident(table)}")[0]
        except sqlite3.Error:  # a WITHOUT ROWID table
            return None
        if not (isinstance(lo, int) and isinstance(hi, int)):  # a view: no rowid
            return None
        return alias, [start for start, _ in split_range(lo, hi, n)[1:]]

    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one statement: ``sqlite3`` compiles only the first statement and raises
        ProgrammingError, before running anything, when more than comments follow it."""
        return conn.execute(sql, tuple(params)).fetchall()

    def execute(self, conn: Any, sql: str) -> None:
        """One statement, never two (see ``query``)."""
        conn.execute(sql)

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """One statement, never two (see ``query``)."""
        size = min(max(config.get_int(self.link, "linkConfig.fetchSize", 65536), 1024), 1 << 20)
        cur = conn.execute(sql, tuple(params))
        while rows := cur.fetchmany(size):
            cols = list(zip(*rows))
            yield pa.RecordBatch.from_arrays([_to_array(c, f) for c, f in zip(cols, schema)], schema=schema)

    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        cols = [f"{quote_ident(f.name)} {_stage_sql_type(storable(pa.array([], f.type)).type)}" for f in fields]
        self.execute(conn, f"DROP TABLE IF EXISTS {quote_ident(stage)}")
        self.execute(conn, f"CREATE TABLE {quote_ident(stage)} ({', '.join(cols)}, {PART_COLUMN} INTEGER)")

    def drop_stage(self, schema: str | None, stage: str) -> None:
        if self.path().is_file():  # never create the database just to drop from it
            super().drop_stage(schema, stage)

    @contextmanager
    def _loading(self, stage: str) -> Iterator[tuple[Any, Any]]:
        """An ADBC connection and cursor for one partition's load: one transaction, committed when
        the block ends normally, rolled back otherwise. Loads of other partitions queue on the lock."""
        try:
            import adbc_driver_sqlite.dbapi as dbapi
        except ImportError as exc:
            raise MissingDriver("The SQLite ADBC driver is missing: pip install adbc-driver-sqlite") from exc
        path = self.path()
        if not path.is_file():
            raise LinkRejected(CDM_CODES["Cdm.0900"] % stage, code="Cdm.0900")
        with _guard(LoadFailed, stage):
            conn = dbapi.connect(str(path))
            try:
                with conn.cursor() as cur:
                    cur.execute("PRAGMA busy_timeout = 3600000")
                    yield conn, cur
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()

    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        with self._loading(stage) as (_, cur):
            cur.execute(f"DELETE FROM {quote_ident(stage)} WHERE {PART_COLUMN} = {int(index)}")
            return Feed(batches, lambda b: with_part(_storable_batch(b), index)).ingest(cur, stage)

    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        declared = field_type(f)
        if declared is not None and field_dialect(f) == self.name:
            return declared
        t = f.type.storage_type if isinstance(f.type, pa.ExtensionType) else f.type
        if pa.types.is_boolean(t):
            return "BOOLEAN"
        if pa.types.is_date(t):
            return "DATE"
        if pa.types.is_timestamp(t):
            return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return _stage_sql_type(t)

    def cast(self, expr: str, col: Column) -> str:
        return expr  # the target column's affinity converts on insert; CAST(x AS DATE) would not

    def load_typed(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch],
                   dirty: Any = None) -> int:
        with self._loading(stage) as (_, cur):

            def query(sql: str) -> list[tuple]:
                cur.execute(sql)
                return cur.fetchall()

            done = staging.claim(cur.execute, query, quote_ident(staging.ledger_name(stage)), index)
            if done is not None:
                staging.drain(batches)
                return done  # nothing written: committing the claim's read changes nothing
            names = [r[1] for r in query(f"PRAGMA table_info({quote_ident(stage)})")]
            rows = _ingest(cur, stage, names, batches, dirty)
            cur.execute(staging.record_sql(quote_ident(staging.ledger_name(stage)), index, rows))
        return rows

    def rename_table(self, conn: Any, schema: str | None, old: str, new: str) -> None:
        # legacy mode: renaming must not re-check views that name the table it replaces
        self.execute(conn, "PRAGMA legacy_alter_table = ON")
        try:
            super().rename_table(conn, schema, old, new)
        finally:
            self.execute(conn, "PRAGMA legacy_alter_table = OFF")


def _ingest(cur: Any, stage: str, names: list[str], batches: Iterable[pa.RecordBatch], dirty: Any) -> int:
    """Append ``batches`` (renamed to the stage's columns) to the stage; with ``dirty``, batch by
    batch under savepoints so rejected rows (NOT NULL, keys) are bisected out."""
    feed = Feed(batches, lambda b: pa.RecordBatch.from_arrays([storable(c, f) for c, f in zip(b.columns, b.schema)],
                                                              names=names))
    if dirty is None:
        return feed.ingest(cur, stage)

    @contextmanager
    def savepoint() -> Iterator[None]:
        cur.execute("SAVEPOINT opencdm_batch")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT opencdm_batch")
            raise
        cur.execute("RELEASE SAVEPOINT opencdm_batch")

    return sum(write_isolating(b, lambda x: cur.adbc_ingest(stage, x, mode="append"), savepoint,
                               lambda e: "constraint" in str(e).lower(), dirty) for b in feed)


def _storage_decl(kinds: set[str]) -> str:
    """A declared type for values of these storage classes (``typeof``); '' when unknown or mixed."""
    if kinds and kinds <= {"integer"}:
        return "INTEGER"
    if kinds and kinds <= {"integer", "real"}:
        return "REAL"
    return {frozenset({"text"}): "TEXT", frozenset({"blob"}): "BLOB"}.get(frozenset(kinds), "")


def _storable_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([storable(c, f) for c, f in zip(batch.columns, batch.schema)],
                                      names=batch.schema.names)

