"""A real FTP server on 127.0.0.1: pyftpdlib in a child process, started once per session.

One user with full rights on a home directory in a temporary directory. Passive data connections
use ports from ``PASSIVE_PORTS`` (below the kernel's ephemeral range, so they do not collide with
``free_port``; pyftpdlib skips ports in use and falls back to any free port when all are taken).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.postgres import free_port

USER = "opencdm"
PASSWORD = "opencdm-test-pw"
PASSIVE_PORTS = (30000, 30999)

# Run as ``python -c SERVE port home user password first_passive last_passive``.
SERVE = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

port, home, user, password, lo, hi = sys.argv[1:]
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, home, perm="elradfmwMT")
handler = FTPHandler
handler.authorizer = authorizer
handler.passive_ports = range(int(lo), int(hi) + 1)
server = FTPServer(("127.0.0.1", int(port)), handler)
server.max_cons = 256
server.serve_forever()
"""


@dataclass
class FtpServer:
    host: str
    port: int
    username: str
    password: str
    home: Path

    def link_inputs(self) -> dict[str, str]:
        """Flat linkConfig inputs of an ``ftp-connector`` link to this server."""
        return {
            "linkConfig.server": self.host,
            "linkConfig.port": str(self.port),
            "linkConfig.username": self.username,
            "linkConfig.password": self.password,
        }


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


def start_ftp(root: Path) -> tuple[FtpServer, subprocess.Popen]:
    """Start pyftpdlib serving ``root/home``; the server and its process."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(root / "ftpd.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(home), USER, PASSWORD,
                                 *map(str, PASSIVE_PORTS)], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while not _greets(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_ftp(proc)
            raise RuntimeError(f"pyftpdlib did not start: {(root / 'ftpd.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return FtpServer("127.0.0.1", port, USER, PASSWORD, home), proc


def stop_ftp(proc: subprocess.Popen) -> None:
    """SIGTERM the server by its pid (SIGKILL after 10 s)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def ftp_server() -> Iterator[FtpServer]:
    root = Path(tempfile.mkdtemp(prefix="opencdm-ftp-"))
    try:
        server, proc = start_ftp(root)
        try:
            yield server
        finally:
            stop_ftp(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
