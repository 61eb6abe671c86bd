"""MySQL / MariaDB reads: connectorx streams the binary protocol into Arrow (PyMySQL's server-side
cursor when the link uses TLS, which connectorx lacks). Mixed into ``MysqlDialect``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from opencdm.connectors import arrow, egress
from opencdm.connectors.jdbc.mysql import types
from opencdm.connectors.jdbc.mysql.errors import connectorx_module, pymysql_module, reader_error
from opencdm.connectors.jdbc.sqltext import sql_input
from opencdm.errors import ExtractFailed


#: Arrow bytes per read batch when the link sets no ``fetchSize``: about what 65,536 rows of a
#: narrow table take (the bench's ``orders``: AVG_ROW_LENGTH 112). 2 MiB batches took ~40 MiB off each
#: MariaDB -> PostgreSQL worker at 5M rows but cost ~10% more CPU (bench/README.md), so a wide table
#: comes in fewer rows per batch and a narrow one as before.
BATCH_BYTES = 8 << 20
MIN_ROWS, MAX_ROWS = 64, 65536  # 64 rows of 128 KiB fill a batch; fewer would only add round trips


def _literal(conn: Any, value: Any) -> str:
    """A bound value as a literal that reads the same under any sql_mode (connectorx reads on a session
    of its own, with the server's sql_mode): text as hex, since with NO_BACKSLASH_ESCAPES a quote that
    PyMySQL escaped with a backslash would end the string and let the rest of a value run as SQL."""
    if isinstance(value, str):
        return f"_utf8mb4 X'{value.encode().hex()}'" if value else "''"
    if isinstance(value, (bytes, bytearray)):
        return f"X'{bytes(value).hex()}'"
    return conn.literal(value)  # numbers, dates and times: no quote or backslash inside


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


class MysqlReads:
    """The reading half of ``MysqlDialect``."""

    def _fetch_size(self, schema: pa.Schema, row_bytes: int | None) -> int:
        """Rows per read batch: ``linkConfig.fetchSize`` when the link sets it, else about
        ``BATCH_BYTES`` of rows of the table's average size (``AVG_ROW_LENGTH``; for a query, a guess
        from its column types), so a batch of wide rows stays as small as one of narrow rows."""
        if self.link.fetch_size:
            return min(max(self.link.fetch_size, 1024), 1 << 20)
        return min(max(BATCH_BYTES // (row_bytes or arrow.row_bytes(schema)), MIN_ROWS), MAX_ROWS)

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema,
             row_bytes: int | None = None) -> Iterator[pa.RecordBatch]:
        if params:
            sql = re.sub(r"\x00(\d+)\x00", lambda m: _literal(conn, params[int(m.group(1)) - 1]), sql)
        reader = self._read_driver if self.ssl() else self._read_connectorx
        for batch in reader(conn, sql, schema, self._fetch_size(schema, row_bytes)):
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays([types.convert(c, f) for c, f in zip(batch.columns, schema)],
                                                 schema=schema)

    def address(self) -> str:
        """The host to connect to: its checked address when the operator set an egress allow-list."""
        return egress.address(self.link.host, self.link.port, self.ctx)

    def _cx_url(self) -> str:
        host = self.address()
        host = f"[{host}]" if ":" in host else host
        user = quote(self.link.username, safe="")
        password = quote(self.link.password, safe="")
        db = quote(self.link.database or "", safe="")
        port = self.link.port
        return f"mysql://{user}:{password}@{host}:{port}/{db}?prefer_socket=false"

    def _read_connectorx(self, conn: Any, sql: str, schema: pa.Schema, size: int) -> Iterator[pa.RecordBatch]:
        """connectorx's MySQL client asks for CLIENT_MULTI_STATEMENTS, and runs a query it fails to
        prepare (as a second statement makes it) again as plain text: so ``sql`` must be one statement."""
        sql = sql_input(sql, "The query read", self.name, statement=True)
        cx = connectorx_module()
        if self._mariadb(conn):  # a stalled consumer must not time the stream out
            sql = f"SET STATEMENT net_write_timeout=86400, max_statement_time=0 FOR {sql}"
        secret = self.link.password
        try:
            reader = cx.read_sql(self._cx_url(), sql, return_type="arrow_stream", batch_size=size)
            yield from reader
        except (RuntimeError, pa.ArrowException) as exc:
            raise reader_error(exc, ExtractFailed, None, secret) from exc
        except BaseException as exc:
            if _is_panic(exc):
                raise reader_error(exc, ExtractFailed, None, secret) from None
            raise

    def _read_driver(self, conn: Any, sql: str, schema: pa.Schema, size: int) -> Iterator[pa.RecordBatch]:
        pymysql = pymysql_module()
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql)
            while rows := cur.fetchmany(size):
                yield pa.RecordBatch.from_arrays([pa.array(col) for col in zip(*rows)], names=schema.names)
