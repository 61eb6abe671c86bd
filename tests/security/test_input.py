"""Findings 4, 6, 7 and 8: input that ran SQL, changed meaning, crashed the server or was silently loose.

Each test sends the probe's input through the HTTP API, against a server with SQLite metadata and one
with PostgreSQL metadata (which refused NUL bytes with a 500).
"""

from __future__ import annotations

import re
import threading
import time

import httpx
import psycopg
import pytest

from opencdm.client import CdmClient
from tests.security.bodies import expect, job, link, new_cluster, run

P = "eeee4444eeee4444eeee4444eeee4444"
STACKED = "1=1); COMMIT; BEGIN READ WRITE; DROP TABLE canary2; COMMIT; --"


@pytest.fixture(scope="module")
def world(server, pg):
    client = CdmClient(server.url, *server.credentials(P), P)
    cid = new_cluster(client, "inputs")
    db = pg.create_database()
    with psycopg.connect(pg.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE canary2 (id int)")
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g")
    client.call("POST", f"/clusters/{cid}/cdm/link", link("src", pg.link_inputs(db)))
    client.call("POST", f"/clusters/{cid}/cdm/link", link("dst", pg.link_inputs(db)))
    return server, client, cid, pg.dsn(db)


def _canary(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT to_regclass('canary2') IS NOT NULL").fetchone()[0]


def test_stacked_statements_in_a_where_clause_never_run(world):
    """Finding 4: ``whereClause`` was pasted into SQL sent over the simple query protocol."""
    _server, client, cid, dsn = world
    for payload in (STACKED, "1=1; DROP TABLE canary2", "1=1) OR (1=1", "id > 0 /* unterminated"):
        for body in (job("stacked", from_extra={"whereClause": payload}),
                     job("stacked", to_extra={"beforeImportType": "whereClause", "whereClause": payload})):
            resp = client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [body]})
            expect(resp, 400, "Cdm.0014")
    assert _canary(dsn)
    # a legitimate condition with ';' inside a literal and a trailing comment still works, split in ranges
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("semicolon", from_extra={
        "whereClause": "v <> 'a;b' AND id <= 10 -- the first ten", "partitionColumn": "id"},
        to_extra={"shouldClearTable": "true"}, driver={"numExtractors": "3"})]})
    sub = run(client, cid, "semicolon")
    assert sub["status"] == "SUCCEEDED", sub
    assert sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"] == 10
    assert _canary(dsn)


@pytest.mark.parametrize("name", ["..", ".", "a/b", "-x", ".hidden", "job 1", "x\x00y", "tab\tname", "é" * 241,
                                  "e\u0301"])
def test_names_follow_the_cdm_rule(world, name):
    """Finding 6 (and 7): job, link and cluster names are 1-240 letters, digits, '-', '_', '.'."""
    _server, client, cid, _dsn = world
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(name)]}), 400, "Cdm.0014")
    expect(client.request("POST", f"/clusters/{cid}/cdm/link", link(name, {"linkConfig.databaseType": "SQLITE",
                                                                            "linkConfig.database": "x.db"})), 400)
    if len(name) <= 64:
        expect(client.request("POST", "/clusters", {"cluster": {"name": name, "vpcId": "v"}}), 400)


def test_an_encoded_slash_never_routes(world):
    """Finding 6: a signature for updating job ``x/start`` (``PUT .../job/x%2Fstart``) was accepted as
    "start job x". No name holds '/', so a path with an encoded one is refused before anything runs."""
    _server, client, cid, _dsn = world
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("x")]})
    body = job("x")
    expect(client.request("PUT", f"/clusters/{cid}/cdm/job/x%2Fstart", {"jobs": [body]}), 400, "Cdm.0014")
    expect(client.request("PUT", f"/clusters/{cid}/cdm/job/x%2fstart", {"jobs": [body]}), 400, "Cdm.0014")
    status = client.call("GET", f"/clusters/{cid}/cdm/job/x/status")["submissions"][0]["status"]
    assert status == "NEVER_EXECUTED"


def test_nul_and_control_characters_are_400_not_500(world):
    """Finding 7: NUL in linkConfig.database gave 500 (embedded null byte); with PostgreSQL metadata a
    NUL in a name, a path segment or the login user name did too."""
    server, client, cid, _dsn = world
    expect(client.request("POST", f"/clusters/{cid}/cdm/link", link("nul", {
        "linkConfig.databaseType": "SQLITE", "linkConfig.database": "a\x00b.db"})), 400, "Cdm.0014")
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("esc", table="t\x1b[31m")]}), 400)
    expect(client.request("POST", "/clusters", {"cluster": {"name": "c\x00", "vpcId": "v\x00"}}), 400)
    for path in (f"/clusters/{cid}/cdm/job/a%00b", f"/clusters/{cid}%00", f"/clusters/{cid}/cdm/link/%01x"):
        expect(client.request("GET", path), 400, "Cdm.0014")
    expect(client.request("GET", f"/clusters/{cid}/cdm/job/all", query={"filter": "a\x00"}), 400)
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "a\x00", "password": "p"}}}}}
    expect(httpx.post(f"{server.url}/v3/auth/tokens", json=login), 400, "Cdm.0014")


def test_declared_types_are_strict(world):
    """Finding 8: ``restartDelayTime: false`` was taken for 0; ``123`` and ``{'a': 1}`` became table names."""
    _server, client, cid, _dsn = world
    expect(client.request("POST", f"/clusters/{cid}/action", {"restart": {"restartDelayTime": False}}), 400)
    expect(client.request("POST", f"/clusters/{cid}/action", {"stop": {"stopMode": 1}}), 400)
    for value in (123, {"a": 1}, ["t"], True):
        body = expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("typed", table=value)]}),
                      400, "Cdm.0014")
        assert "fromJobConfig.tableName" in body["error_msg"]
    expect(client.request("POST", f"/clusters/{cid}/cdm/link", {"links": [{
        "name": "l", "connector-name": "generic-jdbc-connector", "enabled": "yes",
        "link-config-values": {"configs": []}}]}), 400)


def test_small_gaps(world):
    """Finding 8: 405 without Allow, a missing body's message without a field name."""
    _server, client, cid, _dsn = world
    resp = client.request("PATCH", "/clusters")
    expect(resp, 405)
    assert set(re.split(r",\s*", resp.headers["Allow"])) >= {"GET", "POST"}
    body = expect(client.request("POST", f"/clusters/{cid}/cdm/job"), 400)
    assert body["error_msg"] == "The request body cannot be left blank."


def test_submission_ids_only_grow(world):
    """Finding 8: deleting a job let SQLite hand its submission ids out again (spec: they increase)."""
    _server, client, cid, _dsn = world
    ids = []
    for round_ in range(3):
        name = f"ids{round_}"
        client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(name, to_extra={"shouldClearTable": "true"})]})
        run(client, cid, name)
        ids.append(client.call("GET", f"/clusters/{cid}/cdm/job/{name}/status")["submissions"][0]["submission-id"])
        client.call("DELETE", f"/clusters/{cid}/cdm/job/{name}")
    assert ids == sorted(ids) and len(set(ids)) == 3, ids


def test_cluster_lifecycle_races_stay_clean(world):
    """Finding 8: concurrent start/stop/restart/delete logged BrokenProcessPool tracebacks."""
    server, client, _cid, _dsn = world
    ids = [new_cluster(client, f"race{i}") for i in range(2)]
    actions = [{"start": {}}, {"stop": {"stopMode": "IMMEDIATELY"}}, {"restart": {"restartMode": "IMMEDIATELY"}},
               {"stop": {"stopMode": "GRACEFULLY", "delayTime": 1}}]
    statuses: list[int] = []

    def hammer(cid: str, seed: int) -> None:
        for i in range(12):
            resp = client.request("POST", f"/clusters/{cid}/action", actions[(seed + i) % len(actions)])
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=hammer, args=(cid, seed)) for cid in ids for seed in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses.append(client.request("DELETE", f"/clusters/{ids[1]}").status_code)
    assert not [s for s in statuses if s >= 500], statuses
    deadline = time.monotonic() + 60
    while client.call("GET", f"/clusters/{ids[0]}")["status"] not in ("200", "900"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    log = server.log_text()
    assert "Traceback" not in log and "BrokenProcessPool" not in log
