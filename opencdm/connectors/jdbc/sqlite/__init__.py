"""SQLite dialect of ``generic-jdbc-connector``: ``linkConfig.database`` is a file path.

The path must resolve (symlinks followed) inside one of ``ConnectorContext.allowed_dirs``, so
a link cannot read or create files anywhere else. Reads use the stdlib ``sqlite3`` and choose
Arrow types from the declared column types (SQLite's own affinity rules, plus dates and
timestamps); stage writes use ADBC ingest, which measured about twice as fast as
``executemany``. Dates and timestamps are stored as ISO text, booleans as 0/1.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from opencdm.connectors.arrow import field_dialect, field_type
from opencdm.connectors.files.paths import confine
from opencdm.connectors.isolate import write_isolating
from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.adbc import Feed
from opencdm.connectors.jdbc.dialect import Column, Dialect
from opencdm.connectors.jdbc.sqlite import types
from opencdm.connectors.jdbc.sqltext import derived_table, quote_ident
from opencdm.connectors.partitioning import split_range
from opencdm.errors import CDM_CODES, CdmError, LinkRejected, LinkUnreachable, LoadFailed, MissingDriver


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
        return confine(self.link.database, self.ctx, "linkConfig.database")

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
                   types.arrow_type(decl))
            for _cid, name, decl, notnull, _default, pk in rows
        ] or None

    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]:
        return [r[1] for r in sorted((r for r in self._info(conn, table) if r[5]), key=lambda r: r[5])]

    def tables(self, conn: Any) -> list[tuple[str | None, str]]:
        rows = self.query(conn, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                                " AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")
        return [(None, r[0]) for r in rows]

    def foreign_keys(self, conn: Any) -> list[tuple[tuple[str | None, str], tuple[str | None, str]]]:
        pairs = []
        for _, table in self.tables(conn):
            found = self.query(conn, f"PRAGMA foreign_key_list({quote_ident(table)})")
            pairs += [((None, table), (None, r[2])) for r in found]
        return pairs

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
                seen = {n: types.storage_decl(set((k or "").split(",")) - {"null", ""}) for n, k in zip(untyped, row)}
        finally:
            self.execute(conn, f"DROP VIEW IF EXISTS temp.{view}")
        return [Column(n, decl or seen[n], True, types.arrow_type(decl or seen[n])) for n, decl in info]

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

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema,
             row_bytes: int | None = None) -> Iterator[pa.RecordBatch]:
        """One statement, never two (see ``query``)."""
        size = min(max(self.link.fetch_size or 65536, 1024), 1 << 20)
        cur = conn.execute(sql, tuple(params))
        while rows := cur.fetchmany(size):
            cols = list(zip(*rows))
            yield pa.RecordBatch.from_arrays([types.to_array(c, f) for c, f in zip(cols, schema)], schema=schema)


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
        return types.stage_sql_type(t)

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
    feed = Feed(batches, lambda b: pa.RecordBatch.from_arrays(
        [types.storable(c, f) for c, f in zip(b.columns, b.schema)], names=names))
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


