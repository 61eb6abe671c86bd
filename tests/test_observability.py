"""What an operator watches: /metrics scraped during a run (parsed with the Prometheus parser), who may
scrape it, JSON log lines with request, project, job and submission ids, and OPENCDM_LOG_LEVEL."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opencdm.client import CdmClient
from opencdm.metrics import allowed
from tests.engine.test_runs import SLOW_VIEW, job, link
from tests.infra.data import make_empty_like, make_mixed_table
from tests.infra.server import make_server

PROJECT = "0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e"
ROWS = 3000


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple], float]:
    resp = httpx.get(f"{url}/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def rows_read(samples) -> float:
    return samples.get(("opencdm_rows_total", (("connector", "generic-jdbc-connector"), ("direction", "read"))), 0.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg):
    src, dst = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src), "big", ROWS)
    with psycopg.connect(pg.dsn(src), autocommit=True) as conn:
        for statement in SLOW_VIEW:
            conn.execute(statement)
    server = make_server(tmp_path_factory.mktemp("observe"))
    server.env.update(OPENCDM_LOG_FORMAT="json", OPENCDM_METRICS_TOKEN="scrape-token-123")
    server.start()
    try:
        client = CdmClient(server.url, *server.credentials(PROJECT), PROJECT)
        small = "a79fd5ae-1833-448a-88e8-3ea2b913e1f6"
        cid = client.call("POST", "/clusters", {"cluster": {"name": "c", "instances": [{"flavorRef": small}]}})["id"]
        deadline = time.monotonic() + 30
        while client.call("GET", f"/clusters/{cid}")["status"] != "200":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for name, db in (("src", src), ("dst", dst)):
            client.call("POST", f"/clusters/{cid}/cdm/link", link(name, pg.link_inputs(db)))
        yield {"server": server, "client": client, "cid": cid, "dst": pg.dsn(dst)}
    finally:
        server.stop()


def test_metrics_show_a_run_growing(world):
    server, client, cid = world["server"], world["client"], world["cid"]
    auth = {"Authorization": "Bearer scrape-token-123"}
    before = scrape(server.url, **auth)
    make_empty_like(world["dst"], "copied")
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("slowcopy", "slow_big", "copied", clear=False)]})
    client.call("PUT", f"/clusters/{cid}/cdm/job/slowcopy/start", {})
    seen = []
    while True:
        samples = scrape(server.url, **auth)
        seen.append(rows_read(samples) - rows_read(before))
        status = client.call("GET", f"/clusters/{cid}/cdm/job/slowcopy/status")["submissions"][0]["status"]
        if status in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.3)
    assert status == "SUCCEEDED"
    growing = sorted(set(seen))
    assert len([v for v in growing if 0 < v < ROWS]) >= 2, seen  # seen mid-run, more than once
    after = scrape(server.url, **auth)
    assert rows_read(after) - rows_read(before) == ROWS
    written = ("opencdm_rows_total", (("connector", "generic-jdbc-connector"), ("direction", "written")))
    assert after[written] - before.get(written, 0) == ROWS
    assert after[("opencdm_runs_total", (("status", "SUCCEEDED"),))] - \
        before.get(("opencdm_runs_total", (("status", "SUCCEEDED"),)), 0) == 1
    assert after[("opencdm_run_duration_seconds_count", (("status", "SUCCEEDED"),))] >= 1
    route = "/v1.1/{project_id}/clusters/{cluster_id}/cdm/job/{job_name}/status"
    assert after[("opencdm_http_request_duration_seconds_count",
                  (("method", "GET"), ("route", route), ("status", "200")))] >= len(seen)
    assert after[("opencdm_cluster_slots", (("cluster", cid),))] >= 1
    assert ("opencdm_runs_waiting_for_slot", (("cluster", cid),)) in after


def test_metrics_access(world, tmp_path):
    url = world["server"].url
    assert httpx.get(f"{url}/metrics").status_code == 403  # the token is set: loopback is not enough
    assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert allowed("loopback", None, "127.0.0.1", None) and allowed("loopback", None, "::1", None)
    assert not allowed("loopback", None, "10.1.2.3", None)
    assert allowed("open", None, "10.1.2.3", None) and not allowed("off", None, "127.0.0.1", None)
    assert not allowed("off", "t", "127.0.0.1", "Bearer t")
    plain = make_server(tmp_path)
    plain.env["OPENCDM_METRICS"] = "off"
    plain.start()
    try:
        assert httpx.get(f"{plain.url}/metrics").status_code == 403
    finally:
        plain.stop()


def test_json_logs_name_request_project_job_and_submission(world):
    lines = [json.loads(line) for line in world["server"].log_text().splitlines() if line.strip()]
    starts = [d for d in lines if d["message"].startswith("run start")]
    ends = [d for d in lines if d["message"].startswith("run end")]
    assert starts and ends, lines[-20:]
    for d in starts + ends:
        assert d["job"] == "slowcopy" and d["project_id"] == PROJECT and isinstance(d["submission_id"], int), d
    assert "rows_read=3000" in ends[-1]["message"] and "seconds=" in ends[-1]["message"]
    requests = [d for d in lines if d["logger"] == "opencdm.api" and d["message"].startswith("request_id=")]
    assert requests and all(d["request_id"] in d["message"] for d in requests)
    assert any(d.get("project_id") == PROJECT for d in requests)


def serve_briefly(tmp_path, **env: str) -> subprocess.CompletedProcess:
    server = make_server(tmp_path)
    return subprocess.run([sys.executable, "-c", "import sys, threading, os, signal; "
                           "t = threading.Timer(4, lambda: os.kill(os.getpid(), signal.SIGINT)); "
                           "t.daemon = True; t.start(); "
                           "sys.argv = ['opencdm', 'serve', '--port', '0', '--data-dir', sys.argv[1]]; "
                           "from opencdm.cli import app; app()", str(server.data_dir)],
                          env={**server.env, **env}, capture_output=True, text=True, timeout=60)


def test_log_level_is_honoured(tmp_path):
    quiet = serve_briefly(tmp_path / "quiet", OPENCDM_LOG_LEVEL="warning")
    assert " INFO " not in quiet.stderr and "ready" not in quiet.stderr, quiet.stderr
    chatty = serve_briefly(tmp_path / "chatty", OPENCDM_LOG_LEVEL="DEBUG")
    assert " DEBUG " in chatty.stderr and "ready" in chatty.stderr, chatty.stderr[-2000:]
    bad = serve_briefly(tmp_path / "bad", OPENCDM_LOG_LEVEL="loud")
    assert bad.returncode == 2 and "log level" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_the_log_check_finds_a_secret(tmp_path):
    from tests.infra import secrets

    secrets.remember("a-remembered-sk-value")
    log = tmp_path / "x.log"
    log.write_text("ok line\nlink dst password=opencdm-test-pw\nsk a-remembered-sk-value\n")
    assert [hit.split(": ")[0] for hit in secrets.find([log])] == [f"{log}:2", f"{log}:3"]
