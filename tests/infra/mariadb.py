"""A throwaway MariaDB on 127.0.0.1, started once per test session.

``mariadb-install-db`` and ``mariadbd`` run with ``--no-defaults`` in a temporary directory, so
nothing from ``/etc/mysql`` applies (the server default character set is then latin1: the
test databases are created as utf8mb4 explicitly, and the dialect never relies on the server
default). Under root the server runs as the ``mysql`` system user (created when missing). The
client user has a real password and connects over TCP, as a link would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.postgres import free_port

PASSWORD = "opencdm-test-pw"
USER = "opencdm"


def _bin(name: str) -> str:
    """A MariaDB program: on PATH, or where Debian puts it (/usr/sbin is not on every PATH)."""
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                       None)
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install mariadb-server (scripts/test.sh does)")
    return found


def _ensure_mysql_user() -> str | None:
    """The OS user the server runs as when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    if subprocess.run(["id", "mysql"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "mysql"], check=True)
    return "mysql"


@dataclass
class MariaDBServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    pid: int

    @property
    def socket(self) -> str:
        return str(self.root / "mysqld.sock")

    def sql(self, *statements: str, database: str | None = None) -> str:
        """Run statements as the server's root user over the socket (the ``mariadb`` client); stdout."""
        argv = [_bin("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch", "--skip-column-names",
                "--default-character-set=utf8mb4"]
        if database:
            argv.append(database)
        proc = subprocess.run(argv, input=";\n".join(statements) + ";\n", capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"mariadb failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    def connect(self, database: str | None = None, **kwargs):
        """A PyMySQL connection as the test user over TCP, utf8mb4, autocommit, strict mode."""
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, charset="utf8mb4", autocommit=True,
                               init_command="SET SESSION sql_mode='STRICT_ALL_TABLES', time_zone='+00:00'", **kwargs)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty utf8mb4 database (a fresh unique name when none given) and return its name."""
        name = name or f"db_{uuid.uuid4().hex[:10]}"
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return name

    def link_inputs(self, dbname: str) -> dict[str, str]:
        """Flat linkConfig inputs of a MYSQL ``generic-jdbc-connector`` link to ``dbname``."""
        return {
            "linkConfig.databaseType": "MYSQL",
            "linkConfig.host": self.host,
            "linkConfig.port": str(self.port),
            "linkConfig.database": dbname,
            "linkConfig.username": self.user,
            "linkConfig.password": self.password,
        }


def _certificate(root: Path, owner: str | None) -> list[str]:
    """A self-signed key and certificate, so links with useSSL can be tested; none without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return []
    key, cert = root / "server-key.pem", root / "server-cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    if owner:
        for p in (key, cert):
            shutil.chown(p, owner, owner)
    return [f"--ssl-key={key}", f"--ssl-cert={cert}"]


def start_mariadb(root: Path) -> MariaDBServer:
    owner = _ensure_mysql_user()
    data = root / "data"
    data.mkdir(parents=True)
    if owner:
        for p in (root, data):
            shutil.chown(p, owner, owner)
    common = ["--no-defaults", f"--datadir={data}"]
    user = [f"--user={owner}"] if owner else []
    proc = subprocess.run([_bin("mariadb-install-db"), *common, *user, "--auth-root-authentication-method=normal",
                           "--skip-test-db", "--skip-name-resolve"],
                          capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    port = free_port()
    tls = _certificate(root, owner)
    server = subprocess.Popen([
        _bin("mariadbd"), *common, *user, f"--socket={root / 'mysqld.sock'}", f"--port={port}",
        "--bind-address=127.0.0.1", f"--pid-file={root / 'mariadbd.pid'}", f"--log-error={root / 'error.log'}",
        "--skip-name-resolve", "--local-infile=1", "--skip-log-bin", "--performance-schema=OFF",
        "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=256M", "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0", "--max-allowed-packet=256M", "--max-connections=200",
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin", *tls,
    ], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = MariaDBServer("127.0.0.1", port, USER, PASSWORD, root, server.pid)
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            log = (root / "error.log").read_text(errors="replace") if (root / "error.log").exists() else ""
            raise RuntimeError(f"mariadbd exited ({server.returncode}): {log[-2000:]}")
        ping = subprocess.run([_bin("mariadb-admin"), "--no-defaults", f"--socket={srv.socket}", "-uroot", "ping"],
                              capture_output=True, timeout=30)
        if ping.returncode == 0:
            break
        if time.monotonic() > deadline:
            stop_mariadb(srv)
            raise RuntimeError("mariadbd did not answer within 60 s")
        time.sleep(0.2)
    srv.sql(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
            f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION")
    return srv


def stop_mariadb(srv: MariaDBServer) -> None:
    """Stop the server by its pid: SIGTERM, then SIGKILL after 30 s."""
    try:
        os.kill(srv.pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(srv.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.1)
    os.kill(srv.pid, 9)
    os.waitpid(srv.pid, 0)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    root = Path(tempfile.mkdtemp(prefix="opencdm-mariadb-"))
    os.chmod(root, 0o755)
    srv = start_mariadb(root)
    try:
        yield srv
    finally:
        stop_mariadb(srv)
        shutil.rmtree(root, ignore_errors=True)
