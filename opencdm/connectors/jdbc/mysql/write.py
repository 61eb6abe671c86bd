"""MySQL / MariaDB stage writes: one ``LOAD DATA LOCAL INFILE`` stream per partition, served from
memory under the one name this loader asked for (``infile``), or multi-row ``INSERT`` statements of
``commitSize`` rows. Mixed into ``MysqlDialect``."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc.mysql import infile as infile_mod
from opencdm.connectors.jdbc.mysql import types
from opencdm.connectors.jdbc.mysql.errors import pymysql_module
from opencdm.connectors.jdbc.sqltext import PART_COLUMN, quote_ident
from opencdm.errors import CDM_CODES, LoadFailed

log = logging.getLogger("opencdm.connectors.jdbc.mysql")
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


class MysqlWrites:
    """The writing half of ``MysqlDialect``."""

    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        table = self.table(schema, stage)
        cols = [f"{quote_ident(f.name, self.q)} {types.stage_type(f.type)}" for f in fields if f.name != PART_COLUMN]
        self.execute(conn, f"DROP TABLE IF EXISTS {table}")
        self.execute(conn, f"CREATE TABLE {table} ({', '.join(cols)}, {PART_COLUMN} int NOT NULL) {TABLE_OPTIONS}")

    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        native = self.link.using_native and self._flag("allowLoadLocalInfile", True)
        table = self.table(schema, stage)
        rows = 0

        def feed() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in batches:
                if batch.num_rows:
                    rows += batch.num_rows
                    part = pa.nulls(batch.num_rows, pa.int32()).fill_null(index)
                    yield pa.RecordBatch.from_arrays([*batch.columns, part],
                                                     schema=batch.schema.append(pa.field(PART_COLUMN, pa.int32())))

        with self.connect(LoadFailed, stage, write=True, infile=native) as conn, self.transaction(conn):
            self.execute(conn, f"DELETE FROM {table} WHERE {PART_COLUMN} = {int(index)}")
            it = feed()
            first = next(it, None)
            if first is None:
                return 0
            names = ", ".join(quote_ident(n, self.q) for n in first.schema.names)
            source = itertools.chain((first,), it)
            if native and self._load_data(conn, table, names, source):
                return rows
            self._insert(conn, table, names, source)
        return rows

    def _chunk_rows(self) -> int:
        return max(1, self.link.commit_size or 10000)

    def _load_data(self, conn: Any, table: str, names: str, batches: Iterator[pa.RecordBatch]) -> bool:
        """Stream every batch as one LOAD DATA LOCAL INFILE; False (nothing consumed) when LOCAL is refused."""
        pymysql = pymysql_module()
        infile = infile_mod.Infile(f"opencdm-{uuid.uuid4().hex}.tsv", (types.tsv(b) for b in batches))
        conn.opencdm_infile = infile
        try:
            self.execute(conn, f"LOAD DATA LOCAL INFILE '{infile.name}' INTO TABLE {table} CHARACTER SET binary"
                               f" FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})")
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
