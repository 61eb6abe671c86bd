"""Findings 1 and 5: links and dirty-data files stay inside their project's file root.

The attack that found it: a project-A user pointed a SQLITE link at the metadata database in the
data directory, copied the credentials and forged a token for project B. Every file a link reaches
now resolves inside the project's own root (or a shared root the operator named), and the server
refuses to start when such a root would hold its own files.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import psycopg
import pytest

from opencdm.client import CdmClient
from tests.infra.server import make_server
from tests.security.bodies import expect, job, link, new_cluster, run, sqlite_link

A = "aaaa0000aaaa0000aaaa0000aaaa0000"
B = "bbbb0000bbbb0000bbbb0000bbbb0000"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("isolation"))
    server.start()
    a = CdmClient(server.url, *server.credentials(A), A)
    b = CdmClient(server.url, *server.credentials(B), B)
    ca, cb = new_cluster(a, "ca"), new_cluster(b, "cb")
    yield server, a, b, ca, cb
    server.stop()


def test_the_metadata_database_is_out_of_reach(world):
    server, a, _b, ca, _cb = world
    db = server.data_dir / "opencdm.db"
    assert db.exists()
    for path in (str(db), "../../opencdm.db", "../../secret.key", f"../{B}/b.db",
                 str(server.data_dir / "runs" / "x.db"), "/etc/passwd"):
        body = expect(a.request("POST", f"/clusters/{ca}/cdm/link", sqlite_link("meta", path)), 400, "Cdm.0014")
        assert "outside this project's file root" in body["error_msg"]
    # the forged-token attack needs that link: nothing was created, the token table is untouched
    expect(a.request("GET", f"/clusters/{ca}/cdm/link/meta"), 404, "Cdm.0101")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tokens").fetchone()[0] == 0


def test_a_symlink_inside_a_root_cannot_lead_out(world):
    server, a, _b, ca, _cb = world
    root = server.data_dir / "projects" / A
    os.symlink(server.data_dir / "opencdm.db", root / "looks-local.db")
    expect(a.request("POST", f"/clusters/{ca}/cdm/link", sqlite_link("sneaky", "looks-local.db")), 400, "Cdm.0014")


def test_projects_cannot_reach_each_others_files(world):
    server, a, b, ca, cb = world
    root_a = server.data_dir / "projects" / A
    a.call("POST", f"/clusters/{ca}/cdm/link", sqlite_link("mine", "a.db"))  # relative: inside A's root
    with sqlite3.connect(root_a / "a.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    assert oct((server.data_dir / "projects" / A).stat().st_mode)[-3:] == "700"
    expect(b.request("POST", f"/clusters/{cb}/cdm/link", sqlite_link("theirs", str(root_a / "a.db"))), 400,
           "Cdm.0014")
    expect(b.request("POST", f"/clusters/{cb}/cdm/link", sqlite_link("theirs", f"../{A}/a.db")), 400, "Cdm.0014")


def test_dirty_data_files_stay_in_the_root(world, pg):
    """Finding 5: a job named ``..`` wrote dirty rows one level above the allowed root."""
    server, a, _b, ca, _cb = world
    root = server.data_dir / "projects" / A
    with sqlite3.connect(root / "src.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(1, 51)] + [(51, None)])
    db = pg.create_database()
    with psycopg.connect(pg.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE t_copy (id bigint PRIMARY KEY, v text NOT NULL)")
    a.call("POST", f"/clusters/{ca}/cdm/link", sqlite_link("src", "src.db"))
    a.call("POST", f"/clusters/{ca}/cdm/link", link("dst", pg.link_inputs(db)))
    dirty = {"recordDirtyData": "true"}
    for name in ("..", ".", "../x", "x/..", "a/b"):
        expect(a.request("POST", f"/clusters/{ca}/cdm/job", {"jobs": [job(name, driver=dirty)]}), 400, "Cdm.0014")
    for where in ("..", "../../", str(server.data_dir), f"../{chr(0x42)}", "/tmp"):
        bad = job("escape", driver={**dirty, "dirtyDataDirectory": where})
        expect(a.request("POST", f"/clusters/{ca}/cdm/job", {"jobs": [bad]}), 400, "Cdm.0014")
    a.call("POST", f"/clusters/{ca}/cdm/job", {"jobs": [job("ok.job", driver=dirty)]})
    sub = run(a, ca, "ok.job")
    assert sub["status"] == "SUCCEEDED", sub
    assert sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN_SKIPPED"] == 1
    written = list(server.data_dir.rglob("*.jsonl"))
    assert written and all(p.is_relative_to(root / "dirty" / "ok.job") for p in written), written


def test_server_refuses_a_shared_root_that_holds_its_files(tmp_path):
    server = make_server(tmp_path)
    for roots in (f'["{server.data_dir}"]', f'{{"*": ["{tmp_path}"]}}', f'["{server.data_dir / "runs"}"]'):
        env = dict(server.env, OPENCDM_SHARED_FILE_ROOTS=roots)
        out = subprocess.run([sys.executable, "-m", "opencdm", "serve", "--port", "1", "--data-dir",
                              str(server.data_dir)], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "server's own" in out.stderr, (roots, out.stderr)


def test_operator_shared_roots(tmp_path):
    """A root the operator opens to one project (or to all) is reachable by exactly those projects."""
    shared = tmp_path / "shared"
    shared.mkdir()
    server = make_server(tmp_path / "srv")
    server.env["OPENCDM_SHARED_FILE_ROOTS"] = f'{{"{A}": ["{shared}"]}}'
    server.start()
    try:
        a = CdmClient(server.url, *server.credentials(A), A)
        b = CdmClient(server.url, *server.credentials(B), B)
        ca, cb = new_cluster(a, "ca"), new_cluster(b, "cb")
        a.call("POST", f"/clusters/{ca}/cdm/link", sqlite_link("team", str(shared / "team.db")))
        expect(b.request("POST", f"/clusters/{cb}/cdm/link", sqlite_link("team", str(shared / "team.db"))), 400)
    finally:
        server.stop()
