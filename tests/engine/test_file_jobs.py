"""File jobs through a real server: CSV into PostgreSQL as text COPY, file counters, and
``writeToTempFile`` leaving no visible file when a run fails, is stopped, or the server is killed."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.engine.test_runs import PROJECT, Env
from tests.infra.data import checksums

COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"


def file_link(name: str) -> dict:
    return {"links": [{"name": name, "connector-name": "local-file-connector", "link-config-values": {
        "configs": [{"name": "linkConfig", "inputs": []}]}}]}


CONNECTORS = {"src": "generic-jdbc-connector", "dst": "generic-jdbc-connector", "files": "local-file-connector"}


def file_job(name: str, from_link: str, to_link: str, fjob: dict, tjob: dict, extractors: int = 2) -> dict:
    def group(kind: str, values: dict) -> dict:
        return {"configs": [{"name": kind, "inputs": [{"name": f"{kind}.{k}", "value": v} for k, v in values.items()]}]}

    return {"name": name, "from-link-name": from_link, "to-link-name": to_link,
            "from-connector-name": CONNECTORS[from_link], "to-connector-name": CONNECTORS[to_link],
            "from-config-values": group("fromJobConfig", fjob), "to-config-values": group("toJobConfig", tjob),
            "driver-config-values": group("throttlingConfig", {"numExtractors": str(extractors)})}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg):
    e = Env(tmp_path_factory.mktemp("filejobs"), pg)
    e.client.call("POST", f"/clusters/{e.cid}/cdm/link", file_link("files"))
    e.root = e.server.data_dir / "projects" / PROJECT
    yield e
    e.server.stop()


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def test_table_to_csv_to_table_through_the_server(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [
        file_job("out", "src", "files", {"schemaName": "public", "tableName": "big", "partitionColumn": "id"},
                 {"outputDirectory": "exported", "outputFormat": "CSV_FILE", "firstRowAsHeader": "true"})]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/out/start")
    sub = env.wait("out")
    assert sub["status"] == "SUCCEEDED", sub
    counters = sub["counters"][COUNTERS]
    assert counters["FILES_WRITTEN"] == len(visible(env.root / "exported")) > 1  # a file per partition
    assert counters["ROWS_WRITTEN"] == 3000
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [
        file_job("back", "files", "dst", {"inputDirectory": "exported", "inputFormat": "CSV_FILE",
                                          "firstRowAsHeader": "true", "splitType": "SIZE"},
                 {"schemaName": "public", "tableName": "from_csv", "tablePreparation": "DO_NOTHING"})]})
    with psycopg.connect(env.dst, autocommit=True) as conn:  # the source's own declaration
        conn.execute("CREATE TABLE from_csv (LIKE target INCLUDING ALL)")
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/back/start")
    sub = env.wait("back")
    assert sub["status"] == "SUCCEEDED", sub
    counters = sub["counters"][COUNTERS]
    assert counters["FILES_READ"] == counters["TOTAL_FILES"] == len(visible(env.root / "exported"))
    assert counters["TOTAL_SIZE"] == sum(p.stat().st_size for p in (env.root / "exported").iterdir())
    assert counters["ROWS_WRITTEN"] == 3000
    assert checksums(env.dst, "from_csv") == checksums(env.src, "big")
    assert ": text/csv;" in env.server.log_text()  # the CSV text went to COPY as it was


def test_stopped_and_killed_runs_leave_no_visible_file(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [
        file_job("slowout", "src", "files", {"schemaName": "public", "tableName": "slow_big", "partitionColumn": "id"},
                 {"outputDirectory": "partial", "outputFormat": "PARQUET_FILE"})]})
    out = env.root / "partial"

    def start_and_wait_rows() -> None:
        env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/slowout/start")
        deadline = time.monotonic() + 30
        while env.status("slowout")["counters"][COUNTERS]["ROWS_READ"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)

    start_and_wait_rows()
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/slowout/stop")
    assert env.wait("slowout", timeout=30)["status"] == "FAILED"
    assert visible(out) == [] and not list(out.iterdir())  # the temporary folder is gone too
    start_and_wait_rows()
    assert any(out.iterdir())  # the run is writing: into its hidden folder
    env.server.kill()
    assert visible(out) == []
    env.server.start()
    env.wait_cluster(env.cid)
    deadline = time.monotonic() + 20
    while list(out.iterdir()):  # recovery aborts the killed run: its temporary folder goes
        assert time.monotonic() < deadline, list(out.iterdir())
        time.sleep(0.2)
