"""MySQL / MariaDB stage writes: one ``LOAD DATA LOCAL INFILE`` stream per partition, served from
memory under the one name this loader asked for (``infile``), or multi-row ``INSERT`` statements of
``commitSize`` rows. Mixed into ``MysqlDialect``."""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.dialect import Column
from opencdm.connectors.jdbc.mysql import infile as infile_mod
from opencdm.connectors.jdbc.mysql import types, xa
from opencdm.connectors.jdbc.mysql.errors import pymysql_module
from opencdm.connectors.jdbc.sqltext import PART_COLUMN, quote_ident
from opencdm.errors import CDM_CODES, LoadFailed

log = logging.getLogger("opencdm.connectors.jdbc.mysql")
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_TEXT_PARSED = ("uuid", "inet4", "inet6", "json")
_WHERE = "{s} = COALESCE(%s, DATABASE()) AND CAST({t} AS BINARY) = CAST(%s AS BINARY)"
#: What keeps a cleared table from being rebuilt aside (``CREATE TABLE ... LIKE``) and renamed into place.
_NO_SWAP = [
    ("SELECT 1 FROM information_schema.TABLES WHERE " + _WHERE.format(s="TABLE_SCHEMA", t="TABLE_NAME")
     + " AND ENGINE <> 'InnoDB'", "it is not an InnoDB table, so its loads could not roll back"),
    ("SELECT 1 FROM information_schema.TRIGGERS WHERE "
     + _WHERE.format(s="EVENT_OBJECT_SCHEMA", t="EVENT_OBJECT_TABLE"),
     "it has triggers, which stay with a renamed table"),
    ("SELECT 1 FROM information_schema.KEY_COLUMN_USAGE WHERE "
     + _WHERE.format(s="REFERENCED_TABLE_SCHEMA", t="REFERENCED_TABLE_NAME"),
     "a foreign key of another table points at it"),
    ("SELECT 1 FROM information_schema.KEY_COLUMN_USAGE WHERE " + _WHERE.format(s="TABLE_SCHEMA", t="TABLE_NAME")
     + " AND REFERENCED_TABLE_NAME IS NOT NULL", "it has foreign keys, which CREATE TABLE ... LIKE does not copy"),
]


class MysqlWrites:
    """The writing half of ``MysqlDialect``."""

    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        table = self.table(schema, stage)
        cols = [f"{quote_ident(f.name, self.q)} {types.stage_type(f.type)}" for f in fields if f.name != PART_COLUMN]
        self.execute(conn, f"DROP TABLE IF EXISTS {table}")
        self.execute(conn, f"CREATE TABLE {table} ({', '.join(cols)}, {PART_COLUMN} int NOT NULL) {TABLE_OPTIONS}")

    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        table = self.table(schema, stage)
        part_field = pa.field(PART_COLUMN, pa.int32())

        def tagged() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                part = pa.nulls(batch.num_rows, pa.int32()).fill_null(index)
                yield pa.RecordBatch.from_arrays([*batch.columns, part], schema=batch.schema.append(part_field))

        with self._loading(stage) as (conn, native):
            self.execute(conn, f"DELETE FROM {table} WHERE {PART_COLUMN} = {int(index)}")
            return self._write(conn, native, table, tagged())

    def swap_reason(self, conn: Any, schema: str | None, table: str, names: Any) -> str | None:
        """None when a cleared ``table`` may be rebuilt aside and renamed into place: an InnoDB table with no
        triggers and no foreign keys either way, that no view names (any view naming it, in any schema
        the link's user can see, counts). Grants are by name in MySQL, so they hold for the new table."""
        if [c.name for c in self.columns(conn, schema, table) or []] != list(names):
            return "the job does not load every column in table order"
        for sql, why in _NO_SWAP:
            if self.query(conn, sql, [schema, table]):
                return why
        needle = quote_ident(table, self.q)
        if self.query(conn, "SELECT 1 FROM information_schema.VIEWS WHERE LOCATE(%s, VIEW_DEFINITION) > 0", [needle]):
            return "a view names it"
        return None

    # appends through XA transactions (``xa``) --------------------------------------------------------

    two_phase = True

    def two_phase_reason(self, conn: Any, schema: str | None, table: str, names: Sequence[str], fields: pa.Schema,
                         partitions: int) -> str | None:
        return xa.reason(self, conn, schema, table, names, fields, partitions)

    def two_phase_tables(self, ledger: str) -> list[str]:
        return xa.create_sql(ledger)

    def load_prepared(self, schema: str | None, table: str, ledger: str, run: str, index: int,
                      batches: Iterable[pa.RecordBatch], dirty: Any = None) -> int:
        return xa.load(self, schema, table, ledger, run, index, batches)

    def commit_prepared(self, ledger: str, run: str, latest: dict[int, int], label: str) -> None:
        xa.commit(self, ledger, run, latest, label)

    def resolve_prepared(self, ledger: str, run: str, label: str) -> str | None:
        return xa.resolve(self, ledger, run, label)

    def twin_sql(self, conn: Any, schema: str | None, table: str, stage: str) -> str:
        return f"CREATE TABLE {self.table(schema, stage)} LIKE {self.table(schema, table)}"

    def defer_twin_indexes(self, conn: Any, schema: str | None, twin: str) -> None:
        """Drop the twin's plain secondary indexes (``KEY``, not unique): built after the rows are in
        (``build_twin_indexes``), one sorted pass each instead of an insert per row."""
        keys = [name for name, _ in _plain_keys(self.query(conn, f"SHOW CREATE TABLE {self.table(schema, twin)}"))]
        if keys:
            self.execute(conn, f"ALTER TABLE {self.table(schema, twin)} "
                               + ", ".join(f"DROP INDEX {quote_ident(k, self.q)}" for k in keys))

    def build_twin_indexes(self, conn: Any, schema: str | None, twin: str, table: str) -> None:
        """At commit, before the rename: the target's plain secondary indexes the twin lacks, in one ALTER."""
        have = {name for name, _ in _plain_keys(self.query(conn, f"SHOW CREATE TABLE {self.table(schema, twin)}"))}
        wanted = [line for name, line in _plain_keys(self.query(conn, f"SHOW CREATE TABLE {self.table(schema, table)}"))
                  if name not in have]
        if wanted:
            self.execute(conn, f"ALTER TABLE {self.table(schema, twin)} " + ", ".join(f"ADD {w}" for w in wanted))

    def load_aside(self, schema: str | None, table: str, ledger: str, index: int,
                   batches: Iterable[pa.RecordBatch]) -> int:
        """One transaction: claim partition ``index`` in ``ledger`` (``staging.claim``), write ``batches``
        straight into ``table`` (built aside, swapped in at commit), record the count; rows written.
        A partition an earlier attempt committed is drained, not written again."""
        with self._loading(table) as (conn, native):
            done = staging.claim(lambda s: self.execute(conn, s), lambda s: self.query(conn, s), ledger, index, self.q)
            if done is not None:
                staging.drain(batches)
                return done
            cols = self.columns(conn, schema, table) or []
            rows = self._write(conn, native, self.table(schema, table), iter(batches), cols)
            self.execute(conn, staging.record_sql(ledger, index, rows, self.q))
            return rows

    @contextmanager
    def _loading(self, label: str) -> Iterator[tuple[Any, bool]]:
        """A write connection inside one transaction, and whether LOAD DATA LOCAL INFILE is wanted."""
        native = self.link.using_native and self._flag("allowLoadLocalInfile", True)
        with self.connect(LoadFailed, label, write=True, infile=native) as conn, self.transaction(conn):
            yield conn, native

    def _write(self, conn: Any, native: bool, table: str, batches: Iterator[pa.RecordBatch],
               columns: Sequence[Column] = ()) -> int:
        """Inside the caller's transaction: every non-empty batch into ``table``; rows written. Batch
        columns go to ``columns`` in order when given (a table built aside), else by name."""
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in batches:
                if batch.num_rows:
                    rows += batch.num_rows
                    yield batch

        it = counted()
        first = next(it, None)
        if first is None:
            return 0
        source = itertools.chain((first,), it)
        if not columns:
            columns = [Column(n, "", True, None) for n in first.schema.names]
        names = ", ".join(quote_ident(c.name, self.q) for c in columns[:first.num_columns])
        if not (native and self._load_data(conn, table, columns[:first.num_columns], source)):
            self._insert(conn, table, names, source)
        return rows

    def _chunk_rows(self) -> int:
        return max(1, self.link.commit_size or 10000)

    def _load_data(self, conn: Any, table: str, columns: Sequence[Column], batches: Iterator[pa.RecordBatch]) -> bool:
        """Stream every batch as one LOAD DATA LOCAL INFILE; False (nothing consumed) when LOCAL is refused.
        The stream is read as binary (so BLOBs arrive byte for byte); columns of types that would then
        take the text as raw bytes (UUID, INET, MySQL's JSON) are read through a variable and converted."""
        pymysql = pymysql_module()
        names, sets = [], []
        for i, c in enumerate(columns):
            if c.type.lower().startswith(_TEXT_PARSED):
                names.append(f"@v{i}")
                sets.append(f"{quote_ident(c.name, self.q)} = CONVERT(@v{i} USING utf8mb4)")
            else:
                names.append(quote_ident(c.name, self.q))
        tail = f"({', '.join(names)})" + (f" SET {', '.join(sets)}" if sets else "")
        infile = infile_mod.Infile(f"opencdm-{uuid.uuid4().hex}.tsv", (types.tsv(b) for b in batches))
        conn.opencdm_infile = infile
        try:
            self.execute(conn, f"LOAD DATA LOCAL INFILE '{infile.name}' INTO TABLE {table} CHARACTER SET binary"
                               f" FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' {tail}")
        except pymysql.MySQLError as exc:
            infile.reraise()
            if exc.args and exc.args[0] in (1148, 3948, 4166) and not infile.started:
                log.warning("The server refuses LOAD DATA LOCAL INFILE (%s); loading with INSERT statements", exc)
                return False
            raise
        finally:
            conn.opencdm_infile = None
        infile.reraise()
        self._raise_warnings(conn)
        return True

    def _raise_warnings(self, conn: Any) -> None:
        """LOAD DATA LOCAL turns conversion errors into warnings: any warning fails the load."""
        result = getattr(conn, "_result", None)
        if result is not None and getattr(result, "warning_count", 0):
            shown = self.query(conn, "SHOW WARNINGS LIMIT 3")
            raise LoadFailed(CDM_CODES["Cdm.0234"] % "; ".join(f"{w[2]}" for w in shown), code="Cdm.0234")

    def _insert(self, conn: Any, table: str, names: str, batches: Iterator[pa.RecordBatch]) -> None:
        chunk = self._chunk_rows()
        limit = max(1 << 16, min(int(getattr(conn, "max_allowed_packet", 16 << 20)), 64 << 20) - 4096)
        head = f"INSERT INTO {table} ({names}) VALUES ".encode()
        for batch in batches:
            for start in range(0, batch.num_rows, chunk):
                self._insert_rows(conn, head, types.sql_rows(batch.slice(start, chunk)), limit)

    def _insert_rows(self, conn: Any, head: bytes, rows: pa.Array, limit: int) -> None:
        body = types.values_buffer(rows)
        if len(body) + len(head) > limit and len(rows) > 1:
            half = len(rows) // 2
            self._insert_rows(conn, head, rows.slice(0, half), limit)
            self._insert_rows(conn, head, rows.slice(half), limit)
            return
        with conn.cursor() as cur:
            cur.execute(head + bytes(body[:-1]))  # drop the trailing comma


def _plain_keys(show_create: list[tuple]) -> list[tuple[str, str]]:
    """``(name, definition)`` of each plain ``KEY`` line in a ``SHOW CREATE TABLE`` result."""
    out = []
    for line in str(show_create[0][1]).splitlines():
        m = re.match(r"\s*(KEY `((?:[^`]|``)+)` \(.*\).*?),?$", line)
        if m:
            out.append((m.group(2).replace("``", "`"), m.group(1)))
    return out
