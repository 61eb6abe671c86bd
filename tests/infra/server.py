"""A real ``opencdm serve`` process on loopback, and clients for it (official SDK, raw signed HTTP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.infra import secrets
from tests.infra.postgres import PostgresServer, free_port


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path = field(default=Path("server.log"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        if "--password" in args:
            secrets.remember(args[args.index("--password") + 1])
        out = subprocess.run([sys.executable, "-m", "opencdm", *args, "--data-dir", str(self.data_dir)],
                             env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def credentials(self, project_id: str) -> tuple[str, str]:
        doc = json.loads(self.cli("credentials", "create", "--project-id", project_id))
        secrets.remember(doc["sk"])
        return doc["ak"], doc["sk"]

    def start(self) -> None:
        self.port = self.port or free_port()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opencdm", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"opencdm serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"opencdm serve did not answer: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the server and every worker it started: a crash, not a shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def sdk_client(server: Server, project_id: str, ak: str, sk: str):
    from huaweicloudsdkcdm.v1 import CdmClient
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    return (CdmClient.new_builder().with_credentials(BasicCredentials(ak, sk, project_id))
            .with_endpoint(server.url).build())


def make_server(tmp: Path, metadata_url: str | None = None) -> Server:
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_")}
    if metadata_url:
        env["OPENCDM_DATABASE_URL"] = metadata_url
    secrets.watch(tmp / "server.log")
    return Server(data_dir=data_dir, env=env, log_path=tmp / "server.log")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, pg: PostgresServer) -> Iterator[Server]:
    """A running server per module, once with SQLite metadata and once with PostgreSQL metadata."""
    tmp = tmp_path_factory.mktemp(f"server-{request.param}")
    url = pg.dsn(pg.create_database()) if request.param == "postgresql" else None
    srv = make_server(tmp, url)
    srv.start()
    yield srv
    srv.stop()
