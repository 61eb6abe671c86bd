"""Entire-database jobs (BATCH_JOB) through a real server: 20 tables with foreign keys, three at a time,
into existing tables that enforce the keys (so the order matters), one table made to fail; MariaDB
into PostgreSQL; tables into files."""

from __future__ import annotations

import psycopg
import pytest

from tests.engine.test_runs import Env
from tests.engine.test_stream_jobs import group
from tests.infra.data import checksums

TABLES = [f"t{i:02d}" for i in range(20)]
#: child -> parent: names chosen so that the order by name is not an order by reference
REFS = {"t00": "t07", "t07": "t13", "t02": "t19", "t11": "t02", "broken_child": "t05"}


def ddl(table: str, mysql: bool = False) -> str:
    engine = " ENGINE=InnoDB" if mysql else ""
    return f"CREATE TABLE {table} (id int PRIMARY KEY, v varchar(40), parent_id int){engine}"


def foreign_keys(tables: list[str]) -> list[str]:
    return [f"ALTER TABLE {c} ADD FOREIGN KEY (parent_id) REFERENCES {p}(id)" for c, p in REFS.items() if c in tables]


def rows(table: str) -> list[tuple]:
    n = 50 + 10 * (int(table[1:]) if table[1:].isdigit() else 3)
    return [(i, f"{table} row {i}", (i - 1) % 10 + 1 if table in REFS else None) for i in range(1, n + 1)]


def batch_job(name: str, from_link: str, to_link: str, to_connector: str, fjob: dict, tjob: dict,
              tables_at_once: int = 3) -> dict:
    return {"job_type": "BATCH_JOB", "name": name, "from-link-name": from_link, "to-link-name": to_link,
            "from-connector-name": "generic-jdbc-connector", "to-connector-name": to_connector,
            "from-config-values": group("fromJobConfig", fjob), "to-config-values": group("toJobConfig", tjob),
            "driver-config-values": group("throttlingConfig", {"numExtractors": "2",
                                                               "concurrentSubJobs": str(tables_at_once)})}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg):
    e = Env(tmp_path_factory.mktemp("batch"), pg)
    try:
        all_tables = [*TABLES, "broken_child"]
        with psycopg.connect(e.src, autocommit=True) as src, psycopg.connect(e.dst, autocommit=True) as dst:
            for conn in (src, dst):
                conn.execute("CREATE SCHEMA shop")
                conn.execute("SET search_path = shop")
                for t in all_tables:
                    conn.execute(ddl(t))
            for t in all_tables:
                src.cursor().executemany(f"INSERT INTO {t} VALUES (%s, %s, %s)", rows(t))
            for conn in (src, dst):
                for statement in foreign_keys(all_tables):
                    conn.execute(statement)
            dst.execute("ALTER TABLE t05 ADD CHECK (v NOT LIKE '%row 7')")  # t05 fails, so broken_child never starts
        yield e
    finally:
        e.server.stop()


def test_twenty_tables_with_foreign_keys_three_at_a_time_one_failing(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [batch_job(
        "wholedb", "src", "dst", "generic-jdbc-connector", {"schemaName": "shop"},
        {"schemaName": "shop", "tablePreparation": "DO_NOTHING"})]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/wholedb/start")
    sub = env.wait("wholedb", timeout=180)
    assert sub["status"] == "FAILED"
    tables = {t["name"]: t for t in sub["sub-jobs"]}
    assert set(tables) == {*TABLES, "broken_child"}
    assert tables["t05"]["status"] == "FAILED" and "check constraint" in tables["t05"]["error"].lower()
    assert tables["broken_child"]["status"] == "FAILED" and "t05" in tables["broken_child"]["error"]
    assert "2 of 21 tables failed" in sub["error-summary"] and "t05" in sub["error-summary"]
    ok = [t for t in TABLES if t != "t05"]
    assert all(tables[t]["status"] == "SUCCEEDED" for t in ok)
    for t in ok:
        assert checksums(env.dst, f"shop.{t}", ["id", "v", "parent_id"]) == \
            checksums(env.src, f"shop.{t}", ["id", "v", "parent_id"]), t
        assert tables[t]["rows_written"] == len(rows(t))
    with psycopg.connect(env.dst) as conn:  # the failed tables were left as they were: empty
        assert conn.execute("SELECT count(*) FROM shop.t05").fetchone()[0] == 0
    counters = sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
    assert counters["ROWS_WRITTEN"] == sum(t["rows_written"] for t in tables.values())  # failed ones' too
    assert sum(tables[t]["rows_written"] for t in ok) == sum(len(rows(t)) for t in ok)
    listed = env.client.call("GET", f"/clusters/{env.cid}/cdm/job/all", query={"jobType": "BATCH_JOB"})
    assert [j["name"] for j in listed["jobs"]] == ["wholedb"]


def test_tables_into_files_one_folder_each(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/link", {"links": [{
        "name": "files", "connector-name": "local-file-connector", "link-config-values": group("linkConfig", {})}]})
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [batch_job(
        "db2files", "src", "files", "local-file-connector", {"schemaName": "shop", "tableName": "t0*&t1*"},
        {"outputDirectory": "export", "outputFormat": "CSV_FILE", "firstRowAsHeader": "true"})]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/db2files/start")
    sub = env.wait("db2files", timeout=180)
    assert sub["status"] == "SUCCEEDED", sub
    root = env.server.data_dir / "projects" / "ffffffffffffffffffffffffffffffff" / "export"
    assert sorted(p.name for p in root.iterdir()) == TABLES
    lines = sum(len(f.read_text().splitlines()) - 1 for f in (root / "t13").iterdir())
    assert lines == len(rows("t13"))


def test_batch_job_inputs_that_apply_to_one_table_are_refused(env):
    for fjob, tjob in (({"schemaName": "shop", "partitionColumn": "id"}, {"schemaName": "shop"}),
                       ({"schemaName": "shop"}, {"schemaName": "shop", "tableName": "x"}),
                       ({"schemaName": "sh*"}, {"schemaName": "shop"})):
        resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [batch_job(
            "bad", "src", "dst", "generic-jdbc-connector", fjob, tjob)]})
        if "sh*" in str(fjob):  # found only when the run lists the tables
            assert resp.status_code == 200
            env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/bad/start")
            assert "one schema" in str(env.wait("bad"))
            env.client.call("DELETE", f"/clusters/{env.cid}/cdm/job/bad")
        else:
            assert resp.status_code == 400 and "BATCH_JOB" in resp.text, resp.text
    link = env.client.call("GET", f"/clusters/{env.cid}/cdm/link/src")
    assert "local-file-connector" in link["batchFromTo-mapping"]


def test_mariadb_schema_into_postgresql(env, mariadb):
    db = mariadb.create_database()
    statements = [ddl(t, mysql=True) for t in TABLES]
    for t in TABLES:
        values = ", ".join(f"({i}, '{v}', {p if p is not None else 'NULL'})" for i, v, p in rows(t))
        statements.append(f"INSERT INTO {t} VALUES {values}")
    statements += foreign_keys(TABLES)
    mariadb.sql(*statements, database=db)
    env.client.call("POST", f"/clusters/{env.cid}/cdm/link", {"links": [{
        "name": "maria", "connector-name": "generic-jdbc-connector",
        "link-config-values": group("linkConfig", mariadb.link_inputs(db))}]})
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA frommaria")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [batch_job(
        "maria2pg", "maria", "dst", "generic-jdbc-connector", {"schemaName": db},
        {"schemaName": "frommaria", "tablePreparation": "CREATE_WHEN_NOT_EXIST"})]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/maria2pg/start")
    sub = env.wait("maria2pg", timeout=180)
    assert sub["status"] == "SUCCEEDED", sub
    with psycopg.connect(env.dst) as conn:
        for t in TABLES:
            got = conn.execute(f"SELECT id, v, parent_id FROM frommaria.{t} ORDER BY id").fetchall()
            assert got == rows(t), t


def test_sqlite_tables_in_foreign_key_order_with_a_cycle_broken(tmp_path):
    import sqlite3

    from opencdm.connectors import get
    from opencdm.connectors.base import BatchItem, ConnectorContext

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id));
            CREATE TABLE customers (id INTEGER PRIMARY KEY);
            CREATE TABLE lines (id INTEGER PRIMARY KEY, o INTEGER REFERENCES orders(id));
            CREATE TABLE a (id INTEGER PRIMARY KEY, b INTEGER REFERENCES b(id));
            CREATE TABLE b (id INTEGER PRIMARY KEY, a INTEGER REFERENCES a(id));""")
    ctx = ConnectorContext(file_root=str(tmp_path), allowed_dirs=(str(tmp_path),))
    link = {"linkConfig.databaseType": "SQLITE", "linkConfig.database": str(path)}
    got = get("generic-jdbc-connector").batch_items(link, {"fromJobConfig.tableName": "*"}, ctx)
    assert got == [BatchItem("customers"), BatchItem("orders", ("customers",)), BatchItem("lines", ("orders",)),
                   BatchItem("a"), BatchItem("b", ("a",))]  # the a <-> b cycle broken at a
