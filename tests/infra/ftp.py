"""A real FTP server on 127.0.0.1: pyftpdlib in a child process, started once per session.

One user with full rights on a home directory in a temporary directory. Passive data connections
use ports from ``PASSIVE_PORTS`` (below the kernel's ephemeral range, so they do not collide with
``free_port``; pyftpdlib skips ports in use and falls back to any free port when all are taken).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.postgres import free_port
from tests.infra.procs import LoginServer, stop_process, wait_until_up

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


FtpServer = LoginServer


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
    wait_until_up(proc, lambda: _greets(port), root / "ftpd.log", "pyftpdlib")
    return FtpServer("127.0.0.1", port, USER, PASSWORD, home), proc


def stop_ftp(proc: subprocess.Popen) -> None:
    stop_process(proc)


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
