"""A throwaway PostgreSQL 15 on 127.0.0.1, started once per test session.

``initdb``/``pg_ctl`` refuse to run as root, so under root they run as the ``postgres``
system user (created when missing) in a temporary directory it owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

PASSWORD = "opencdm-test-pw"
USER = "opencdm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str]) -> None:
    proc = subprocess.run(_as_owner(argv), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")


def _ensure_postgres_user() -> None:
    if os.geteuid() != 0:
        return
    if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-m", "postgres"], check=True)


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    root: Path

    def dsn(self, dbname: str = "postgres") -> str:
        return (
            f"postgresql://{quote(self.user)}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname)}"
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh unique name when none given) and return its name."""
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def link_inputs(self, dbname: str = "postgres") -> dict[str, str]:
        """Flat linkConfig inputs of a POSTGRESQL ``generic-jdbc-connector`` link to ``dbname``."""
        return {
            "linkConfig.databaseType": "POSTGRESQL",
            "linkConfig.host": self.host,
            "linkConfig.port": str(self.port),
            "linkConfig.database": dbname,
            "linkConfig.username": self.user,
            "linkConfig.password": self.password,
        }


def start_postgres(root: Path) -> PostgresServer:
    _ensure_postgres_user()
    data, sock = root / "data", root / "sock"
    sock.mkdir(parents=True)
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        for p in (sock, pwfile):
            shutil.chown(p, "postgres")
    _run(["initdb", "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
          "--encoding=UTF8", "--locale=C", "--no-sync"])
    port = free_port()
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
            "-c max_prepared_transactions=64")
    _run(["pg_ctl", "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w", "-t", "60", "start"])
    return PostgresServer("127.0.0.1", port, USER, PASSWORD, root)


def stop_postgres(root: Path) -> None:
    subprocess.run(_as_owner(["pg_ctl", "-D", str(root / "data"), "-m", "immediate", "stop"]),
                   capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="opencdm-pg-"))
    os.chmod(root, 0o755)
    try:
        yield start_postgres(root)
    finally:
        if (root / "data" / "postmaster.pid").exists():
            stop_postgres(root)
        shutil.rmtree(root, ignore_errors=True)
