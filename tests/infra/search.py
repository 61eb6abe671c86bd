"""Search servers for the ``elasticsearch-connector`` tests: **emulators**, because no real Elasticsearch or
OpenSearch installs on these machines (see ``shared/research/servers.md`` §1). Every test that uses
``search_server`` runs twice, once per dialect, and carries "emulator" in its name:

* ``opensearch``: osmem-server (PyPI, an in-memory OpenSearch 3 API in Go);
* ``elasticsearch``: noida-db (PyPI, a Rust server that presents itself as Elasticsearch 8.15).

``OPENCDM_TEST_ES_URL=http://host:port`` (with ``OPENCDM_TEST_ES_USER`` / ``OPENCDM_TEST_ES_PASSWORD``
for a secured cluster) runs the same tests against a real cluster instead; nothing is started then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.infra.postgres import free_port
from tests.infra.procs import port_open, stop_process, wait_until_up


@dataclass
class SearchServer:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    emulator: bool = True
    dialect: str = "real"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def link_inputs(self) -> dict[str, str]:
        out = {"linkConfig.host": f"{self.host}:{self.port}", "linkConfig.linkType": "Elasticsearch"}
        if self.user:
            out.update({"linkConfig.safemode": "true", "linkConfig.user": self.user,
                        "linkConfig.password": self.password or ""})
        return out

    def call(self, method: str, path: str, body=None) -> dict:
        auth = (self.user, self.password or "") if self.user else None
        resp = httpx.request(method, self.url + path, json=body, auth=auth, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def bulk(self, index: str, docs: list[dict]) -> None:
        lines = []
        for i, doc in enumerate(docs):
            lines += [json.dumps({"index": {"_index": index, "_id": str(doc.get("id", i))}}), json.dumps(doc)]
        auth = (self.user, self.password or "") if self.user else None
        resp = httpx.post(f"{self.url}/_bulk?refresh=true", content="\n".join(lines) + "\n", auth=auth, timeout=60,
                          headers={"content-type": "application/x-ndjson"})
        resp.raise_for_status()
        assert not resp.json().get("errors"), resp.text[:500]


def _command(dialect: str, port: int, root: Path) -> list[str]:
    if dialect == "opensearch":
        import osmem_server

        path = Path(osmem_server.__file__).parent / "bin" / "osmem-server"
        os.chmod(path, 0o755)
        return [str(path), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch", "-no-ja"]
    import noida_db

    path = Path(noida_db.__file__).parent / "noida-db"
    os.chmod(path, 0o755)
    return [str(path), "start", "--data-dir", str(root / "data"), "--only", "elasticsearch",
            "--elasticsearch-port", str(port)]


#: One real cluster (``OPENCDM_TEST_ES_URL``), or both emulated dialects.
DIALECTS = ["real"] if os.environ.get("OPENCDM_TEST_ES_URL") else ["opensearch", "elasticsearch"]


@pytest.fixture(scope="session", params=DIALECTS)
def search_server(request) -> Iterator[SearchServer]:
    url = os.environ.get("OPENCDM_TEST_ES_URL")
    if url:
        host, port = url.split("://", 1)[-1].rstrip("/").rsplit(":", 1)
        yield SearchServer(host, int(port), os.environ.get("OPENCDM_TEST_ES_USER"),
                           os.environ.get("OPENCDM_TEST_ES_PASSWORD"), emulator=False)
        return
    root = Path(tempfile.mkdtemp(prefix=f"opencdm-{request.param}-"))
    port = free_port()
    with open(root / "server.log", "ab") as log:
        proc = subprocess.Popen(_command(request.param, port, root), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    wait_until_up(proc, lambda: port_open(port), root / "server.log", f"{request.param} emulator")
    try:
        yield SearchServer("127.0.0.1", port, dialect=request.param)
    finally:
        stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)
