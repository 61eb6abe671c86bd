"""Every write path, through a real server: a run that fails mid-way, one that is stopped and one whose
server is killed with SIGKILL leave the kept target exactly as it was, and after the restart no stage,
ledger, table built aside, swapped-out table or prepared transaction remains.

Targets: PostgreSQL and MariaDB, each owned, swap, two-phase and staged, each fed by a
slow PostgreSQL view (2 ms a row) so runs are well under way when they are failed, stopped or killed.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from opencdm.client import CdmClient
from tests.engine.test_runs import PROJECT, SLOW_VIEW, link
from tests.infra.data import make_mixed_table, snapshot
from tests.infra.server import make_server

#: The slow source, failing at one row: its partition dies mid-way while the others have loaded.
FAILING_VIEW = [
    "CREATE OR REPLACE FUNCTION fail_at(t text, id bigint) RETURNS text LANGUAGE plpgsql STABLE AS "
    "$$ BEGIN PERFORM pg_sleep(0.002); IF id = 2600 THEN RAISE EXCEPTION 'source broke at row %', id; END IF; "
    "RETURN t; END $$",
    "CREATE VIEW failing_big AS SELECT id, qty, price, fail_at(note, id) AS note, code, created, seen, day, flag "
    "FROM big",
]
#: path -> (target link, tablePreparation, shouldClearTable, a dependent that forces the staged path)
PATHS = {
    "pg-owned": ("pg", "DROP_AND_CREATE", False, None),
    "pg-swap": ("pg", "CREATE_WHEN_NOT_EXIST", True, None),
    "pg-two-phase": ("pg", "CREATE_WHEN_NOT_EXIST", False, None),
    "pg-staged": ("pg", "CREATE_WHEN_NOT_EXIST", True, "CREATE VIEW {t}_v AS SELECT id FROM {t}"),
    "my-owned": ("my", "DROP_AND_CREATE", False, None),
    "my-swap": ("my", "CREATE_WHEN_NOT_EXIST", True, None),
    "my-two-phase": ("my", "CREATE_WHEN_NOT_EXIST", False, None),
    "my-staged": ("my", "CREATE_WHEN_NOT_EXIST", True, "CREATE VIEW {t}_v AS SELECT id FROM {t}"),
}
COUNTER = "org.apache.sqoop.submission.counter.SqoopCounters"


class Env:
    def __init__(self, tmp, pg, mariadb) -> None:
        self.pg, self.my = pg, mariadb
        self.src_db, self.dst_db, self.my_db = pg.create_database(), pg.create_database(), mariadb.create_database()
        self.src, self.dst = pg.dsn(self.src_db), pg.dsn(self.dst_db)
        make_mixed_table(self.src, "big", 3000)
        make_mixed_table(self.src, "seed", 300)
        with psycopg.connect(self.src, autocommit=True) as conn:
            for statement in SLOW_VIEW + FAILING_VIEW:
                conn.execute(statement)
        self.server = make_server(tmp)
        self.server.start()
        ak, sk = self.server.credentials(PROJECT)
        self.client = CdmClient(self.server.url, ak, sk, PROJECT)
        self.cid = self.client.call("POST", "/clusters", {"cluster": {"name": "paths", "vpcId": "v"}})["id"]
        self.wait_cluster()
        for name, inputs in (("src", pg.link_inputs(self.src_db)), ("pg", pg.link_inputs(self.dst_db)),
                             ("my", mariadb.link_inputs(self.my_db))):
            self.client.call("POST", f"/clusters/{self.cid}/cdm/link", link(name, inputs))

    def wait_cluster(self) -> None:
        deadline = time.monotonic() + 60
        while self.client.call("GET", f"/clusters/{self.cid}")["status"] != "200":
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def job(self, name: str, src: str, dst_link: str, table: str, prep: str, clear: bool) -> None:
        def configs(group: str, inputs: dict) -> dict:
            return {"configs": [{"name": group, "inputs": [{"name": f"{group}.{k}", "value": v}
                                                           for k, v in inputs.items()]}]}
        schema = "public" if dst_link == "pg" else self.my_db
        body = {"name": name, "from-connector-name": "generic-jdbc-connector", "to-connector-name":
                "generic-jdbc-connector", "from-link-name": "src", "to-link-name": dst_link,
                "from-config-values": configs("fromJobConfig", {"schemaName": "public", "tableName": src,
                                                                "partitionColumn": "id"}),
                "to-config-values": configs("toJobConfig", {"schemaName": schema, "tableName": table,
                                                            "tablePreparation": prep,
                                                            "shouldClearTable": str(clear).lower()}),
                "driver-config-values": configs("throttlingConfig", {"numExtractors": "2"})}
        self.client.call("POST", f"/clusters/{self.cid}/cdm/job", {"jobs": [body]})

    def start(self, name: str) -> None:
        self.client.call("PUT", f"/clusters/{self.cid}/cdm/job/{name}/start")

    def status(self, name: str) -> dict:
        return self.client.call("GET", f"/clusters/{self.cid}/cdm/job/{name}/status")["submissions"][0]

    def wait(self, name: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sub = self.status(name)
            if sub["status"] in ("SUCCEEDED", "FAILED"):
                return sub
            time.sleep(0.1)
        raise AssertionError(f"{name} did not finish")

    def wait_rows(self, name: str) -> None:
        deadline = time.monotonic() + 30
        while self.status(name)["counters"][COUNTER]["ROWS_READ"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def snapshot(self, kind: str, table: str) -> object:
        if kind == "pg":
            return snapshot(self.dst, table)
        conn = self.my.connect(self.my_db)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SHOW CREATE TABLE `{table}`")
                ddl = cur.fetchone()[1]
                cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
                return ddl, cur.fetchall()
        finally:
            conn.close()

    def leftovers(self, kind: str) -> list:
        """Stages, ledgers, tables built aside or swapped out in the target database (other tests' own
        databases are theirs), and prepared transactions of any run."""
        if kind == "pg":
            with psycopg.connect(self.dst) as conn:
                return (conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'opencdm%'").fetchall()
                        + conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall())
        conn = self.my.connect(self.my_db)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'opencdm%'")
                found = list(cur.fetchall())
                cur.execute("XA RECOVER")
                return found + list(cur.fetchall())
        finally:
            conn.close()

    def sql(self, kind: str, statement: str) -> None:
        if kind == "pg":
            with psycopg.connect(self.dst, autocommit=True) as conn:
                conn.execute(statement)
            return
        conn = self.my.connect(self.my_db)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg, mariadb):
    e = Env(tmp_path_factory.mktemp("paths"), pg, mariadb)
    yield e
    e.server.stop()


def kept_target(env: Env, path: str) -> tuple[str, str]:
    """A target table of its own, with rows of its own (keys apart from the source's), made by a run."""
    kind, _, _, dependent = PATHS[path]
    table = f"t_{path.replace('-', '_')}_{int(time.monotonic() * 1000) % 100000}"
    seeding = f"seed_{table}"
    env.job(seeding, "seed", kind, table, "CREATE_WHEN_NOT_EXIST", False)
    env.start(seeding)
    assert env.wait(seeding)["status"] == "SUCCEEDED"
    env.sql(kind, f"UPDATE {table} SET id = id + 100000")
    if dependent:
        env.sql(kind, dependent.format(t=table))
    return kind, table


@pytest.mark.parametrize("outcome", ["fail", "stop", "kill"])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_target_is_as_it_was(env, path, outcome):
    kind, table = kept_target(env, path)
    _, prep, clear, _ = PATHS[path]
    before = env.snapshot(kind, table)
    name = f"{outcome}_{table}"
    env.job(name, "failing_big" if outcome == "fail" else "slow_big", kind, table, prep, clear)
    env.start(name)
    env.wait_rows(name)
    assert env.status(name)["write-path"].startswith(path.split("-", 1)[1]), env.status(name)
    if outcome == "fail":
        sub = env.wait(name)
        assert sub["status"] == "FAILED" and "source broke" in sub["error-summary"], sub
    elif outcome == "stop":
        assert env.client.request("PUT", f"/clusters/{env.cid}/cdm/job/{name}/stop").status_code == 200
        assert env.wait(name, timeout=30)["status"] == "FAILED"
    else:
        env.server.kill()
        assert env.snapshot(kind, table) == before
        env.server.start()
        env.wait_cluster()
        assert env.status(name)["status"] == "FAILED"
    deadline = time.monotonic() + 30
    while env.leftovers(kind):  # after a restart, the killed run's leftovers go in the background
        assert time.monotonic() < deadline, env.leftovers(kind)
        time.sleep(0.2)
    assert env.snapshot(kind, table) == before
