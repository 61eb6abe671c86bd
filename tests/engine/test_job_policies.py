"""What a job does after its run: RETRY_TRIPLE for retryable failures only, and disposable jobs
(DELETE_AFTER_SUCCEED / DELETE) whose submissions stay readable. Through a real server."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.engine.test_runs import Env
from tests.engine.test_stream_jobs import group
from tests.infra.dis import DisServer

COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"


def pg_job(name: str, table: str, driver: dict, scheduler: dict | None = None, retry: str = "NONE") -> dict:
    configs = [*group("throttlingConfig", driver)["configs"],
               *group("schedulerConfig", scheduler or {})["configs"],
               *group("retryJobConfig", {"retryJobType": retry})["configs"]]
    return {"name": name, "from-link-name": "src", "to-link-name": "dst",
            "from-connector-name": "generic-jdbc-connector", "to-connector-name": "generic-jdbc-connector",
            "from-config-values": group("fromJobConfig", {"schemaName": "public", "tableName": table}),
            "to-config-values": group("toJobConfig", {"schemaName": "public", "tableName": f"{name}_out",
                                                      "tablePreparation": "CREATE_WHEN_NOT_EXIST"}),
            "driver-config-values": {"configs": configs}}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg):
    e = Env(tmp_path_factory.mktemp("policies"), pg)
    try:
        e.server.stop()
        e.server.env["OPENCDM_RETRY_BACKOFF_SECONDS"] = "0.5"
        e.server.start()
        e.wait_cluster(e.cid)
        yield e
    finally:
        e.server.stop()


def history(env, job: str) -> list[dict]:
    return env.client.call("GET", f"/clusters/{env.cid}/cdm/submissions", query={"jname": job})["submissions"]


def test_retry_triple_retries_a_store_that_did_not_answer_until_it_does(env):
    dis = DisServer()
    dis.start()
    dis.create_stream("retried", partitions=1)
    dis.put("retried", [f"{i},r{i}".encode() for i in range(50)])
    env.client.call("POST", f"/clusters/{env.cid}/cdm/link", {"links": [{
        "name": "flaky", "connector-name": "dis-connector", "link-config-values": group("linkConfig",
                                                                                       dis.link_inputs())}]})
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute("CREATE TABLE retried (id int, v text)")
    job = {"name": "retry_dis", "from-link-name": "flaky", "to-link-name": "dst", "from-connector-name": "dis-connector",
           "to-connector-name": "generic-jdbc-connector",
           "from-config-values": group("fromJobConfig", {"streamName": "retried", "disConsumerStrategy": "EARLIEST",
                                                         "dataFormat": "CSV", "isPermanency": "false"}),
           "to-config-values": group("toJobConfig", {"schemaName": "public", "tableName": "retried"}),
           "driver-config-values": {"configs": group("retryJobConfig", {"retryJobType": "RETRY_TRIPLE"})["configs"]}}
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job]})
    dis.stop()  # the stream's server goes away: a retryable failure
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/retry_dis/start")
    deadline = time.monotonic() + 30
    while env.server.log_text().count("retrying submission=") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert env.status("retry_dis")["status"] == "RUNNING"  # between attempts the run is not over
    dis.start(dis.port)  # back, where the link points: the next attempt gets through
    try:
        sub = env.wait("retry_dis", timeout=60)
        assert sub["status"] == "SUCCEEDED", sub
        with psycopg.connect(env.dst) as conn:
            assert conn.execute("SELECT count(*) FROM retried").fetchone()[0] == 50
    finally:
        dis.stop()


def test_failures_retrying_cannot_fix_are_not_retried_and_retries_end(env):
    before = env.server.log_text().count("retrying submission=")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [pg_job("no_table", "missing_table", {},
                                                                              retry="RETRY_TRIPLE")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/no_table/start")
    sub = env.wait("no_table")
    assert sub["status"] == "FAILED" and env.server.log_text().count("retrying submission=") == before
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [pg_job("bad", "big", {},
                                                                                       retry="RETRY_FOREVER")]})
    assert resp.status_code == 400 and "retryJobConfig.retryJobType" in resp.text


def test_disposable_jobs_are_deleted_as_specified_and_their_runs_stay_readable(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [
        pg_job("once_ok", "small", {}, {"disposableType": "DELETE_AFTER_SUCCEED"}),
        pg_job("once_fail", "missing_table", {}, {"disposableType": "DELETE_AFTER_SUCCEED"}),
        pg_job("once_any", "missing_table", {}, {"disposableType": "DELETE"})]})
    for name in ("once_ok", "once_fail", "once_any"):
        started = env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/{name}/start")
        assert started["submissions"][0]["isDeleteJob"] is True
    deadline = time.monotonic() + 60
    names = {"once_ok", "once_any"}
    while names & {j["name"] for j in env.client.call("GET", f"/clusters/{env.cid}/cdm/job/all")["jobs"]}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert env.wait("once_fail")["status"] == "FAILED"  # failed: kept
    assert env.client.request("GET", f"/clusters/{env.cid}/cdm/job/once_ok").status_code == 404
    ok, = history(env, "once_ok")
    assert ok["status"] == "SUCCEEDED" and ok["isDeleteJob"] is True and ok["counters"][COUNTERS]["ROWS_WRITTEN"] == 2000
    assert history(env, "once_any")[0]["status"] == "FAILED"
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [
        pg_job("once_bad", "small", {}, {"disposableType": "SOMETIMES"})]})
    assert resp.status_code == 400 and "disposableType" in resp.text


def test_macros_and_variables_are_expanded_at_start_and_refused_early(env):
    from datetime import UTC, datetime, timedelta

    job = pg_job("macro", "big", {})
    job["from-config-values"] = group("fromJobConfig", {"schemaName": "public", "tableName": "big",
                                                        "whereClause": "id <= ${limit} AND '${dateformat(yyyy)}' > '2000'"})
    job["to-config-values"] = group("toJobConfig", {"schemaName": "public", "tablePreparation": "CREATE_WHEN_NOT_EXIST",
                                                    "tableName": "out_${dateformat(yyyyMMdd, -1, DAY)}"})
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job]})
    resp = env.client.request("PUT", f"/clusters/{env.cid}/cdm/job/macro/start")  # ${limit} has no value
    assert resp.status_code == 400 and "limit" in resp.text and "fromJobConfig.whereClause" in resp.text
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/macro/start", {"variables": {"limit": "100"}})
    sub = env.wait("macro")
    assert sub["status"] == "SUCCEEDED", sub
    day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")
    with psycopg.connect(env.dst) as conn:
        assert conn.execute(f"SELECT count(*), max(id) FROM out_{day}").fetchone() == (100, 100)
    bad = pg_job("badmacro", "big", {})
    bad["from-config-values"] = group("fromJobConfig", {"schemaName": "public", "tableName": "big",
                                                        "whereClause": "d > '${dateformat(yyyy-MM-dd, -1, WEEK)}'"})
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [bad]})
    assert resp.status_code == 400 and "WEEK" in resp.text and "fromJobConfig.whereClause" in resp.text


def test_stopping_a_run_while_its_cluster_drains_really_stops_it(env):
    """A graceful cluster stop lets runs finish; a user's stop of one of them must end it FAILED and for
    good: it used to be marked FAILED while the run went on and was later overwritten with SUCCEEDED."""
    from tests.engine.test_runs import job
    from tests.infra.data import snapshot

    cid = env.new_cluster("draining")
    before = snapshot(env.dst, "target")
    env.client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("drained", "slow_big", "target")]})
    env.client.call("PUT", f"/clusters/{cid}/cdm/job/drained/start")
    deadline = time.monotonic() + 30
    while env.status("drained", cid)["counters"][COUNTERS]["ROWS_READ"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    env.client.call("POST", f"/clusters/{cid}/action", {"stop": {"stopMode": "GRACEFULLY", "delayTime": 600}})
    env.client.call("PUT", f"/clusters/{cid}/cdm/job/drained/stop")
    assert env.wait("drained", cid, timeout=30)["status"] == "FAILED"
    env.wait_cluster(cid, "900")  # the drain ends with the run: nothing was left running
    assert env.status("drained", cid)["status"] == "FAILED"
    assert snapshot(env.dst, "target") == before


def test_incremental_runs_over_three_batches_with_a_failed_run_between(env):
    with psycopg.connect(env.src, autocommit=True) as src, psycopg.connect(env.dst, autocommit=True) as dst:
        src.execute("CREATE TABLE events (id bigint PRIMARY KEY, at timestamp, v text)")
        dst.execute("CREATE TABLE events (id bigint PRIMARY KEY, at timestamp, v text)")

    def insert(lo: int, hi: int) -> None:
        with psycopg.connect(env.src, autocommit=True) as src:
            src.execute("INSERT INTO events SELECT g, timestamp '2026-01-01' + g * interval '1 minute', 'v' || g "
                        "FROM generate_series(%s::int, %s::int) g", (lo, hi))

    def run() -> dict:
        env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/incr/start")
        return env.wait("incr")

    def target() -> list[int]:
        with psycopg.connect(env.dst) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]

    job = pg_job("incr", "events", {"numExtractors": "2"})
    job["is_incre_job"] = True
    job["from-config-values"] = group("fromJobConfig", {"schemaName": "public", "tableName": "events",
                                                        "checkColumn": "at"})
    job["to-config-values"] = group("toJobConfig", {"schemaName": "public", "tableName": "events",
                                                    "tablePreparation": "DO_NOTHING"})
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job]})
    assert env.client.call("GET", f"/clusters/{env.cid}/cdm/job/incr")["jobs"][0]["is_incre_job"] is True
    insert(1, 100)
    assert run()["status"] == "SUCCEEDED" and target() == list(range(1, 101))
    insert(101, 200)
    with psycopg.connect(env.dst, autocommit=True) as dst:
        dst.execute("ALTER TABLE events ADD CONSTRAINT no150 CHECK (id <> 150)")
    assert run()["status"] == "FAILED" and target() == list(range(1, 101))  # nothing of the window committed
    with psycopg.connect(env.dst, autocommit=True) as dst:
        dst.execute("ALTER TABLE events DROP CONSTRAINT no150")
    insert(201, 300)
    sub = run()
    assert sub["status"] == "SUCCEEDED" and target() == list(range(1, 301))  # the failed window read again
    assert sub["counters"][COUNTERS]["ROWS_READ"] == 200
    sub = run()  # nothing new
    assert sub["status"] == "SUCCEEDED" and sub["counters"][COUNTERS]["ROWS_READ"] == 0 and len(target()) == 300
    bad = pg_job("incr_bad", "events", {})
    bad["from-config-values"] = group("fromJobConfig", {"schemaName": "public", "tableName": "events",
                                                        "checkColumn": "at", "lastValue": "1' OR '1'='1"})
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [bad]})
    assert resp.status_code == 400 and "lastValue" in resp.text


def test_a_killed_resumable_run_resumes_skipping_finished_partitions(env):
    from tests.engine.test_runs import job
    from tests.infra.data import checksums

    body = job("resumable", "slow_big", "resumed_copy", extractors=2, resumable="true")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [body]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/resumable/start")
    deadline = time.monotonic() + 60
    while env.status("resumable").get("checkpoint", {}).get("done", 0) < 1:
        assert time.monotonic() < deadline and env.status("resumable")["status"] == "RUNNING"
        time.sleep(0.1)
    env.server.kill()  # SIGKILL with some partitions finished and others in flight
    env.server.start()
    env.wait_cluster(env.cid)
    first = env.status("resumable")
    assert first["status"] == "FAILED" and first["checkpoint"]["done"] >= 1
    with psycopg.connect(env.dst) as conn:  # the target was never created: nothing committed
        assert conn.execute("SELECT to_regclass('public.resumed_copy')").fetchone()[0] is None
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/resumable/start", {"resume": True})
    second = env.wait("resumable", timeout=60)
    assert second["status"] == "SUCCEEDED", second
    assert second["checkpoint"]["resumed-from"] == first["submission-id"]
    read = second["counters"][COUNTERS]["ROWS_READ"]
    assert 0 < read < 3000  # the finished partitions were not read again
    assert checksums(env.dst, "resumed_copy") == checksums(env.src, "big")
    assert env.stage_tables() == []  # the kept staging was committed, then dropped
    resp = env.client.request("PUT", f"/clusters/{env.cid}/cdm/job/resumable/start", {"resume": True})
    assert resp.status_code == 400 and "no failed or stopped run to resume" in resp.text
    env.wait("resumable")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/link", {"links": [{
        "name": "files", "connector-name": "local-file-connector", "link-config-values": group("linkConfig", {})}]})
    bad = job("notresumable", "big", "x", resumable="true")
    bad.update({"to-link-name": "files", "to-connector-name": "local-file-connector", "to-config-values": group(
        "toJobConfig", {"outputDirectory": "o", "outputFormat": "CSV_FILE"})})
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [bad]})
    assert resp.status_code == 400 and "resumable cannot apply to a local-file-connector" in resp.text


def test_graceful_cluster_stop_lets_runs_finish_within_delay_time(env):
    from tests.engine.test_runs import job
    from tests.infra.data import checksums

    for name, delay, ends in (("patient", -1, "SUCCEEDED"), ("hasty", 1, "FAILED")):
        cid = env.new_cluster(name)
        env.client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(name, "slow_big", f"{name}_copy")]})
        env.client.call("PUT", f"/clusters/{cid}/cdm/job/{name}/start")
        deadline = time.monotonic() + 30
        while env.status(name, cid)["counters"][COUNTERS]["ROWS_READ"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        env.client.call("POST", f"/clusters/{cid}/action", {"stop": {"stopMode": "GRACEFULLY", "delayTime": delay}})
        assert env.client.call("GET", f"/clusters/{cid}")["status"] == "910"  # new runs refused from now on
        assert env.wait(name, cid, timeout=60)["status"] == ends
        env.wait_cluster(cid, "900")
    assert checksums(env.dst, "patient_copy") == checksums(env.src, "big")


def test_scenario_job_runs_as_a_normal_job_and_is_listed_apart(env):
    body = pg_job("scene", "small", {})
    body["job_type"] = "SCENARIO_JOB"
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [body]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/scene/start")
    assert env.wait("scene")["status"] == "SUCCEEDED"
    listed = env.client.call("GET", f"/clusters/{env.cid}/cdm/job/all", query={"jobType": "SCENARIO_JOB"})["jobs"]
    assert [j["name"] for j in listed] == ["scene"]
    normal = env.client.call("GET", f"/clusters/{env.cid}/cdm/job/all")["jobs"]
    assert "scene" not in [j["name"] for j in normal]
