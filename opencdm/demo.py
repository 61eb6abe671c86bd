"""``opencdm demo``: the embedded default end to end, through the API like any client would."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

PROJECT = "demo0000000000000000000000000000"
SOURCE_DDL = """CREATE TABLE orders (
    id INTEGER PRIMARY KEY, qty INTEGER, amount_cents INTEGER, ratio REAL, note TEXT, code VARCHAR(40),
    created TIMESTAMP, day DATE, flag BOOLEAN)"""
SOURCE_FILL = """WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?)
INSERT INTO orders SELECT x,
    CASE WHEN x % 20 = 0 THEN NULL ELSE (x * 7) % 1000 END,
    (x * 7919) % 10000000,
    CASE WHEN x % 21 = 0 THEN NULL ELSE (x % 1000) / 7.0 END,
    CASE WHEN x % 22 = 0 THEN NULL ELSE 'order ' || x || ' ' || substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26) END,
    'c' || (x % 97),
    CASE WHEN x % 23 = 0 THEN NULL ELSE datetime(1577836800 + x * 61, 'unixepoch') END,
    CASE WHEN x % 24 = 0 THEN NULL ELSE date(946598400 + (x % 9000) * 86400, 'unixepoch') END,
    CASE WHEN x % 25 = 0 THEN NULL ELSE x % 2 END
FROM g"""
COLUMNS = "id, qty, amount_cents, ratio, note, code, created, day, flag"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_source(path: Path, rows: int) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(SOURCE_DDL)
        conn.execute(SOURCE_FILL, (rows,))


def table_digest(path: Path, table: str) -> tuple[int, str]:
    """Row count and a SHA-256 over every row in key order: equal digests mean equal tables."""
    digest = hashlib.sha256()
    count = 0
    with sqlite3.connect(path) as conn:
        cur = conn.execute(f"SELECT {COLUMNS} FROM {table} ORDER BY id")
        while rows := cur.fetchmany(50_000):
            count += len(rows)
            digest.update(repr(rows).encode())
    return count, digest.hexdigest()


def _link(name: str, db: str) -> dict:
    return {"links": [{"name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {"configs": [
        {"name": "linkConfig", "inputs": [{"name": "linkConfig.databaseType", "value": "SQLITE"},
                                          {"name": "linkConfig.database", "value": db}]}]}}]}


def _job(extractors: int) -> dict:
    return {"job_type": "NORMAL_JOB", "name": "demo_orders", "from-connector-name": "generic-jdbc-connector",
            "to-connector-name": "generic-jdbc-connector", "from-link-name": "demo_src", "to-link-name": "demo_dst",
            "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
                {"name": "fromJobConfig.tableName", "value": "orders"},
                {"name": "fromJobConfig.partitionColumn", "value": "id"}]}]},
            "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
                {"name": "toJobConfig.tableName", "value": "orders"},
                {"name": "toJobConfig.tablePreparation", "value": "DROP_AND_CREATE"}]}]},
            "driver-config-values": {"configs": [{"name": "throttlingConfig", "inputs": [
                {"name": "throttlingConfig.numExtractors", "value": str(extractors)}]}]}}


def run_demo(rows: int, extractors: int, data_dir: Path | None, port: int) -> int:
    import uvicorn

    from opencdm.app import create_app
    from opencdm.client import CdmClient
    from opencdm.settings import Settings
    from opencdm.store import credentials
    from opencdm.store.db import Store
    from opencdm.store.secrets import SecretBox

    console = Console()
    data_dir = (data_dir or Path(tempfile.mkdtemp(prefix="opencdm-demo-"))).resolve()
    settings = Settings(data_dir=data_dir)
    port = port or _free_port()
    console.print(f"[bold]opencdm demo[/]: data dir {data_dir}, server http://127.0.0.1:{port}")

    store = Store(settings.metadata_url)
    store.migrate()
    with store.session() as s:
        ak, sk = credentials.create_credential(s, SecretBox(settings.key_file), PROJECT, "demo")
    store.close()

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            console.print("[red]the server failed to start[/]")
            return 1
        time.sleep(0.05)
    client = CdmClient(f"http://127.0.0.1:{port}", ak, sk, PROJECT)
    try:
        return _drive(console, client, settings.project_root(PROJECT), rows, extractors)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=60)


def _drive(console: Console, client, root: Path, rows: int, extractors: int) -> int:
    """``root`` is the demo project's file root: the links name their files relative to it."""
    source, target = root / "source.sqlite", root / "target.sqlite"
    started = time.monotonic()
    make_source(source, rows)
    console.print(f"generated source table [cyan]orders[/]: {rows:,} rows in {time.monotonic() - started:.1f} s")

    cluster = client.call("POST", "/clusters", {"cluster": {"name": "demo-cluster", "vpcId": "local", "instances": [
        {"availability_zone": "local", "flavorRef": "a79fd5ae-1833-448a-88e8-3ea2b913e1f6", "type": "cdm",
         "nics": []}]}})
    cid = cluster["id"]
    while client.call("GET", f"/clusters/{cid}")["status"] != "200":
        time.sleep(0.1)
    console.print(f"cluster [cyan]{cid}[/] is running")
    client.call("POST", f"/clusters/{cid}/cdm/link", _link("demo_src", source.name))
    client.call("POST", f"/clusters/{cid}/cdm/link", _link("demo_dst", target.name))

    started = time.monotonic()
    resp = client.call("POST", "/clusters/job", {"jobs": [_job(extractors)], "clusters": [cid]})
    sub = resp["submissions"][0]
    status = sub
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  TextColumn("{task.fields[rows]:>12,} rows"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"{sub['job-name']} (submission {sub['submission-id']})", total=100, rows=0)
        while True:
            status = client.call("GET", f"/clusters/{sub['cluster_id']}/cdm/job/{sub['job-name']}/status")
            status = status["submissions"][0]
            counters = status.get("counters", {}).get("org.apache.sqoop.submission.counter.SqoopCounters", {})
            bar.update(task, completed=max(0.0, status["progress"]), rows=max(0, counters.get("ROWS_WRITTEN", 0)))
            if status["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.25)
    seconds = time.monotonic() - started
    if status["status"] != "SUCCEEDED":
        console.print(f"[red]the job failed:[/] {status.get('error-summary')}")
        return 1
    written = status["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN"]
    console.print(f"migrated [bold]{written:,}[/] rows in {seconds:.2f} s = [bold]{written / seconds:,.0f} rows/s[/]"
                  f" (numExtractors={extractors})")
    src_count, src_digest = table_digest(source, "orders")
    dst_count, dst_digest = table_digest(target, "orders")
    if (src_count, src_digest) != (dst_count, dst_digest):
        console.print(f"[red]verification FAILED[/]: source {src_count} rows {src_digest[:16]}, "
                      f"target {dst_count} rows {dst_digest[:16]}")
        return 1
    console.print(f"verified: target has {dst_count:,} rows, sha256 {dst_digest[:16]}… equal to the source")
    return 0
