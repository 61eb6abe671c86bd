"""PostgreSQL's typed staging: each partition written once into a stage with the target's own
types (one binary COPY when ADBC can write the columns, else through a temporary table and a
CAST), idempotently per partition (``jdbc.staging``), rows the target rejects isolated under
savepoints; the kept target's NOT NULLs and CHECKs and a deferred primary key; and the binary
COPY passthrough's loading half. Mixed into ``PostgresDialect``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import conform, field_dialect, field_type, plain_type
from opencdm.connectors.base import Chunk
from opencdm.connectors.formats.csv import parse_native
from opencdm.connectors.isolate import write_isolating
from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.adbc import Feed
from opencdm.connectors.jdbc.postgresql import types
from opencdm.connectors.jdbc.sqltext import quote_ident
from opencdm.errors import LoadFailed


_NOT_NULL = """
SELECT a.attname FROM pg_catalog.pg_attribute a
WHERE a.attrelid = pg_catalog.to_regclass($1)::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull"""


_CHECKS = """
SELECT pg_catalog.pg_get_constraintdef(c.oid), pg_catalog.array_to_json(ARRAY(
         SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)))::text
FROM pg_catalog.pg_constraint c WHERE c.conrelid = pg_catalog.to_regclass($1)::oid AND c.contype = 'c'"""


_KEY_COMMENT = "opencdm primary key: "  # an owned stage's deferred key, as JSON, until commit builds it


_LOAD_TABLE = "opencdm_load"

#: Python codecs of CSV files COPY can read as they are, with PostgreSQL's name for each.
_PG_ENCODINGS = {"utf-8": "UTF8", "gbk": "GBK", "gb18030": "GB18030", "big5": "BIG5", "latin-1": "LATIN1",
                 "iso8859-1": "LATIN1", "cp1252": "WIN1252", "euc_jp": "EUC_JP", "shift_jis": "SJIS", "euc_kr": "EUC_KR"}  # per-load temporary table for types ADBC cannot write directly


def _row_error(exc: Exception) -> bool:
    """A rejection of the rows themselves (bad value, constraint), not of the connection."""
    return str(getattr(exc, "sqlstate", None) or "").startswith(("22", "23"))


class PostgresLoads:
    """The writing half of ``PostgresDialect`` (see the module docstring)."""

    def load_typed(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch],
                   dirty: Any = None) -> int:
        ledger = self.table(schema, staging.ledger_name(stage))
        # BEGIN/COMMIT by hand: ADBC's own transactions refuse ROLLBACK TO SAVEPOINT after an error
        with self.connect_adbc(LoadFailed, stage, write=True, autocommit=True) as conn, self._begin(conn):
            done = staging.claim(lambda s: self.execute(conn, s), lambda s: self.query(conn, s), ledger, index)
            if done is not None:
                staging.drain(batches)
                return done
            rows = self.write_rows(conn, schema, stage, batches, dirty)
            self.execute(conn, staging.record_sql(ledger, index, rows))
            return rows

    def write_rows(self, conn: Any, schema: str | None, table: str, batches: Iterable[pa.RecordBatch],
                   dirty: Any = None) -> int:
        """Inside the caller's transaction: ``batches`` into ``table`` (see ``_write``); rows written."""
        it = iter(batches)
        first = next(it, None)
        return 0 if first is None else self._write(conn, schema, table, itertools.chain((first,), it),
                                                   first.schema, dirty)

    def two_phase_reason(self, conn: Any, schema: str | None, table: str, names: Sequence[str],
                         fields: pa.Schema, partitions: int) -> str | None:
        from opencdm.connectors.jdbc.postgresql import twophase

        return twophase.reason(self, conn, schema, table, names, fields, partitions)

    def load_prepared(self, schema: str | None, table: str, ledger: str, run: str, index: int,
                      batches: Iterable[pa.RecordBatch], dirty: Any = None) -> int:
        from opencdm.connectors.jdbc.postgresql import twophase

        return twophase.load(self, schema, table, ledger, run, index, batches, dirty)

    def load_native_prepared(self, schema: str | None, table: str, ledger: str, run: str, index: int,
                             chunks: Iterable[Chunk], fmt: str) -> int:
        from opencdm.connectors.jdbc.postgresql import twophase

        return twophase.load_native(self, schema, table, ledger, run, index, chunks, fmt)

    def commit_prepared(self, ledger: str, run: str, latest: dict[int, int], label: str) -> None:
        from opencdm.connectors.jdbc.postgresql import twophase

        twophase.commit(self, ledger, run, latest, label)

    def resolve_prepared(self, ledger: str, run: str, label: str) -> str | None:
        from opencdm.connectors.jdbc.postgresql import twophase

        return twophase.resolve(self, ledger, run, label)

    @contextmanager
    def _begin(self, conn: Any) -> Iterator[None]:
        self.execute(conn, "BEGIN")
        try:
            yield
        except BaseException:
            try:
                self.execute(conn, "ROLLBACK")
            except Exception:  # the original error matters more than a failed rollback
                pass
            raise
        self.execute(conn, "COMMIT")

    def _write(self, conn: Any, schema: str | None, stage: str, batches: Iterator[pa.RecordBatch],
               source: pa.Schema, dirty: Any) -> int:
        cols = self.columns(conn, schema, stage) or []
        plan = types.write_plan(cols, source)
        if plan is not None and dirty is None:  # the fast path: one binary COPY straight into the stage
            with conn.cursor() as cur:
                return Feed(batches, lambda b: conform(b, plan)).ingest(cur, stage, plan, db_schema_name=schema)
        # batch by batch: types ADBC cannot write go through a temporary table and a CAST; with
        # ``dirty``, each batch under a savepoint so rejected rows can be bisected out
        if plan is None:
            plain = pa.schema([pa.field(f.name, plain_type(f.type)) for f in source])
            with conn.cursor() as cur:
                cur.adbc_ingest(_LOAD_TABLE, plain.empty_table(), mode="create", temporary=True)
            exprs = ", ".join(self.cast(quote_ident(f.name), c) for f, c in zip(source, cols))
            names = ", ".join(quote_ident(c.name) for c in cols)
            move = f"INSERT INTO {self.table(schema, stage)} ({names}) SELECT {exprs} FROM pg_temp.{_LOAD_TABLE}"

            def write(batch: pa.RecordBatch) -> None:
                with conn.cursor() as cur:
                    cur.adbc_ingest(_LOAD_TABLE, conform(batch, plain), mode="append", temporary=True)
                self.execute(conn, move)
                self.execute(conn, f"TRUNCATE pg_temp.{_LOAD_TABLE}")
        else:
            def write(batch: pa.RecordBatch) -> None:
                with conn.cursor() as cur:
                    cur.adbc_ingest(stage, conform(batch, plan), mode="append", db_schema_name=schema)

        @contextmanager
        def savepoint() -> Iterator[None]:
            if dirty is None:
                yield
                return
            self.execute(conn, "SAVEPOINT opencdm_batch")
            try:
                yield
            except BaseException:
                self.execute(conn, "ROLLBACK TO SAVEPOINT opencdm_batch")
                raise
            self.execute(conn, "RELEASE SAVEPOINT opencdm_batch")

        rows = sum(write_isolating(b, write, savepoint, _row_error, dirty) for b in batches if b.num_rows)
        if plan is None:
            self.execute(conn, f"DROP TABLE pg_temp.{_LOAD_TABLE}")
        return rows

    def kept_constraints(self, conn: Any, schema: str | None, table: str, columns: Sequence[str]
                         ) -> tuple[set[str], list[str]]:
        rel = [self.table(schema, table)]
        not_null = {r[0] for r in self.query(conn, _NOT_NULL, rel)} & set(columns)
        checks = [(d, json.loads(cols)) for d, cols in self.query(conn, _CHECKS, rel)]
        return not_null, [d for d, cols in checks if set(cols) <= set(columns)]

    def defer_primary_key(self, conn: Any, schema: str | None, stage: str, columns: Sequence[str]) -> None:
        key = _KEY_COMMENT + json.dumps(list(columns))
        self.execute(conn, f"COMMENT ON TABLE {self.table(schema, stage)} IS {self.inline(key)}")

    def build_primary_key(self, conn: Any, schema: str | None, stage: str) -> None:
        table = self.table(schema, stage)
        rows = self.query(conn, "SELECT pg_catalog.obj_description(pg_catalog.to_regclass($1), 'pg_class')", [table])
        comment = rows[0][0] if rows else None
        if comment and comment.startswith(_KEY_COMMENT):
            cols = ", ".join(quote_ident(c) for c in json.loads(comment[len(_KEY_COMMENT):]))
            self.execute(conn, f"ALTER TABLE {table} ADD PRIMARY KEY ({cols})")
            self.execute(conn, f"COMMENT ON TABLE {table} IS NULL")

    def native_types_ok(self, conn: Any, fields: pa.Schema, schema: str | None, stage: str) -> bool:
        # Same declared type on both sides, and a type the extractor selects as itself (no text
        # cast): built-in types whose binary form carries no database-specific OIDs.
        cols = self.columns(conn, schema, stage) or []
        return len(fields) == len(cols) and all(
            field_dialect(f) == self.name and field_type(f) == c.type and c.expr is None for f, c in zip(fields, cols))

    def reads_native(self, fmt: str) -> bool:
        csv = parse_native(fmt)
        return csv is not None and csv[1] in _PG_ENCODINGS

    def _copy_sql(self, table: str, fmt: str) -> str:
        if fmt == self.native_format:
            return f"COPY {table} FROM STDIN (FORMAT binary)"
        sep, codec = parse_native(fmt)
        return (f"COPY {table} FROM STDIN (FORMAT csv, DELIMITER {self.inline(sep)}, "
                f"ENCODING '{_PG_ENCODINGS[codec]}')")

    def load_native(self, schema: str | None, stage: str, index: int, chunks: Iterable[Chunk], fmt: str) -> int:
        ledger = self.table(schema, staging.ledger_name(stage))
        with self.connect_copy(LoadFailed, stage, write=True) as conn, conn.transaction():
            done = staging.claim(lambda s: self.execute(conn, s), lambda s: self.query(conn, s), ledger, index)
            if done is not None:
                staging.drain(chunks)
                return done
            rows = self.copy_chunks(conn, self.table(schema, stage), chunks, fmt)
            self.execute(conn, staging.record_sql(ledger, index, rows))
            return rows

    def copy_chunks(self, conn: Any, table: str, chunks: Iterable[Chunk], fmt: str) -> int:
        """Inside the caller's transaction (psycopg): one ``COPY`` of the native stream; rows written."""
        rows = 0
        with conn.cursor() as cur:
            with cur.copy(self._copy_sql(table, fmt)) as copy:
                for chunk in chunks:
                    copy.write(chunk.data)
                    rows += chunk.rows
            return cur.rowcount if cur.rowcount >= 0 else rows  # the server's count (CSV lines may wrap)
