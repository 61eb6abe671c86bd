#!/usr/bin/env python3
"""PostgreSQL -> PostgreSQL throughput: opencdm against binary COPY pipes and sling, in one run.

    .venv/bin/python bench/run.py [--rows 5000000] [--runs 1] [--cases copy1,copy2,opencdm,sling] [--keep]

Starts a throwaway PostgreSQL 15 on a free loopback port (settings of bench-peers'
postgresql-bench.conf), generates ``bench.orders`` in database ``src`` (``gen_orders.sql``), then
copies it into ``dst`` with each case, and verifies every copy by count and per-column checksums
(``checksum.sql``) against the source:

* ``copy1`` - ``psql COPY (FORMAT binary) | psql COPY FROM``, one pipe (target created untimed, no index)
* ``copy2`` - the same, two id-range pipes in parallel
* ``copy1pk`` - ``copy1``, then ``ALTER TABLE ... ADD PRIMARY KEY`` (timed): what opencdm's
  DROP_AND_CREATE delivers, for a like-for-like reference
* ``opencdm`` - a real ``opencdm serve``: cluster, links, a DROP_AND_CREATE job with
  ``throttlingConfig.numExtractors=2``, started and polled through the REST API (the target table,
  primary key included, is created inside the timed run)
* ``copykeep`` - ``copy1`` into an existing ``bench.orders`` that has its primary key (created untimed):
  the reference for loading a kept table
* ``opencdmkeep`` - opencdm into that same kept table: ``DO_NOTHING`` + ``shouldClearTable`` (the note
  says which write path the run took: ``swap`` when nothing depends on the table)
* ``copyappend`` / ``opencdmappend`` - the pipe, and opencdm with ``DO_NOTHING`` without clearing, into the
  kept table with its primary key and one row of its own (so it is appended to: opencdm's two-phase path,
  which needs ``max_prepared_transactions``, set to 64 here)
* ``copykeep2i`` / ``opencdmkeep2i`` - the same into a table that also has two secondary indexes (one
  on two columns, one partial); ``copyafter2i``: the pipe into the table without any index, then the
  primary key and both indexes built (timed), what loading first and indexing after costs
* ``pgcopydb`` - Debian's pgcopydb 0.10 (``apt-get install pgcopydb``), ``clone --table-jobs 2
  --index-jobs 2`` of the whole ``src`` database into ``dst`` (schema, data, then the primary key)
* ``sling`` - PyPI ``sling-linux-amd64`` in its own venv under /tmp, ``--mode full-refresh``

Wall time is from start to finish as a client sees it; peak RSS is the largest sum over the case's
whole process tree (psql processes; the server, its manager and worker processes for opencdm),
sampled every 100 ms (each process's own peak is in the JSON lines); CPU-s is what both cores spent
busy (database servers included). The table ends with opencdm's throughput divided by each other
case's. A benchmark, not a test: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
#: bench-peers/conf/postgresql-bench.conf (fsync, synchronous_commit and wal_level stay default).
PG_SETTINGS = {"shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "1GB", "max_wal_size": "16GB",
               "checkpoint_timeout": "30min", "effective_cache_size": "12GB", "max_connections": "100",
               "timezone": "'UTC'", "log_timezone": "'UTC'",
               "max_prepared_transactions": "64"}  # (not in bench-peers' file) opencdm's two-phase append needs it
PASSWORD = "bench"
PROJECT = "b0" * 16
SLING_VENV = Path("/tmp/opencdm-bench-sling")
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- measuring -------------------------------------------------------------------------------------

def _label(pid: int) -> str:
    """A short name for a process of the tree: serve, resource-tracker, spawn (a worker or the
    multiprocessing manager), else the program name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    text = " ".join(argv)
    for key, name in (("resource_tracker", "resource-tracker"), ("spawn_main", "spawn"), (" serve", "serve")):
        if key in text:
            return f"{name}:{pid}"
    return f"{Path(argv[0]).name}:{pid}"


def tree_sample(root: int) -> dict[int, tuple[int, int]]:
    """RSS and PSS (KiB) of ``root`` and each live descendant, by pid."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(d))
    out: dict[int, tuple[int, int]] = {}
    stack, seen = [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1])
        except OSError:  # gone meanwhile
            continue
        out[pid] = (rss, pss)
    return out


def tree_memory_kb(root: int, per_process: dict[str, int] | None = None) -> tuple[int, int]:
    """Summed RSS and PSS of ``root`` and all its descendants. RSS counts a shared library once per
    process that maps it (the metric of bench-peers); PSS splits shared pages among their users.
    ``per_process`` (label -> KiB) is raised to each process's RSS when given."""
    sample = tree_sample(root)
    if per_process is not None:
        for pid, (rss, _) in sample.items():
            label = _label(pid)
            per_process[label] = max(per_process.get(label, 0), rss)
    return sum(r for r, _ in sample.values()), sum(p for _, p in sample.values())


def tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root``'s live process tree, plus what it reaped (exited PostgreSQL backends)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(d))
            cpu[int(d)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            total += cpu.get(pid, 0)
            stack.extend(children.get(pid, []))
    return total / CLK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def measure(root: int, finished: Callable[[], bool], timeout: float, postmaster: int) -> dict:
    """Sample ``root``'s process tree every 100 ms until ``finished()``.

    wall, peak RSS/PSS of the tree, ``case_cpu_s`` (the case's own CPU: PostgreSQL's processes,
    the case's process tree and what this script reaped of it, so other load on the machine
    does not count) and ``machine_cpu_s`` (both cores busy, everything included).
    """
    busy, pg0, kids0, tree0 = busy_seconds(), tree_cpu_seconds(postmaster), children_cpu_seconds(), \
        tree_cpu_seconds(root)
    start, peak, peak_pss, by_process = time.monotonic(), 0, 0, {}
    while not finished():
        rss, pss = tree_memory_kb(root, by_process)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not finished after {timeout:.0f} s")
        time.sleep(0.1)
    wall = time.monotonic() - start
    tree = tree_cpu_seconds(root)  # a long-lived root (the server); an exited one is in the rusage
    case = tree_cpu_seconds(postmaster) - pg0 + children_cpu_seconds() - kids0 + (tree - tree0 if tree else 0)
    return {"wall_s": round(wall, 2), "rss_mib": round(peak / 1024, 1), "pss_mib": round(peak_pss / 1024, 1),
            "case_cpu_s": round(case, 1), "machine_cpu_s": round(busy_seconds() - busy, 1),
            "rss_by_process_mib": {k: round(v / 1024) for k, v in sorted(by_process.items(), key=lambda kv: -kv[1])
                                   if v >= 4096}}


# -- PostgreSQL ------------------------------------------------------------------------------------

def _pg_bin(name: str) -> str:
    for candidate in ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"):
        if Path(candidate, name).exists():
            return str(Path(candidate, name))
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: apt-get install postgresql-15")
    return found


class Postgres:
    """A PostgreSQL 15 cluster in ``root`` on 127.0.0.1:``port``, trust auth; run as ``postgres`` when root."""

    def __init__(self, root: Path) -> None:
        self.root, self.data, self.port = root, root / "pgdata", free_port()

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> None:
        if os.geteuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode:
                subprocess.run(["useradd", "-r", "-m", "postgres"], check=True)
            shutil.chown(self.root, "postgres")
        subprocess.run(self._as_owner([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                                       "--encoding=UTF8", "--locale=C"]), check=True, capture_output=True)
        settings = {**PG_SETTINGS, "port": str(self.port), "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.root}'"}
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
        subprocess.run(self._as_owner([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"),
                                       "-w", "-t", "120", "start"]), check=True, capture_output=True)
        for db in ("src", "dst"):
            self.psql("postgres", "-c", f"CREATE DATABASE {db}")

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        subprocess.run(self._as_owner([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
                       capture_output=True)

    def url(self, db: str) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{db}"

    def psql_argv(self, db: str) -> list[str]:
        return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                "-U", "postgres", "-d", db]

    def psql(self, db: str, *args: str) -> str:
        out = subprocess.run([*self.psql_argv(db), *args], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"psql {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def checksum(self, db: str, table: str) -> str:
        return self.psql(db, "-F", "|", "-v", f"tbl={table}", "-f", str(BENCH / "checksum.sql"))


# -- cases -----------------------------------------------------------------------------------------

SECONDARY = ("CREATE INDEX orders_customer ON bench.orders (customer_id, created_at)",
             "CREATE INDEX orders_ship ON bench.orders (ship_date) WHERE NOT is_paid")
TARGET_DDL = ("CREATE TABLE bench.orders (id bigint, customer_id integer, amount numeric(12,2), note text, "
              "code varchar(16), created_at timestamp, ship_date date, is_paid boolean)")


def copy_pipes(pg: Postgres, n: int, lo: int, hi: int) -> str:
    """Shell command: ``n`` binary COPY pipes over id ranges, in parallel."""
    src, dst = " ".join(pg.psql_argv("src")), " ".join(pg.psql_argv("dst"))
    step = (hi - lo + n) // n
    pipes = []
    for k in range(n):
        a, b = lo + k * step, lo + (k + 1) * step - 1
        query = ("COPY bench.orders TO STDOUT (FORMAT binary)" if n == 1 else
                 f"COPY (SELECT * FROM bench.orders WHERE id BETWEEN {a} AND {b}) TO STDOUT (FORMAT binary)")
        pipes.append(f"( {src} -c '{query}' | {dst} -c 'COPY bench.orders FROM STDIN (FORMAT binary)' ) & "
                     "pids=\"$pids $!\";")
    return "set -o pipefail; pids=; " + " ".join(pipes) + " for p in $pids; do wait $p || exit 1; done"


def run_shell(pg: Postgres, command: str, env: dict[str, str] | None = None, timeout: float = 1800) -> dict:
    proc = subprocess.Popen(["bash", "-c", command], start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        m = measure(proc.pid, lambda: proc.poll() is not None, timeout, pg.postmaster())
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.read()[-2000:]}")
    return m


class OpencdmServer:
    """``opencdm serve`` from this checkout, with one cluster, the src/dst links and the bench job
    (``start``); or only the server and cluster (``connect``), then any links and jobs (``add_link``,
    ``add_job``; ``bench/files.py`` does that)."""

    def __init__(self, root: Path, pg: Postgres, extractors: int, links: dict[str, dict[str, str]] | None = None,
                 preparation: str = "DROP_AND_CREATE") -> None:
        """``links``: flat linkConfig inputs of the ``src`` and ``dst`` links (default: both in ``pg``)."""
        self.data, self.log = root / "opencdm", root / "opencdm.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_")}
        self.port, self.pg, self.extractors, self.preparation = free_port(), pg, extractors, preparation
        self.links = links or {name: {
            "linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "127.0.0.1",
            "linkConfig.port": str(pg.port), "linkConfig.database": name, "linkConfig.username": "postgres",
            "linkConfig.password": PASSWORD} for name in ("src", "dst")}
        self.proc: subprocess.Popen | None = None
        self.connectors: dict[str, str] = {}  # link name -> connector-name
        self.last_submission: dict = {}  # the status of the last run_job

    def _cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "opencdm", *args, "--data-dir", str(self.data)], env=self.env,
                             capture_output=True, text=True, cwd=REPO, check=True)
        return out.stdout

    def start(self) -> None:
        """The server, its cluster, the ``src``/``dst`` links and the ``orders`` job."""
        self.connect()
        for name, inputs in self.links.items():
            self.add_link(name, inputs)
        self.add_job("orders", "src", "dst",
                     {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"},
                     {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders",
                      "toJobConfig.tablePreparation": self.preparation})

    def connect(self) -> None:
        """Start ``opencdm serve`` and create the cluster; links and jobs come with add_link/add_job."""
        sys.path.insert(0, str(REPO))
        from opencdm.client import CdmClient

        creds = json.loads(self._cli("credentials", "create", "--project-id", PROJECT))
        self.client = CdmClient(f"http://127.0.0.1:{self.port}", creds["ak"], creds["sk"], PROJECT)
        self._launch()
        self.cid = self.client.call("POST", "/clusters", {"cluster": {"name": "bench", "vpcId": "v"}})["id"]
        self._wait(lambda: self.client.call("GET", f"/clusters/{self.cid}")["status"] == "200", "the cluster")

    def _launch(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opencdm", "serve", "--port", str(self.port), "--data-dir", str(self.data)],
            env=self.env, cwd=REPO, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self._wait(lambda: self.client.request("GET", "/clusters").status_code == 200, "the server to answer")

    def restart(self) -> None:
        """Stop the server and start it again on the same data (cluster, links and jobs are kept):
        fresh processes, no worker left from earlier runs."""
        self.stop()
        self._launch()
        self._wait(lambda: self.client.call("GET", f"/clusters/{self.cid}")["status"] == "200", "the cluster")

    def add_link(self, name: str, inputs: dict[str, str], connector: str = "generic-jdbc-connector") -> None:
        """A link with flat linkConfig inputs (``linkConfig.host``: value)."""
        self.connectors[name] = connector
        self.client.call("POST", f"/clusters/{self.cid}/cdm/link", {"links": [{
            "name": name, "connector-name": connector, "link-config-values": {"configs": [
                {"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}]})

    def add_job(self, name: str, from_link: str, to_link: str, from_inputs: dict[str, str],
                to_inputs: dict[str, str]) -> None:
        """A job between two links made by add_link, with flat fromJobConfig/toJobConfig inputs and
        ``throttlingConfig.numExtractors``."""
        def group(config: str, inputs: dict[str, str]) -> dict:
            return {"configs": [{"name": config, "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}

        self.client.call("POST", f"/clusters/{self.cid}/cdm/job", {"jobs": [{
            "name": name, "from-connector-name": self.connectors[from_link],
            "to-connector-name": self.connectors[to_link], "from-link-name": from_link, "to-link-name": to_link,
            "from-config-values": group("fromJobConfig", from_inputs),
            "to-config-values": group("toJobConfig", to_inputs),
            "driver-config-values": group("throttlingConfig",
                                          {"throttlingConfig.numExtractors": str(self.extractors)})}]})

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"opencdm serve exited: {self.log.read_text()[-3000:]}")
            try:
                if ready():
                    return
            except Exception:  # not up yet
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def run_job(self, timeout: float = 1800, job: str = "orders") -> dict:
        """Start the job and poll its status; measured over the server's whole process tree."""
        path = f"/clusters/{self.cid}/cdm/job/{job}"
        state: dict = {}

        def finished() -> bool:
            state.update(self.client.call("GET", f"{path}/status")["submissions"][0])
            return state["status"] in ("SUCCEEDED", "FAILED")

        self.client.call("PUT", f"{path}/start")
        m = measure(self.proc.pid, finished, timeout, self.pg.postmaster())
        self.last_submission = state
        if state["status"] != "SUCCEEDED":
            raise RuntimeError(f"run {state['status']}: {state.get('error-summary')}")
        counters = state["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if "data path" in ln]
        path = lines[-1].split(": ", 1)[-1].split("; write path")[0] if lines else "?"
        m["note"] = f"rows written {counters['ROWS_WRITTEN']}; data path {path}"
        return m

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def sling_binary() -> Path:
    """The sling binary from PyPI's sling-linux-amd64 wheel, installed into its own venv once."""
    if not (SLING_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SLING_VENV)], check=True)
    found = list(SLING_VENV.glob("lib/python*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"))
    if not found:
        subprocess.run([str(SLING_VENV / "bin" / "pip"), "install", "-q", "sling-linux-amd64"], check=True)
        found = list(SLING_VENV.glob("lib/python*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"))
    found[0].chmod(0o755)
    return found[0]


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=1, help="runs per case; the table shows the median wall time")
    ap.add_argument("--cases", default="copy1,copy2,copy1pk,opencdm,copykeep,opencdmkeep,sling")
    ap.add_argument("--extractors", type=int, default=2, help="throttlingConfig.numExtractors of the opencdm job")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (PostgreSQL data, logs)")
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]

    root = Path(tempfile.mkdtemp(prefix="opencdm-bench-"))
    root.chmod(0o755)
    pg, server = Postgres(root), None
    results: list[dict] = []
    try:
        print(f"PostgreSQL on 127.0.0.1:{pg.port}, data in {root}", flush=True)
        pg.start()
        started = time.monotonic()
        pg.psql("src", "-v", f"rows={args.rows}", "-f", str(BENCH / "gen_orders.sql"))
        lo, hi = (int(x) for x in pg.psql("src", "-c", "SELECT min(id), max(id) FROM bench.orders").split("|"))
        heap = int(pg.psql("src", "-c", "SELECT pg_relation_size('bench.orders')"))
        want = pg.checksum("src", "bench.orders")
        print(f"bench.orders: {args.rows:,} rows, heap {heap / 2**20:.0f} MiB, generated in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        if any(c.startswith("opencdm") for c in cases):
            server = OpencdmServer(root, pg, args.extractors)
            server.start()
            server.add_job("orders_append", "src", "dst",  # the kept table with its primary key, appended to
                           {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"},
                           {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders",
                            "toJobConfig.tablePreparation": "DO_NOTHING"})
            server.add_job("orders_keep", "src", "dst",  # the kept table with its primary key, cleared
                           {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"},
                           {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders",
                            "toJobConfig.tablePreparation": "DO_NOTHING", "toJobConfig.shouldClearTable": "true"})
        for run in range(1, args.runs + 1):  # cases interleaved, so a busy moment hits them alike
            for case in cases:
                pg.psql("dst", "-c", "DROP SCHEMA IF EXISTS bench CASCADE",
                        *(() if case == "pgcopydb" else ("-c", "CREATE SCHEMA bench")))  # pgcopydb makes its own
                if case.startswith("copy") or case.endswith(("keep", "keep2i", "append")):
                    pg.psql("dst", "-c", TARGET_DDL)
                if case.endswith(("keep", "keep2i", "append")):  # an existing table with its primary key
                    pg.psql("dst", "-c", "ALTER TABLE bench.orders ADD PRIMARY KEY (id)")
                if case.endswith("append"):  # ... that keeps a row of its own (removed before the check)
                    pg.psql("dst", "-c", "INSERT INTO bench.orders (id) VALUES (-1)")
                if case.endswith("keep2i"):  # ... and two secondary indexes
                    pg.psql("dst", "-c", SECONDARY[0], "-c", SECONDARY[1])
                pg.psql("postgres", "-c", "CHECKPOINT")
                os.sync()
                result = {"case": case, "run": run}
                try:
                    if case in ("copy1", "copy2", "copykeep", "copykeep2i", "copyappend"):
                        result.update(run_shell(pg, copy_pipes(pg, 2 if case == "copy2" else 1, lo, hi)))
                    elif case == "copyafter2i":  # the pipe, then the primary key and both indexes built after
                        build = " ".join(f"-c '{sql}'" for sql in ("ALTER TABLE bench.orders ADD PRIMARY KEY (id)",
                                                                   *SECONDARY))
                        result.update(run_shell(pg, f"{copy_pipes(pg, 1, lo, hi)} && {' '.join(pg.psql_argv('dst'))} "
                                                    f"{build}"))
                    elif case == "copy1pk":
                        add_pk = f"{' '.join(pg.psql_argv('dst'))} -c 'ALTER TABLE bench.orders ADD PRIMARY KEY (id)'"
                        result.update(run_shell(pg, f"{copy_pipes(pg, 1, lo, hi)} && {add_pk}"))
                    elif case == "opencdm":
                        result.update(server.run_job())
                    elif case in ("opencdmkeep", "opencdmkeep2i", "opencdmappend"):
                        result.update(server.run_job(job="orders_append" if case == "opencdmappend" else "orders_keep"))
                        result["note"] += f"; {server.last_submission.get('write-path', '?').split(':')[0]} path"
                    elif case == "pgcopydb":
                        work = root / "pgcopydb"
                        shutil.rmtree(work, ignore_errors=True)
                        result.update(run_shell(pg, f"pgcopydb clone --source '{pg.url('src')}' --target "
                                                    f"'{pg.url('dst')}' --table-jobs 2 --index-jobs 2 --dir {work} "
                                                    "--no-owner --no-acl --skip-extensions --no-comments"))
                    elif case == "sling":
                        binary = sling_binary()
                        env = {**os.environ, "SLING_DISABLE_TELEMETRY": "true", "DISABLE_TELEMETRY": "1",
                               "PGSRC": pg.url("src") + "?sslmode=disable", "PGDST": pg.url("dst") + "?sslmode=disable"}
                        result.update(run_shell(pg, f"{binary} run --src-conn PGSRC --src-stream bench.orders "
                                                "--tgt-conn PGDST --tgt-object bench.orders --mode full-refresh", env))
                    else:
                        raise SystemExit(f"unknown case {case}")
                    if case.endswith("append"):
                        pg.psql("dst", "-c", "DELETE FROM bench.orders WHERE id = -1")
                    result["verified"] = pg.checksum("dst", "bench.orders") == want
                except Exception as exc:  # a failed case is a row of the table, not the end of the run
                    result.update(verified=False, note=f"FAILED: {str(exc)[-300:]}")
                results.append(result)
                print(json.dumps(result), flush=True)
    finally:
        if server:
            server.stop()
        pg.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results, args.rows, heap)


def report(results: list[dict], rows: int, heap: int) -> None:
    by_case: dict[str, list[dict]] = {}
    for r in results:
        by_case.setdefault(r["case"], []).append(r)
    summary = {}
    for case, runs in by_case.items():
        ok = [r for r in runs if r.get("verified")]
        if ok:
            wall = statistics.median(r["wall_s"] for r in ok)
            summary[case] = {"wall": wall, "rps": rows / wall, "rss": max(r["rss_mib"] for r in ok),
                             "pss": max(r["pss_mib"] for r in ok),
                             "cpu": statistics.median(r["case_cpu_s"] for r in ok),
                             "busy": statistics.median(r["machine_cpu_s"] for r in ok), "ok": f"{len(ok)}/{len(runs)}",
                             "note": runs[-1].get("note", "")}
        else:
            summary[case] = {"ok": f"0/{len(runs)}", "note": runs[-1].get("note", "")}
    mine = summary.get("opencdm", {}).get("rps")
    print(f"\n{rows:,} rows, source heap {heap / 2**20:.0f} MiB (MiB/s = heap / wall)\n")
    print("| case | wall s | rows/s | MiB/s | peak RSS MiB (tree) | peak PSS MiB | case CPU-s | machine CPU-s "
          "| verified | opencdm / case | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case, s in summary.items():
        if "wall" not in s:
            print(f"| {case} | - | - | - | - | - | - | - | {s['ok']} | - | {s['note']} |")
            continue
        ratio = f"{mine / s['rps']:.2f}" if mine and not case.endswith(("keep", "keep2i", "append")) else "-"
        print(f"| {case} | {s['wall']:.2f} | {s['rps']:,.0f} | {heap / 2**20 / s['wall']:.1f} | {s['rss']:.0f} | "
              f"{s['pss']:.0f} | {s['cpu']:.1f} | {s['busy']:.1f} | {s['ok']} | {ratio} | {s['note']} |")
    for suffix, what in (("keep", "its primary key"), ("keep2i", "its primary key and two secondary indexes"),
                         ("append", "its primary key and rows of its own (appended to)")):
        keep, pipe = summary.get(f"opencdm{suffix}", {}).get("rps"), summary.get(f"copy{suffix}", {}).get("rps")
        if keep and pipe:
            print(f"\nkept table with {what}: opencdm{suffix} / copy{suffix} = {keep / pipe:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
