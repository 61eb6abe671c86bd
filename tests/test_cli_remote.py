"""The CLI for people and scripts against a real server: clusters (local and Dask-bound), links, jobs run and
followed to the end, JSON output parsed, and every exit code; the live bar on a real terminal (a pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.engine.test_runs import SLOW_VIEW
from tests.infra.data import checksums, make_empty_like, make_mixed_table
from tests.infra.postgres import free_port
from tests.infra.server import make_server

PROJECT = "c11c11c11c11c11c11c11c11c11c11c1"
ROWS = 5000


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg):
    tmp = tmp_path_factory.mktemp("cli")
    src, dst = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src), "orders", ROWS)
    server = make_server(tmp)
    server.start()
    try:
        ak, sk = server.credentials(PROJECT)
        env = {**server.env, "OPENCDM_ENDPOINT": server.url, "OPENCDM_PROJECT_ID": PROJECT, "OPENCDM_AK": ak,
               "OPENCDM_SK": sk, "OPENCDM_CLI_CONFIG": str(tmp / "none.toml")}
        links = tmp / "links.json"
        links.write_text(json.dumps({"links": [link("src", pg.link_inputs(src)), link("dst", pg.link_inputs(dst))]}))
        yield {"server": server, "env": env, "tmp": tmp, "src": pg.dsn(src), "dst": pg.dsn(dst), "links": links,
               "ak": ak, "sk": sk}
    finally:
        server.stop()


def link(name: str, inputs: dict) -> dict:
    return {"name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {
        "configs": [{"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}


def job(name: str, source: str, target: str) -> dict:
    def cv(group: str, **inputs: str) -> dict:
        pairs = [{"name": f"{group}.{k}", "value": v} for k, v in inputs.items()]
        return {"configs": [{"name": group, "inputs": pairs}]}

    return {"job_type": "NORMAL_JOB", "name": name, "from-connector-name": "generic-jdbc-connector",
            "to-connector-name": "generic-jdbc-connector", "from-link-name": "src", "to-link-name": "dst",
            "from-config-values": cv("fromJobConfig", schemaName="public", tableName=source),
            "to-config-values": cv("toJobConfig", schemaName="public", tableName=target,
                                   tablePreparation="DO_NOTHING", shouldClearTable="true"),
            "driver-config-values": cv("throttlingConfig", numExtractors="2")}


def cli(world, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opencdm", *args], env=env or world["env"], capture_output=True,
                          text=True, timeout=timeout)


def ok_json(out: subprocess.CompletedProcess):
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def wait_cluster(world, name: str, status: str = "200") -> dict:
    deadline = time.monotonic() + 60
    while (doc := ok_json(cli(world, "cluster", "show", name, "-o", "json")))["status"] != status:
        assert time.monotonic() < deadline, doc
        time.sleep(0.3)
    return doc


def jobs_file(world, name: str, *jobs: dict, **extra) -> str:
    path = world["tmp"] / f"{name}.json"
    path.write_text(json.dumps({"jobs": list(jobs), **extra}))
    return str(path)


def test_cluster_link_and_job_run_wait(world):
    created = ok_json(cli(world, "cluster", "create", "--name", "main", "-o", "json"))
    assert wait_cluster(world, "main")["id"] == created["id"]
    assert "main" in cli(world, "cluster", "list").stdout
    tested = cli(world, "link", "test", str(world["links"]), "-c", "main")
    assert tested.returncode == 0 and "src: ok" in tested.stdout, tested.stderr
    assert cli(world, "link", "create", str(world["links"]), "-c", "main").returncode == 0
    shown = ok_json(cli(world, "link", "show", "src", "-c", "main"))
    assert world["src"].split("password=")[-1].split()[0] not in json.dumps(shown)  # masked by the server
    make_empty_like(world["dst"], "copy1")
    out = cli(world, "job", "run", jobs_file(world, "copy1", job("copy1", "orders", "copy1")), "-c", "main",
              "--wait", "-o", "json")
    doc = ok_json(out)
    sub = doc["submissions"][0]
    assert sub["status"] == "SUCCEEDED" and sub["progress"] == 100
    assert sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"] == ROWS
    assert checksums(world["dst"], "copy1") == checksums(world["src"], "orders")
    assert "copy1 SUCCEEDED 100%" in out.stderr  # plain progress lines when not on a terminal
    again = cli(world, "job", "run", jobs_file(world, "copy1", job("copy1", "orders", "copy1")), "-c", "main",
                "--wait")  # run replaces the job of that name and runs it again
    assert again.returncode == 0 and f"rows={ROWS:,}" in again.stdout, again.stderr
    history = ok_json(cli(world, "submissions", "copy1", "-c", "main", "-o", "json"))
    assert [s["status"] for s in history["submissions"]] == ["SUCCEEDED", "SUCCEEDED"]
    listed = cli(world, "job", "list", "-c", "main")
    assert "copy1" in listed.stdout and "SUCCEEDED" in listed.stdout
    status = ok_json(cli(world, "job", "status", "copy1", "-c", "main", "-o", "json"))
    assert status["submissions"][0]["status"] == "SUCCEEDED"


def test_exit_codes(world):
    wait_cluster(world, "main")
    with psycopg.connect(world["src"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS doomed AS SELECT * FROM orders")
    make_empty_like(world["dst"], "doomed_copy")
    path = jobs_file(world, "doomed", job("doomed", "doomed", "doomed_copy"))
    assert cli(world, "job", "run", path, "-c", "main", "--no-wait").returncode == 0
    cli(world, "job", "status", "doomed", "-c", "main", "--wait")
    with psycopg.connect(world["src"], autocommit=True) as conn:
        conn.execute("DROP TABLE doomed")
    failed = cli(world, "job", "run", path, "-c", "main", "--wait")  # the source is gone: the run fails
    assert failed.returncode == 1 and "FAILED" in failed.stdout, failed.stdout + failed.stderr
    missing = cli(world, "job", "status", "nosuch", "-c", "main", "-o", "json")
    assert missing.returncode == 3 and json.loads(missing.stderr)["exit_code"] == 3
    assert cli(world, "job", "status", "copy1", "-c", "nosuchcluster").returncode == 3
    bad = world["tmp"] / "bad.json"
    bad.write_text('{"links": []}')
    assert cli(world, "job", "run", str(bad), "-c", "main").returncode == 2
    invalid = cli(world, "job", "run", jobs_file(world, "invalid", {**job("x y", "orders", "t"), "name": "bad name!"}),
                  "-c", "main", "-o", "json")
    assert invalid.returncode == 2 and json.loads(invalid.stderr)["response"]["error_code"].startswith("Cdm.")
    refused = cli(world, "cluster", "list", env={**world["env"], "OPENCDM_SK": "not-the-key" * 4})
    assert refused.returncode == 4, refused.stderr
    down = cli(world, "cluster", "list", env={**world["env"], "OPENCDM_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 5 and "cannot reach" in down.stderr
    nothing = cli(world, "cluster", "list", env={k: v for k, v in world["env"].items() if k != "OPENCDM_ENDPOINT"})
    assert nothing.returncode == 2 and "no server given" in nothing.stderr
    with psycopg.connect(world["src"], autocommit=True) as conn:  # a slow source: --timeout ends the wait
        for statement in SLOW_VIEW[:1]:
            conn.execute(statement)
        conn.execute("CREATE OR REPLACE VIEW slowly AS SELECT id, qty, price, slow(note) AS note, code, created, seen, "
                     "day, flag FROM orders")
    make_empty_like(world["dst"], "slow_copy")
    slow = cli(world, "job", "run", jobs_file(world, "slow", job("slow", "slowly", "slow_copy")), "-c", "main",
               "--wait", "--timeout", "1")
    assert slow.returncode == 6 and "did not end" in slow.stderr
    cli(world, "job", "stop", "slow", "-c", "main")


def test_flags_token_and_config_file(world):
    server = world["server"]
    server.cli("user", "create", "--name", "cli-user", "--password", "cli-pass-123", "--project-id", PROJECT)
    resp = httpx.post(f"{server.url}/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "cli-user", "password": "cli-pass-123", "domain": {"name": "cli-user"}}}},
        "scope": {"project": {"id": PROJECT}}}})
    assert resp.status_code == 201, resp.text
    bare = {k: v for k, v in world["env"].items() if not k.startswith("OPENCDM_")}
    by_token = cli(world, "--endpoint", server.url, "--project-id", PROJECT, "--token",
                   resp.headers["X-Subject-Token"], "cluster", "list", "-o", "json", env=bare)
    assert any(c["name"] == "main" for c in ok_json(by_token)["clusters"])
    config = world["tmp"] / "cli.toml"
    config.write_text(f'endpoint = "{server.url}"\nproject_id = "{PROJECT}"\nak = "{world["ak"]}"\n'
                      f'sk = "{world["sk"]}"\ncluster = "main"\n')
    by_file = cli(world, "--config", str(config), "job", "status", "copy1", "-o", "json", env=bare)
    assert ok_json(by_file)["submissions"][0]["job-name"] == "copy1"
    config.write_text('endpoint = "x"\nsecret = "y"\n')
    assert cli(world, "--config", str(config), "cluster", "list", env=bare).returncode == 2


def test_dask_cluster_from_the_cli(world, dask_cluster):
    dask_cluster.restore()
    ok_json(cli(world, "cluster", "create", "--name", "ondask", "--dask-scheduler", dask_cluster.address, "-o", "json"))
    doc = wait_cluster(world, "ondask")
    assert doc["backend"] == {"type": "dask", "address": dask_cluster.address} and "workers" in doc["statusDetail"]
    assert cli(world, "link", "create", str(world["links"]), "-c", "ondask").returncode == 0
    make_empty_like(world["dst"], "dask_copy")
    out = cli(world, "job", "run", jobs_file(world, "dask", job("daskcopy", "orders", "dask_copy")), "-c", "ondask",
              "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    assert checksums(world["dst"], "dask_copy") == checksums(world["src"], "orders")
    assert cli(world, "cluster", "delete", "ondask").returncode == 0


def test_live_bar_on_a_terminal(world):
    wait_cluster(world, "main")
    make_empty_like(world["dst"], "bar_copy")
    path = jobs_file(world, "bar", job("bar", "orders", "bar_copy"))
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "opencdm", "job", "run", path, "-c", "main", "--wait"],
                            env={**world["env"], "COLUMNS": "120", "TERM": "xterm"}, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(30) == 0, seen
    text = seen.decode(errors="replace")
    assert "rows/s" in text and "ETA" in text and "━" in text and "100%" in text, text
    assert checksums(world["dst"], "bar_copy") == checksums(world["src"], "orders")
