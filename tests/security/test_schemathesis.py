"""A bounded schemathesis run over every route: 0 5xx, every 4xx a CDM error body, responses as the
OpenAPI document describes them (error answers included), stateful sequences on.

It runs the schemathesis CLI against a real server, authenticated with an ``X-Auth-Token`` for the
project every path names. Links between operations (create a cluster, then use its id) are inferred
by schemathesis from the response fields. Links may only reach loopback (OPENCDM_LINK_EGRESS_ALLOW),
so fuzzed hosts fail at once instead of waiting for connect timeouts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from opencdm.client import CdmClient
from tests.infra.server import make_server
from tests.security.bodies import job, new_cluster, sqlite_link

HERE = Path(__file__).resolve().parent
P = "abcd6666abcd6666abcd6666abcd6666"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request, tmp_path_factory, pg):
    """A server with SQLite metadata and one with PostgreSQL metadata (which refuses NUL bytes)."""
    url = pg.dsn(pg.create_database()) if request.param == "postgresql" else None
    server = make_server(tmp_path_factory.mktemp(f"schemathesis-{request.param}"), url)
    server.env["OPENCDM_LINK_EGRESS_ALLOW"] = '["127.0.0.0/8"]'
    server.cli("user", "create", "--name", "fuzzer", "--password", "fuzz-password", "--project-id", P)
    server.start()
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "fuzzer",
                                                                                  "password": "fuzz-password"}}},
                      "scope": {"project": {"id": P}}}}
    token = httpx.post(f"{server.url}/v3/auth/tokens", json=login).headers["X-Subject-Token"]
    client = CdmClient(server.url, *server.credentials(P), P)
    cid = new_cluster(client, "fuzzed")
    root = server.data_dir / "projects" / P
    with sqlite3.connect(root / "src.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(200)])
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("src", "src.db"))
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("dst", "dst.db"))
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("seeded", to_extra={"shouldClearTable": "true"})]})
    yield server, token, cid
    server.stop()


def test_schemathesis_finds_nothing(target, tmp_path):
    server, token, cid = target
    env = {**os.environ, "ST_AUTH_TOKEN": token, "ST_PROJECT_ID": P, "ST_CLUSTER_ID": cid, "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"), "run",
           f"{server.url}/openapi.json", "--no-color", "--report", "json", "--report-dir", str(tmp_path),
           *os.environ.get("OPENCDM_SCHEMATHESIS_ARGS", "").split()]  # e.g. "--seed 7 --max-examples 200"
    # cwd: the CLI keeps its caches (.schemathesis/, .hypothesis/) in its working directory
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report_text = proc.stdout + (f"\n--- stderr ---\n{proc.stderr}" if proc.stderr.strip() else "")
    if proc.returncode != 0:
        pytest.fail(f"schemathesis exited with {proc.returncode}:\n{report_text}", pytrace=False)
    print(report_text)
    [report_file] = tmp_path.glob("json-*.json")
    report = json.loads(report_file.read_text())
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] >= 21, operations  # every route
    assert report["phases"]["stateful"]["status"] == "success", report["phases"]["stateful"]
    assert report["test_cases"]["with_failures"] == 0 and not report["errors"], report_text
    assert "Traceback" not in server.log_text()
