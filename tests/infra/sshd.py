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
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.postgres import free_port
from tests.infra.procs import LoginServer, stop_process, wait_until_up

SSHD = "/usr/sbin/sshd"
USER = "opencdmsftp"
PASSWORD = "opencdm-test-pw"


SftpServer = LoginServer


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
    wait_until_up(proc, lambda: _banner(port), root / "sshd.log", "sshd")
    return SftpServer("127.0.0.1", port, USER, PASSWORD, home), proc


def stop_sshd(proc: subprocess.Popen) -> None:
    stop_process(proc)


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
