"""Dirty data through a real server: bad rows are isolated and recorded, good rows load, a cap fails the run."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from opencdm.client import CdmClient
from tests.infra.data import snapshot
from tests.infra.server import make_server

PROJECT = "dddddddddddddddddddddddddddddddd"
ROWS = 3000
BAD = {17, 400, 401, 1999, 2500}  # ids whose value cannot go into the target's integer column, or are negative


def link(name: str, inputs: dict) -> dict:
    return {"links": [{"name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {
        "configs": [{"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}]}


def job(name: str, target: str, **throttling: str) -> dict:
    return {"name": name, "from-connector-name": "generic-jdbc-connector", "from-link-name": "src",
            "to-link-name": "dst",
            "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
                {"name": "fromJobConfig.schemaName", "value": "public"},
                {"name": "fromJobConfig.tableName", "value": "raw"}]}]},
            "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
                {"name": "toJobConfig.schemaName", "value": "public"},
                {"name": "toJobConfig.tableName", "value": target},
                {"name": "toJobConfig.tablePreparation", "value": "DO_NOTHING"},
                {"name": "toJobConfig.shouldClearTable", "value": "true"}]}]},
            "driver-config-values": {"configs": [{"name": "throttlingConfig", "inputs": [
                {"name": "throttlingConfig.numExtractors", "value": "2"},
                *({"name": f"throttlingConfig.{k}", "value": v} for k, v in throttling.items())]}]}}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg):
    src_db, dst_db = pg.create_database(), pg.create_database()
    src, dst = pg.dsn(src_db), pg.dsn(dst_db)
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw (id bigint PRIMARY KEY, qty text, note text)")
        conn.execute(f"INSERT INTO raw SELECT g, CASE WHEN g IN (17, 1999) THEN 'x' || g WHEN g IN (400, 401, 2500)"
                     f" THEN '-5' ELSE (g % 100)::text END, 'n' || g FROM generate_series(1, {ROWS}) g")
    with psycopg.connect(dst, autocommit=True) as conn:
        for table in ("clean", "capped"):
            conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0),"
                         " note text)")
        conn.execute("INSERT INTO capped VALUES (1, 1, 'old'), (2, 2, 'old')")
    server = make_server(tmp_path_factory.mktemp("dirty"))
    server.start()
    ak, sk = server.credentials(PROJECT)
    client = CdmClient(server.url, ak, sk, PROJECT)
    cid = client.call("POST", "/clusters", {"cluster": {"name": "dirty", "vpcId": "v"}})["id"]
    while client.call("GET", f"/clusters/{cid}")["status"] != "200":
        time.sleep(0.1)
    client.call("POST", f"/clusters/{cid}/cdm/link", link("src", pg.link_inputs(src_db)))
    client.call("POST", f"/clusters/{cid}/cdm/link", link("dst", pg.link_inputs(dst_db)))
    yield client, cid, src, dst, server
    server.stop()


def run(client, cid, name: str) -> dict:
    client.call("PUT", f"/clusters/{cid}/cdm/job/{name}/start")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sub = client.call("GET", f"/clusters/{cid}/cdm/job/{name}/status")["submissions"][0]
        if sub["status"] in ("SUCCEEDED", "FAILED"):
            return sub
        time.sleep(0.2)
    raise AssertionError("run did not finish")


def test_bad_rows_go_to_files_and_good_rows_load(env):
    client, cid, src, dst, server = env
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("tofiles", "clean", recordDirtyData="true")]})
    sub = run(client, cid, "tofiles")
    assert sub["status"] == "SUCCEEDED", sub.get("error-summary")
    counters = sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_WRITTEN_SKIPPED"] == len(BAD) and counters["ROWS_WRITTEN"] == ROWS - len(BAD)
    with psycopg.connect(dst) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM clean").fetchall()}
    assert ids == set(range(1, ROWS + 1)) - BAD
    files = list((server.data_dir / "projects" / PROJECT / "dirty" / "tofiles").rglob("*.jsonl"))
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {json.loads(r["row_json"])["id"] for r in records} == BAD
    assert all(r["reason"] for r in records)


def test_bad_rows_go_to_a_link_table(env):
    client, cid, src, dst, _ = env
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(
        "tolink", "clean", recordDirtyData="true", writeToLink="dst", dirtyDataDirectory="bad_rows")]})
    assert run(client, cid, "tolink")["status"] == "SUCCEEDED"
    with psycopg.connect(dst) as conn:
        rows = conn.execute("SELECT row_json, reason FROM bad_rows").fetchall()
    assert {json.loads(r[0])["id"] for r in rows} == BAD


def test_too_many_bad_rows_fail_the_run_and_keep_the_target(env):
    client, cid, src, dst, _ = env
    before = snapshot(dst, "capped")
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(
        "capped", "capped", recordDirtyData="true", maxErrorRecords="1")]})
    sub = run(client, cid, "capped")
    assert sub["status"] == "FAILED" and "Cdm.0936" in sub["error-details"], sub
    assert snapshot(dst, "capped") == before


def test_without_dirty_data_one_bad_row_fails_the_run(env):
    client, cid, src, dst, _ = env
    before = snapshot(dst, "capped")
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("strict", "capped")]})
    sub = run(client, cid, "strict")
    assert sub["status"] == "FAILED"
    assert snapshot(dst, "capped") == before


def test_bad_rows_and_unreadable_lines_go_to_an_obs_bucket(env, s3_server):
    """Dirty data on object storage (throttlingConfig.writeToLink naming an OBS link, obsBucket,
    dirtyDataDirectory): rows the target rejects and CSV lines that do not parse, as JSON lines."""
    import pyarrow.fs as pafs

    client, cid, src, dst, server = env
    bucket = s3_server.make_bucket()
    client.call("POST", f"/clusters/{cid}/cdm/link", {"links": [{
        "name": "lake", "connector-name": "obs-connector", "link-config-values": {"configs": [{
            "name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in {
                "linkConfig.storageType": "OBS", "linkConfig.server": "http://127.0.0.1",
                "linkConfig.port": str(s3_server.port), "linkConfig.accessKey": s3_server.access_key,
                "linkConfig.securityKey": s3_server.secret_key}.items()]}]}}]})
    client.call("POST", f"/clusters/{cid}/cdm/link", {"links": [{
        "name": "files", "connector-name": "local-file-connector",
        "link-config-values": {"configs": [{"name": "linkConfig", "inputs": []}]}}]})
    folder = server.data_dir / "projects" / PROJECT / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.csv").write_text("id,qty,note\n1,5,a\n2,x,b\n3,7\n4,-1,d\n5,9,e\n")  # 2 bad value, 3 short, 4 check
    with psycopg.connect(dst, autocommit=True) as conn:
        conn.execute("CREATE TABLE from_csv (id bigint PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0), note text)")
    body = job("csvdirty", "from_csv", recordDirtyData="true", writeToLink="lake", obsBucket=bucket,
               dirtyDataDirectory="/dirty/csv")
    body.update({"from-connector-name": "local-file-connector", "from-link-name": "files",
                 "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
                     {"name": "fromJobConfig.inputDirectory", "value": "incoming"},
                     {"name": "fromJobConfig.inputFormat", "value": "CSV_FILE"},
                     {"name": "fromJobConfig.firstRowAsHeader", "value": "true"}]}]}})
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [body]})
    sub = run(client, cid, "csvdirty")
    assert sub["status"] == "SUCCEEDED", sub.get("error-details")
    counters = sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_WRITTEN"] == 2 and counters["ROWS_WRITTEN_SKIPPED"] == 3 and counters["ROWS_READ"] == 5
    with psycopg.connect(dst) as conn:
        assert {r[0] for r in conn.execute("SELECT id FROM from_csv").fetchall()} == {1, 5}
    fs = s3_server.client()
    found = [i for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/dirty/csv", recursive=True))
             if i.type == pafs.FileType.File]
    records = []
    for info in found:
        with fs.open_input_stream(info.path) as f:
            records += [json.loads(line) for line in f.read().decode().splitlines()]
    reasons = " | ".join(r["reason"] for r in records)
    assert len(records) == 3 and "rows.csv: expected 3 fields, found 2" in reasons, reasons  # the short line
    rows = [json.loads(r["row_json"]) for r in records]
    assert {r.get("id") for r in rows} >= {"2", "4"} and {"line": "3,7"} in rows
