"""A fake PostgreSQL server that asks for the password in clear text and records what it receives.

It stands in for a host an attacker controls: a test points a link at it and checks which secret,
if any, opencdm sent there. It speaks just enough of the protocol for libpq to send its password.
"""

from __future__ import annotations

import socket
import struct
import threading


class FakePostgres:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.passwords: list[str] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            while True:
                length, code = struct.unpack("!ii", _read(conn, 8))
                if code in (80877103, 80877104):  # SSLRequest / GSSENCRequest: not here
                    conn.sendall(b"N")
                    continue
                _read(conn, length - 8)  # the startup packet: user, database, options
                break
            conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            kind, length = _read(conn, 1), struct.unpack("!i", _read(conn, 4))[0]
            if kind == b"p":
                self.passwords.append(_read(conn, length - 4).rstrip(b"\0").decode("utf-8", "replace"))
            fields = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0"
            conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        except (OSError, struct.error):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
