#!/usr/bin/env python3
"""Dask scaling: the same PG -> PG and PG -> Parquet jobs on the local pool and on Dask clusters of 1, 2, 4 workers.

    .venv/bin/python bench/dask.py [--rows 2000000] [--tiny-rows 1000] [--runs 1]
                                   [--backends local,dask1,dask2,dask4] [--jobs pgpg,pgparquet,tiny]
                                   [--extractors 4] [--threads 1] [--warm] [--keep]

Starts a throwaway PostgreSQL 15 (``run.Postgres``: bench-peers' settings) with ``bench.orders``
(``gen_orders.sql``) in ``src`` and its first ``--tiny-rows`` rows as ``bench.orders_tiny`` (primary key
too), and one real ``opencdm serve`` (``run.OpencdmServer``) with a normal cluster (the local pool:
cdm.small, 2 worker processes). Jobs, all with ``throttlingConfig.numExtractors=4``, started and polled
through the REST API (``opencdm.client.CdmClient``):

* ``pgpg`` - jdbc ``src`` bench.orders -> jdbc ``dst`` bench.orders, ``DROP_AND_CREATE``
* ``pgparquet`` - jdbc ``src`` bench.orders -> local-file-connector, ``outputFormat=PARQUET_FILE`` (SNAPPY),
  a directory of the project's file root (the workers run on this machine, so they reach it)
* ``tiny`` - ``pgpg`` on ``bench.orders_tiny``: moves next to nothing, so its wall time is the fixed
  cost of a run (plan, staging, commit, and the backend's own per-run overhead)

on each backend:

* ``local`` - the normal cluster (the reference of the ratios)
* ``daskN`` - a Dask cluster started fresh for the case (untimed): ``dask scheduler`` plus N ``dask worker
  ADDR --nworkers 1 --nthreads 1`` processes (``--threads``), each under its nanny in a directory of its
  own, without ``OPENCDM_*`` variables, as ``tests/infra/dask.py`` starts them; bound to a new cluster
  through the API (``cluster.sys_tags`` ``opencdm.dask-scheduler``), used once the cluster is ``200``
  with N workers, then the cluster is deleted and the Dask processes stopped by pid.

The opencdm server is restarted (untimed) before every case, so every case starts from a server
without worker processes: the local pool's two spawned workers start inside the timed run (as in
``run.py`` and ``files.py``); a Dask cluster's workers are up before the run (that is what an external
engine is), but import the connectors at their first task, inside the time. ``--warm`` runs the tiny
job once, untimed, on the case's cluster first, so the timed run finds the local pool's processes up
and the Dask workers' imports done (a busy cluster's steady state). Cases are interleaved run by run
(backends in reverse order on even runs).

Every copy is verified or the row says FAILED: tables by ``checksum.sql`` against the source, Parquet
by ``files.parquet_fields`` (read back with pyarrow, checksum.sql's twelve fields computed exactly).
Columns: wall s (start call to SUCCEEDED, as a client sees it; best of ``--runs``); rows/s; ``local ÷
this`` = the local pool's wall time / this backend's in the same run (< 1: Dask is slower); peak RSS
and PSS summed over opencdm's server tree (server, pool workers) plus every Dask process (scheduler,
nannies, workers), sampled every 100 ms, also split into server tree and Dask processes; case CPU-s
(PostgreSQL, opencdm's tree and the Dask processes). This machine has 2 cores for everything
(PostgreSQL, opencdm, Dask): 4 workers cannot run faster than 2, so the numbers show Dask's overhead
and the shape of the curve, not N-machine scaling. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import files  # bench/files.py: parquet_fields, fields
import run  # bench/run.py: Postgres, OpencdmServer, tree_memory_kb, tree_cpu_seconds

# This file is bench/dask.py: with bench/ on sys.path, ``import dask`` (distributed, or anything that probes
# for it) would import this script instead of the library. Nothing here imports Dask; keep it that way.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if getattr(sys.modules.get("dask"), "__file__", None) == __file__:
    del sys.modules["dask"]

DASK = str(Path(sys.executable).with_name("dask"))
DASK_TAG = "opencdm.dask-scheduler"
BACKENDS = ("local", "dask1", "dask2", "dask4")
JOBS = ("pgpg", "pgparquet", "tiny")
TITLES = {"pgpg": "PostgreSQL bench.orders -> PostgreSQL, DROP_AND_CREATE",
          "pgparquet": "PostgreSQL bench.orders -> Parquet (local-file-connector, SNAPPY)",
          "tiny": "PostgreSQL bench.orders_tiny -> PostgreSQL, DROP_AND_CREATE: the fixed cost of a run"}
TIMEOUT = 1800


# -- Dask processes --------------------------------------------------------------------------------

class DaskProcesses:
    """A scheduler and ``workers`` worker processes on 127.0.0.1, each in a session and directory of its own."""

    def __init__(self, root: Path, workers: int, threads: int) -> None:
        self.root, self.workers, self.threads = root, workers, threads
        self.port = run.free_port()
        self.scheduler: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []
        root.mkdir(parents=True)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_")}

    def _spawn(self, argv: list[str], home: Path) -> subprocess.Popen:
        with open(home / "dask.log", "ab") as out:
            return subprocess.Popen(argv, cwd=home, env=self._env(), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=out, start_new_session=True)

    def start(self) -> None:
        self.scheduler = self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--no-dashboard"], self.root)
        deadline = time.monotonic() + 60
        while not _port_open(self.port):
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {(self.root / 'dask.log').read_text()[-2000:]}")
            time.sleep(0.1)
        for k in range(1, self.workers + 1):
            home = self.root / f"worker-{k}"
            home.mkdir()
            self.procs.append(self._spawn([DASK, "worker", self.address, "--nworkers", "1", "--nthreads",
                                           str(self.threads), "--no-dashboard", "--local-directory", str(home)], home))

    def roots(self) -> dict[str, int]:
        """Root pid of each process tree: the scheduler, and each ``dask worker`` (its nanny, parent of the worker)."""
        out = {"scheduler": self.scheduler.pid} if self.scheduler else {}
        out.update({f"nanny-{k}": p.pid for k, p in enumerate(self.procs, 1)})
        return out

    def stop(self) -> None:
        """SIGTERM by pid, workers first (the nanny stops its worker); SIGKILL to the session we started
        after 20 s."""
        procs = [*self.procs, *([self.scheduler] if self.scheduler else [])]
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs, self.scheduler = [], None


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- measuring several process trees ---------------------------------------------------------------

def _role(group: str, root_name: str, pid: int, root_pid: int) -> str:
    if pid == root_pid:
        return f"{group}/{root_name}"
    return f"{group}/{root_name}>{run._label(pid)}"  # with its pid: a pool has several "spawn" children


def measure_trees(groups: dict[str, dict[str, int]], start: Callable[[], None], finished: Callable[[], bool],
                  timeout: float, postmaster: int) -> dict:
    """``start()``, then sample every 100 ms until ``finished()``: wall (``start`` included), peak RSS/PSS
    summed over every tree of every group ({group: {name: root pid}}) and per group, each process's
    own peak RSS, and case CPU-s (PostgreSQL plus every tree, so other load does not count)."""
    roots = [pid for trees in groups.values() for pid in trees.values()]
    cpu0 = run.tree_cpu_seconds(postmaster) + sum(run.tree_cpu_seconds(p) for p in roots)
    busy0 = run.busy_seconds()
    peak = {"total": [0, 0], **{g: [0, 0] for g in groups}}
    by_process: dict[str, int] = {}
    t0 = time.monotonic()
    start()
    while True:
        done = finished()
        total = [0, 0]
        for group, trees in groups.items():
            sums = [0, 0]
            for name, root in trees.items():
                for pid, (rss, pss) in run.tree_sample(root).items():
                    sums[0] += rss
                    sums[1] += pss
                    label = _role(group, name, pid, root)
                    by_process[label] = max(by_process.get(label, 0), rss)
            peak[group] = [max(peak[group][0], sums[0]), max(peak[group][1], sums[1])]
            total = [total[0] + sums[0], total[1] + sums[1]]
        peak["total"] = [max(peak["total"][0], total[0]), max(peak["total"][1], total[1])]
        if done:
            break
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"not finished after {timeout:.0f} s")
        time.sleep(0.1)
    wall = time.monotonic() - t0
    cpu = run.tree_cpu_seconds(postmaster) + sum(run.tree_cpu_seconds(p) for p in roots) - cpu0
    mib = lambda kb: round(kb / 1024, 1)  # noqa: E731
    return {"wall_s": round(wall, 2), "rss_mib": mib(peak["total"][0]), "pss_mib": mib(peak["total"][1]),
            **{f"{g}_rss_mib": mib(peak[g][0]) for g in groups}, **{f"{g}_pss_mib": mib(peak[g][1]) for g in groups},
            "case_cpu_s": round(cpu, 1), "machine_cpu_s": round(run.busy_seconds() - busy0, 1),
            "rss_by_process_mib": {k: round(v / 1024) for k, v in sorted(by_process.items(), key=lambda kv: -kv[1])
                                   if v >= 4096}}


# -- the bench -------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args, self.root = args, root
        self.pg = run.Postgres(root)
        self.server: run.OpencdmServer | None = None
        self.local_cid = ""
        self.used = False
        self.want: dict[str, str] = {}  # source table -> checksum.sql line
        self.heap = 0

    def start(self) -> None:
        print(f"PostgreSQL on 127.0.0.1:{self.pg.port}, data in {self.root}", flush=True)
        self.pg.start()
        t = time.monotonic()
        self.pg.psql("src", "-v", f"rows={self.args.rows}", "-f", str(BENCH / "gen_orders.sql"))
        self.pg.psql("src", "-c", f"CREATE TABLE bench.orders_tiny AS SELECT * FROM bench.orders "
                                  f"WHERE id <= {self.args.tiny_rows}",
                     "-c", "ALTER TABLE bench.orders_tiny ADD PRIMARY KEY (id)", "-c", "VACUUM ANALYZE")
        self.heap = int(self.pg.psql("src", "-c", "SELECT pg_relation_size('bench.orders')"))
        for table in ("orders", "orders_tiny"):
            self.want[table] = self.pg.checksum("src", f"bench.{table}")
        print(f"bench.orders: {self.args.rows:,} rows, heap {self.heap / 2**20:.0f} MiB; bench.orders_tiny: "
              f"{self.args.tiny_rows:,} rows; generated in {time.monotonic() - t:.0f} s", flush=True)
        self.server = run.OpencdmServer(self.root, self.pg, self.args.extractors)
        self.server.connect()
        self.local_cid = self.server.cid
        self.setup_cluster(self.local_cid)

    def setup_cluster(self, cid: str) -> None:
        """Links src, dst, files and the jobs on cluster ``cid``."""
        s = self.server
        s.cid = cid
        try:
            for name in ("src", "dst"):
                s.add_link(name, s.links[name])
            s.add_link("files", {}, "local-file-connector")
            table = {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"}
            s.add_job("pgpg", "src", "dst", table,
                      {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders",
                       "toJobConfig.tablePreparation": "DROP_AND_CREATE"})
            s.add_job("pgparquet", "src", "files", table,
                      {"toJobConfig.outputDirectory": "pq", "toJobConfig.outputFormat": "PARQUET_FILE"})
            s.add_job("tiny", "src", "dst", {**table, "fromJobConfig.tableName": "orders_tiny"},
                      {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders_tiny",
                       "toJobConfig.tablePreparation": "DROP_AND_CREATE"})
        finally:
            s.cid = self.local_cid

    def wait_cluster(self, cid: str, ready: Callable[[dict], bool], what: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            c = self.server.client.call("GET", f"/clusters/{cid}")
            if ready(c):
                return c
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: cluster {cid} is {c.get('status')} ({c.get('statusDetail')})")
            time.sleep(0.2)

    def dask_cluster(self, dask: DaskProcesses, name: str) -> tuple[str, str]:
        """A cluster bound to ``dask``'s scheduler, ``200`` with all its workers, with links and jobs:
        its id and statusDetail."""
        cid = self.server.client.call("POST", "/clusters", {"cluster": {
            "name": name, "vpcId": "v", "sys_tags": [{"key": DASK_TAG, "value": dask.address}]}})["id"]
        c = self.wait_cluster(cid, lambda c: c["status"] == "200" and str(c.get("statusDetail", "")).startswith(
            f"{dask.workers} workers"), f"{dask.workers} Dask workers")
        self.setup_cluster(cid)
        return cid, c.get("statusDetail", "")

    @property
    def project_root(self) -> Path:
        return self.root / "opencdm" / "projects" / run.PROJECT

    def prepare(self, job: str) -> None:
        if job == "pgparquet":
            shutil.rmtree(self.project_root / "pq", ignore_errors=True)
        else:
            self.pg.psql("dst", "-c", "DROP SCHEMA IF EXISTS bench CASCADE", "-c", "CREATE SCHEMA bench")
        self.pg.psql("postgres", "-c", "CHECKPOINT")
        os.sync()

    def verify(self, job: str, m: dict) -> None:
        if job == "pgparquet":
            got, schema, n = files.parquet_fields(str(self.project_root / "pq"))
            m["verified"] = got == files.fields(self.want["orders"])
            m["note"] = f"{m.get('note', '')}; {n} file(s), amount as {schema.field('amount').type}"
            if not m["verified"]:
                m["note"] += f" MISMATCH: got {'|'.join(map(str, got))}"
        else:
            table = "orders_tiny" if job == "tiny" else "orders"
            got = self.pg.checksum("dst", f"bench.{table}")
            m["verified"] = got == self.want[table]
            if not m["verified"]:
                m["note"] = f"{m.get('note', '')} MISMATCH: got {got}"

    def run_job(self, cid: str, job: str, dask: DaskProcesses | None) -> dict:
        """Start ``job`` on cluster ``cid`` through the API and poll it; measured over the server's tree and
        the Dask processes."""
        client, path = self.server.client, f"/clusters/{cid}/cdm/job/{job}"
        offset = self.server.log.stat().st_size if self.server.log.exists() else 0
        state: dict = {}

        def finished() -> bool:
            state.update(client.call("GET", f"{path}/status")["submissions"][0])
            return state["status"] in ("SUCCEEDED", "FAILED", "FAILURE_ON_SUBMIT")

        groups = {"server": {"serve": self.server.proc.pid}}
        if dask is not None:
            groups["dask"] = dask.roots()
        m = measure_trees(groups, lambda: client.call("PUT", f"{path}/start"), finished, TIMEOUT,
                          self.pg.postmaster())
        if state["status"] != "SUCCEEDED":
            raise RuntimeError(f"run {state['status']}: {state.get('error-summary')}")
        counters = state["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
        m["counters"] = {k: v for k, v in counters.items() if v not in (-1, None)}
        with open(self.server.log, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        paths = [ln.split(": ", 1)[-1] for ln in lines if "run data path" in ln]
        m["note"] = f"rows written {counters.get('ROWS_WRITTEN')}; data path {paths[-1] if paths else '?'}"
        return m

    def case(self, backend: str, job: str, run_no: int) -> dict:
        result: dict = {"backend": backend, "job": job, "run": run_no}
        dask = None
        cid = self.local_cid
        try:
            if self.used:
                self.server.restart()  # untimed: no worker process of an earlier case is left
            if backend != "local":
                n = int(backend.removeprefix("dask"))
                dask = DaskProcesses(self.root / f"dask-{backend}-{job}-{run_no}", n, self.args.threads)
                dask.start()
                cid, result["status_detail"] = self.dask_cluster(dask, f"{backend}-{job}-{run_no}")
            self.used = True
            if self.args.warm:  # untimed: the pool's processes started, the workers' connectors imported
                self.prepare("tiny")
                self.run_job(cid, "tiny", dask)
            self.prepare(job)
            result.update(self.run_job(cid, job, dask))
            self.verify(job, result)
        except Exception as exc:  # noqa: BLE001  a failed case is a row of the table, not the end of the run
            result.update(verified=False, note=f"FAILED: {str(exc)[-400:]}")
        finally:
            if cid != self.local_cid:
                try:
                    self.server.client.call("DELETE", f"/clusters/{cid}")
                except Exception as exc:  # noqa: BLE001
                    result["note"] = f"{result.get('note', '')}; cluster delete failed: {exc}"
            if dask is not None:
                dask.stop()
        return result

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.pg.stop()


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--tiny-rows", type=int, default=1000, help="rows of bench.orders_tiny (the 'tiny' job)")
    ap.add_argument("--runs", type=int, default=1, help="runs per case; the table shows the best wall time")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="local and daskN (N worker processes)")
    ap.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, of {', '.join(JOBS)}")
    ap.add_argument("--extractors", type=int, default=4, help="throttlingConfig.numExtractors of every job")
    ap.add_argument("--threads", type=int, default=1, help="--nthreads of each Dask worker")
    ap.add_argument("--warm", action="store_true",
                    help="run the tiny job once, untimed, on the case's cluster just before the timed run: the "
                         "local pool's processes are up and every Dask worker has imported the connectors, so "
                         "the time is a run on a warm cluster")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    for b in backends:
        if b != "local" and not (b.startswith("dask") and b[4:].isdigit() and int(b[4:]) > 0):
            raise SystemExit(f"unknown backend {b}: local or daskN")
    for j in jobs:
        if j not in JOBS:
            raise SystemExit(f"unknown job {j}; known: {', '.join(JOBS)}")

    root = Path(tempfile.mkdtemp(prefix="opencdm-dask-bench-"))
    root.chmod(0o755)
    b = Bench(args, root)
    results: list[dict] = []
    started = time.monotonic()
    try:
        b.start()
        for run_no in range(1, args.runs + 1):
            for job in jobs:
                for backend in (backends if run_no % 2 else backends[::-1]):
                    result = b.case(backend, job, run_no)
                    results.append(result)
                    print(json.dumps(result, default=str), flush=True)
    finally:
        b.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    report(results, args, b.heap)


def report(results: list[dict], args: argparse.Namespace, heap: int) -> None:
    cores = os.cpu_count()
    print(f"\ndask.py: {args.rows:,} rows (heap {heap / 2**20:.0f} MiB), tiny {args.tiny_rows:,} rows, best wall of "
          f"{args.runs} run(s), numExtractors={args.extractors}, Dask workers --nthreads {args.threads}, "
          f"local pool cdm.small (2 worker processes), {'warm clusters (--warm)' if args.warm else 'cold clusters'}, "
          f"{cores} cores for everything.")
    if cores and any(r["backend"].startswith("dask") and int(r["backend"][4:]) > cores for r in results):
        print(f"NOTE: this machine has {cores} cores shared by PostgreSQL, opencdm and Dask; more than {cores} "
              "workers cannot add throughput here. The rows show Dask's overhead and the curve's shape, not "
              "N-machine scaling.")
    for job in dict.fromkeys(r["job"] for r in results):
        rows = args.tiny_rows if job == "tiny" else args.rows
        best: dict[str, tuple[dict | None, int, int]] = {}
        for r in results:
            if r["job"] != job:
                continue
            ok = [x for x in results if x["job"] == job and x["backend"] == r["backend"] and x.get("verified")]
            n = sum(1 for x in results if x["job"] == job and x["backend"] == r["backend"])
            best[r["backend"]] = (min(ok, key=lambda x: x["wall_s"]) if ok else None, len(ok), n)
        ref = best.get("local", (None,))[0]
        print(f"\n### {job}: {TITLES[job]} ({rows:,} rows)\n")
        print("| backend | wall s | rows/s | rows/s per worker | local ÷ this | peak RSS MiB (all) | peak PSS MiB (all) "
              "| RSS server tree | RSS Dask | case CPU-s | verified | note |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for backend, (r, ok, n) in best.items():
            if r is None:
                failed = next(x for x in results if x["job"] == job and x["backend"] == backend)
                print(f"| {backend} | - | - | - | - | - | - | - | - | - | 0/{n} | {failed.get('note', '')} |")
                continue
            workers = 2 if backend == "local" else int(backend[4:])
            rps = rows / r["wall_s"]
            per_worker = "-" if job == "tiny" else f"{rps / workers:,.0f}"
            ratio = f"{ref['wall_s'] / r['wall_s']:.2f}" if ref else "-"
            dask_rss = f"{r['dask_rss_mib']:.0f}" if "dask_rss_mib" in r else "-"
            print(f"| {backend} | {r['wall_s']:.2f} | {rps:,.0f} | {per_worker} | {ratio} | {r['rss_mib']:.0f} "
                  f"| {r['pss_mib']:.0f} | {r['server_rss_mib']:.0f} | {dask_rss} | {r['case_cpu_s']:.1f} | {ok}/{n} "
                  f"| {r.get('note', '')} |")


if __name__ == "__main__":
    main()
