"""A real SFTP server on 127.0.0.1: OpenSSH's ``sshd`` with its own config, started once per session.

The server has a throwaway ed25519 host key and config in a temporary directory, no PAM, and
password logins for one system user (``opencdmsftp``, created when missing; its password is reset
to the test password at every start). SFTP is the in-process ``internal-sftp``. Needs root (sshd
reads /etc/shadow and switches to the user) and the privilege separation directory ``/run/sshd``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.postgres import free_port

SSHD = "/usr/sbin/sshd"
USER = "opencdmsftp"
PASSWORD = "opencdm-test-pw"


@dataclass
class SftpServer:
    host: str
    port: int
    username: str
    password: str
    home: Path

    def link_inputs(self) -> dict[str, str]:
        """Flat linkConfig inputs of an ``sftp-connector`` link to this server."""
        return {
            "linkConfig.server": self.host,
            "linkConfig.port": str(self.port),
            "linkConfig.username": self.username,
            "linkConfig.password": self.password,
        }


def _bin(name: str) -> str:
    """A program on PATH, or in /usr/sbin (not on every PATH)."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def _ensure_user() -> Path:
    """The test user (created when missing) with the test password; its home directory."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run([_bin("useradd"), "-m", "-s", "/bin/sh", USER], check=True, capture_output=True)
    subprocess.run([_bin("chpasswd")], input=f"{USER}:{PASSWORD}\n", text=True, check=True, capture_output=True)
    return Path(pwd.getpwnam(USER).pw_dir)


def _config(root: Path, port: int) -> str:
    return f"""Port {port}
ListenAddress 127.0.0.1
HostKey {root}/ssh_host_ed25519_key
PidFile {root}/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
PermitRootLogin no
AllowUsers {USER}
StrictModes no
UseDNS no
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
"""


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _cannot_run() -> str | None:
    if not os.path.exists(SSHD):
        return f"{SSHD} not found: apt-get install openssh-server (scripts/test.sh does)"
    if os.geteuid() != 0:
        return "the SFTP server needs root (sshd reads /etc/shadow and switches to the test user)"
    return None


def start_sshd(root: Path) -> tuple[SftpServer, subprocess.Popen]:
    """Start ``sshd -D`` with a config and host key in ``root``; the server and its process."""
    if problem := _cannot_run():
        raise RuntimeError(problem)
    home = _ensure_user()
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    subprocess.run([_bin("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(root / "ssh_host_ed25519_key")],
                   check=True, capture_output=True)
    port = free_port()
    (root / "sshd_config").write_text(_config(root, port))
    with open(root / "sshd.log", "ab") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while not _banner(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_sshd(proc)
            raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return SftpServer("127.0.0.1", port, USER, PASSWORD, home), proc


def stop_sshd(proc: subprocess.Popen) -> None:
    """SIGTERM the listener by its pid (SIGKILL after 10 s)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def sftp_server() -> Iterator[SftpServer]:
    if problem := _cannot_run():
        pytest.fail(problem, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="opencdm-sshd-"))
    try:
        server, proc = start_sshd(root)
        try:
            yield server
        finally:
            stop_sshd(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
