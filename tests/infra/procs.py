"""Starting and stopping a server process the tests own: wait until it answers, stop it by its pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def wait_until_up(proc: subprocess.Popen, ready: Callable[[], bool], log: Path, what: str,
                  timeout: float = 30) -> None:
    """Poll ``ready()`` until it holds; stop the process and raise with its log's tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM by pid (SIGKILL after 10 s)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class LoginServer:
    """A server a link reaches with ``server``, ``port``, ``username`` and ``password`` (SFTP, FTP)."""

    host: str
    port: int
    username: str
    password: str
    home: Path

    def link_inputs(self) -> dict[str, str]:
        """Flat linkConfig inputs of an ``sftp-connector`` / ``ftp-connector`` link to this server."""
        return {"linkConfig.server": self.host, "linkConfig.port": str(self.port),
                "linkConfig.username": self.username, "linkConfig.password": self.password}
