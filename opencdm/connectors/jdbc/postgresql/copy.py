"""The extracting half of the PostgreSQL binary COPY passthrough: raw ``COPY ... TO STDOUT (FORMAT
binary)`` chunks on psycopg's libpq wrapper, for a PostgreSQL target with the same column types."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.base import Chunk
from opencdm.connectors.jdbc.dialect import Dialect
from opencdm.connectors.jdbc.postgresql import CHUNK_BYTES, CHUNK_SECONDS, PostgresDialect
from opencdm.errors import ExtractFailed

class CopyReader(PostgresDialect):
    """The extracting half of the binary COPY passthrough (``raw_reader``), on psycopg alone, so a
    worker moving a native stream never loads ADBC: ``read`` yields the query's binary COPY as
    ``Chunk`` s, undecoded; catalog queries run on the same connection."""

    def select_expr(self, col: Any) -> str:
        return Dialect.select_expr(self, col)  # the binary form as it is: the target decodes it

    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema,
             row_bytes: int | None = None) -> Iterator[Chunk]:
        if params:  # what inline() left as parameters: quoted client side, COPY takes none
            from psycopg import sql as pgsql

            for i in range(len(params), 0, -1):
                sql = sql.replace(f"${i}", pgsql.Literal(params[i - 1]).as_string(conn))
        yield from copy_out(conn, f"COPY ({sql}) TO STDOUT (FORMAT binary)")


def copy_out(conn: Any, sql: str) -> Iterator[Chunk]:
    """Run ``sql`` (a COPY TO STDOUT) and group its messages into chunks, on libpq directly
    (``psycopg.pq``): this loop costs about 0.2 us of Python per row, psycopg's COPY iterator 0.55.
    Sent with the extended protocol (``send_query_params``), which takes one statement only.

    PostgreSQL sends one message per row, the binary header with the first row and the trailer
    alone as the last message, so the rows are the messages less one; the COPY's own row count
    checks that at the end.
    """
    from psycopg import errors, pq

    pg, encoding = conn.pgconn, conn.info.encoding
    pg.send_query_params(sql.encode(encoding), None)
    res = next_result(pg)
    if res is None or res.status != pq.ExecStatus.COPY_OUT:
        raise errors.error_from_result(res, encoding=encoding) if res is not None else errors.OperationalError(
            pg.get_error_message())
    get, fd = pg.get_copy_data, pg.socket
    buf, count, total, since = bytearray(), 0, 0, time.monotonic()
    while True:
        n, data = get(1)
        if n > 0:
            if len(buf) >= CHUNK_BYTES or (not count & 63 and count and time.monotonic() - since >= CHUNK_SECONDS):
                yield Chunk(buf, count)
                total += count
                buf, count, since = bytearray(), 0, time.monotonic()
            buf += data
            count += 1
        elif n == 0:  # nothing buffered: wait for the socket without holding the GIL
            select.select([fd], [], [])
            pg.consume_input()
        elif n == -1:
            break
        else:
            raise errors.OperationalError(pg.get_error_message())
    res = next_result(pg)
    if res is None or res.status != pq.ExecStatus.COMMAND_OK:
        raise errors.error_from_result(res, encoding=encoding) if res is not None else errors.OperationalError(
            "COPY ended without a result")
    while next_result(pg) is not None:
        pass
    count = max(0, count - 1)
    if res.command_tuples is not None and total + count != res.command_tuples:
        raise ExtractFailed(f"COPY sent {res.command_tuples} rows in {total + count + 1} messages: unexpected framing.")
    yield Chunk(buf, count)


def next_result(pg: Any) -> Any:
    """The connection's next result (None at the end), waiting on its socket without the GIL."""
    while True:
        pg.consume_input()
        if not pg.is_busy():
            return pg.get_result()
        select.select([pg.socket], [], [])
