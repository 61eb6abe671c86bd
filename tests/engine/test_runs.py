"""Runs through a real server: live counters, stop, a killed server, restart recovery, many jobs at once."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from opencdm.client import CdmClient
from tests.infra.data import checksums, make_mixed_table, snapshot
from tests.infra.server import make_server

PROJECT = "ffffffffffffffffffffffffffffffff"
#: A view over ``big`` whose ``note`` sleeps 2 ms per row: a slow, steady source. Bounds and counts on
#: the view stay instant (the slow column is not computed for them), only extraction is slow.
SLOW_VIEW = [
    "CREATE OR REPLACE FUNCTION slow(t text) RETURNS text LANGUAGE plpgsql STABLE AS "
    "$$ BEGIN PERFORM pg_sleep(0.002); RETURN t; END $$",
    "CREATE VIEW slow_big AS SELECT id, qty, price, slow(note) AS note, code, created, seen, day, flag FROM big",
]


def link(name: str, inputs: dict) -> dict:
    return {"links": [{"name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {
        "configs": [{"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}]}


def job(name: str, src: str, dst: str, extractors: int = 2, clear: bool = True, **throttling: str) -> dict:
    from_inputs = [{"name": "fromJobConfig.schemaName", "value": "public"},
                   {"name": "fromJobConfig.tableName", "value": src},
                   {"name": "fromJobConfig.partitionColumn", "value": "id"}]
    return {"name": name, "from-connector-name": "generic-jdbc-connector", "to-link-name": "dst",
            "from-link-name": "src", "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": from_inputs}]},
            "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
                {"name": "toJobConfig.schemaName", "value": "public"},
                {"name": "toJobConfig.tableName", "value": dst},
                {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"},
                {"name": "toJobConfig.shouldClearTable", "value": "true" if clear else "false"}]}]},
            "driver-config-values": {"configs": [{"name": "throttlingConfig", "inputs": [
                {"name": "throttlingConfig.numExtractors", "value": str(extractors)},
                *({"name": f"throttlingConfig.{k}", "value": v} for k, v in throttling.items())]}]}}


class Env:
    def __init__(self, tmp, pg) -> None:
        self.pg = pg
        self.src_db, self.dst_db = pg.create_database(), pg.create_database()
        self.src, self.dst = pg.dsn(self.src_db), pg.dsn(self.dst_db)
        make_mixed_table(self.src, "big", 3000)
        make_mixed_table(self.src, "small", 2000)
        with psycopg.connect(self.src, autocommit=True) as conn:
            for statement in SLOW_VIEW:
                conn.execute(statement)
        make_mixed_table(self.dst, "target", 500)  # pre-existing rows a failed run must not touch
        self.server = make_server(tmp)
        self.server.start()
        ak, sk = self.server.credentials(PROJECT)
        self.client = CdmClient(self.server.url, ak, sk, PROJECT)
        self.cid = self.new_cluster()

    def new_cluster(self, name: str = "runs") -> str:
        cid = self.client.call("POST", "/clusters", {"cluster": {"name": name, "vpcId": "v"}})["id"]
        self.wait_cluster(cid)
        self.client.call("POST", f"/clusters/{cid}/cdm/link", link("src", self.pg.link_inputs(self.src_db)))
        self.client.call("POST", f"/clusters/{cid}/cdm/link", link("dst", self.pg.link_inputs(self.dst_db)))
        return cid

    def wait_cluster(self, cid: str, status: str = "200") -> None:
        deadline = time.monotonic() + 60
        while self.client.call("GET", f"/clusters/{cid}")["status"] != status:
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def status(self, name: str, cid: str | None = None) -> dict:
        return self.client.call("GET", f"/clusters/{cid or self.cid}/cdm/job/{name}/status")["submissions"][0]

    def wait(self, name: str, cid: str | None = None, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sub = self.status(name, cid)
            if sub["status"] in ("SUCCEEDED", "FAILED"):
                return sub
            time.sleep(0.1)
        raise AssertionError(f"{name} did not finish")

    def wait_rows(self, name: str, timeout: float = 30) -> None:
        """Until the run of ``name`` has read rows (a slow source: it is then well under way)."""
        deadline = time.monotonic() + timeout
        while self.status(name)["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_READ"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)

    def stage_tables(self) -> list[str]:
        with psycopg.connect(self.dst) as conn:
            return [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'opencdm%'").fetchall()]


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg):
    e = Env(tmp_path_factory.mktemp("runs"), pg)
    yield e
    e.server.stop()


def test_counters_are_live_and_stop_leaves_target_untouched(env):
    before = snapshot(env.dst, "target")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job("slow", "slow_big", "target")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/slow/start")
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sub = env.status("slow")
        rows = sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_READ"]
        seen.append((sub["status"], rows, sub["progress"]))
        if sub["status"] == "RUNNING" and rows > 0:
            break
        time.sleep(0.3)
    assert any(s == "RUNNING" and r > 0 for s, r, _ in seen), seen  # counters move while the run goes
    started = time.monotonic()
    resp = env.client.request("PUT", f"/clusters/{env.cid}/cdm/job/slow/stop")
    assert resp.status_code == 200, resp.text
    sub = env.wait("slow", timeout=30)
    assert time.monotonic() - started < 15
    assert sub["status"] == "FAILED" and sub["progress"] == -1
    assert sub["write-path"].startswith("swap:"), sub  # a cleared kept table nothing depends on: rebuilt aside
    assert snapshot(env.dst, "target") == before
    assert env.stage_tables() == []


def test_killed_server_leaves_target_untouched_and_restart_reconciles(env):
    before = snapshot(env.dst, "target")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job("killed", "slow_big", "target")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/killed/start")
    env.wait_rows("killed")
    env.server.kill()
    assert snapshot(env.dst, "target") == before
    env.server.start()
    sub = env.status("killed")
    assert sub["status"] == "FAILED" and "server" in sub["error-summary"]
    env.wait_cluster(env.cid)
    deadline = time.monotonic() + 20
    while env.stage_tables():  # staging of the killed run is dropped in the background after restart
        assert time.monotonic() < deadline, env.stage_tables()
        time.sleep(0.2)
    assert snapshot(env.dst, "target") == before
    # and the job runs fine afterwards
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/killed/start")
    done = env.wait("killed")
    assert done["status"] == "SUCCEEDED" and done["write-path"].startswith("swap:"), done
    assert checksums(env.dst, "target") == checksums(env.src, "big")


def test_killed_two_phase_append_leaves_no_prepared_transaction_and_reruns_once(env):
    """Appending to a table that keeps its rows: prepared transactions, none left after a SIGKILL and restart."""
    make_mixed_table(env.dst, "appended", 200)
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute("UPDATE appended SET id = id + 100000")  # rows of its own, keys apart from the source's
    before = snapshot(env.dst, "appended")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job("appender", "slow_big", "appended",
                                                                          clear=False)]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/appender/start")
    env.wait_rows("appender")
    assert env.status("appender")["write-path"].startswith("two-phase:")
    env.server.kill()
    assert snapshot(env.dst, "appended") == before
    env.server.start()
    env.wait_cluster(env.cid)

    def prepared() -> int:
        with psycopg.connect(env.dst) as conn:
            return conn.execute("SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'opencdm:%'").fetchone()[0]

    deadline = time.monotonic() + 30
    while prepared() or env.stage_tables():  # the killed run's prepared partitions are rolled back at restart
        assert time.monotonic() < deadline, (prepared(), env.stage_tables())
        time.sleep(0.2)
    assert snapshot(env.dst, "appended") == before
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/appender/start")
    done = env.wait("appender")
    assert done["status"] == "SUCCEEDED" and done["write-path"].startswith("two-phase:"), done
    with psycopg.connect(env.dst) as conn:
        assert conn.execute("SELECT count(*) FROM appended").fetchone()[0] == 3200
    assert prepared() == 0 and env.stage_tables() == []


def test_stopped_two_phase_append_leaves_the_table_as_it_was(env):
    make_mixed_table(env.dst, "appended_stop", 100)
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute("UPDATE appended_stop SET id = id + 100000")
    before = snapshot(env.dst, "appended_stop")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job("stopped2pc", "slow_big", "appended_stop",
                                                                          clear=False)]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/stopped2pc/start")
    env.wait_rows("stopped2pc")
    assert env.client.request("PUT", f"/clusters/{env.cid}/cdm/job/stopped2pc/stop").status_code == 200
    sub = env.wait("stopped2pc", timeout=30)
    assert sub["status"] == "FAILED" and sub["write-path"].startswith("two-phase:"), sub
    assert snapshot(env.dst, "appended_stop") == before
    with psycopg.connect(env.dst) as conn:
        assert conn.execute("SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'opencdm:%'").fetchone()[0] == 0
    assert env.stage_tables() == []


def test_twenty_jobs_at_once_all_finish_and_the_api_stays_responsive(env):
    cid = env.new_cluster("busy")
    names = [f"many{i}" for i in range(20)]
    for n in names:
        env.client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(n, "small", f"t_{n}", extractors=2)]})
    latencies = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.monotonic()
            assert env.client.request("GET", "/clusters").status_code == 200
            latencies.append(time.monotonic() - t)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for n in names:
            subs = env.client.call("PUT", f"/clusters/{cid}/cdm/job/{n}/start")["submissions"]
            assert subs[0]["status"] in ("BOOTING", "RUNNING")
        results = [env.wait(n, cid, timeout=240) for n in names]
    finally:
        stop.set()
        prober.join()
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 20, [r.get("error-summary") for r in results]
    src = checksums(env.src, "small")
    for n in names:
        assert checksums(env.dst, f"t_{n}") == src
    assert latencies and max(latencies) < 5.0, max(latencies)  # not blocked: the loop never waited on engine work
    assert "database is locked" not in env.server.log_text()


def test_stopped_cluster_refuses_runs(env):
    cid = env.new_cluster("stoppable")
    env.client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("refused", "small", "t_refused")]})
    env.client.call("POST", f"/clusters/{cid}/action", {"stop": {"stopMode": "IMMEDIATELY"}})
    env.wait_cluster(cid, "900")
    resp = env.client.request("PUT", f"/clusters/{cid}/cdm/job/refused/start")
    assert resp.status_code == 400 and resp.json()["error_code"] == "Cdm.0037"
    env.client.call("POST", f"/clusters/{cid}/action", {"start": {}})
    env.wait_cluster(cid)
    env.client.call("PUT", f"/clusters/{cid}/cdm/job/refused/start")
    assert env.wait("refused", cid)["status"] == "SUCCEEDED"


def test_record_rate_limits_the_whole_job(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job",
                    {"jobs": [job("limited", "small", "t_limited", recordRate="1000")]})
    started = time.monotonic()
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/limited/start")
    sub = env.wait("limited")
    seconds = time.monotonic() - started
    assert sub["status"] == "SUCCEEDED", sub.get("error-summary")
    assert seconds >= 1.6, seconds  # 2000 rows at 1000 rows/s take 2 s; unlimited, this job takes well under 1 s
    assert checksums(env.dst, "t_limited") == checksums(env.src, "small")
    bad = env.client.request("POST", f"/clusters/{env.cid}/cdm/job",
                             {"jobs": [job("badrate", "small", "t_bad", recordRate="fast")]})
    assert bad.status_code == 400 and bad.json()["error_code"] == "Cdm.0004"
    bad = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [job("badn", "small", "t_bad", 0)]})
    assert bad.status_code == 400 and bad.json()["error_code"] == "Cdm.0009"
