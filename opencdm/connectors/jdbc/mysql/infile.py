"""PyMySQL connections that answer ``LOAD DATA LOCAL INFILE`` from memory, for one file name only.

PyMySQL's own handler opens whatever path the server names in its request, so a hostile server
(a link is any host a user types) could read any file of the opencdm host, the secrets key
included. ``connection_class()`` serves instead the ``Infile`` the loader attached to the
connection for its own statement, streamed from memory, and sends nothing for any other name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opencdm.errors import LoadFailed


class Infile:
    """The one LOCAL INFILE a loader offers: its name and its bytes, and what went wrong sending them."""

    def __init__(self, name: str, chunks: Iterator[memoryview]) -> None:
        self.name, self.chunks = name, chunks
        self.started = False
        self.error: BaseException | None = None

    def send(self, conn: Any, requested: str) -> None:
        """Write the file to the server as LOCAL INFILE packets; any other name gets an empty file."""
        if requested != self.name:
            self.error = LoadFailed(f"The MySQL server asked for the local file [{requested[:200]}], which opencdm "
                                    "did not offer; refused.")
            return
        self.started = True
        step = max(4096, min(conn.max_allowed_packet - 1024, 1 << 20))
        try:
            for buf in self.chunks:
                for start in range(0, len(buf), step):
                    conn.write_packet(buf[start:start + step])
        except Exception as exc:  # the source failed (or was cancelled): end the file, the caller rolls back
            self.error = exc

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


def connection_class() -> type:
    """The PyMySQL connection class (built on first use, so PyMySQL is imported only when needed)."""
    global _CONNECTION
    if _CONNECTION is not None:
        return _CONNECTION
    import pymysql
    from pymysql.connections import MySQLResult
    from pymysql.protocol import LoadLocalPacketWrapper

    class _Result(MySQLResult):
        def _read_load_local_packet(self, first_packet: Any) -> None:
            conn = self.connection
            name = LoadLocalPacketWrapper(first_packet).filename
            name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            infile = getattr(conn, "opencdm_infile", None)
            try:
                if infile is None:
                    raise LoadFailed(f"The MySQL server asked for the local file [{name[:200]}] unprompted; refused.")
                infile.send(conn, name)
            finally:
                conn.write_packet(b"")  # end of file
                ok_packet = conn._read_packet()
            if not ok_packet.is_ok_packet():
                if infile is not None:
                    infile.reraise()
                raise pymysql.err.OperationalError(2014, "Commands out of sync")
            self._read_ok_packet(ok_packet)
            infile.reraise()  # a refused name or a failed source; the connection is in sync again

    class _Connection(pymysql.connections.Connection):
        opencdm_infile: Infile | None = None

        def _read_query_result(self, unbuffered: bool = False) -> int:
            if unbuffered:
                return super()._read_query_result(unbuffered)
            self._result = None
            result = _Result(self)
            result.read()
            self._result = result
            if result.server_status is not None:
                self.server_status = result.server_status
            return result.affected_rows

    _CONNECTION = _Connection
    return _CONNECTION


_CONNECTION: type | None = None
