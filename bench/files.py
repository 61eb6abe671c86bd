#!/usr/bin/env python3
"""File-connector throughput: opencdm's file jobs against DuckDB, psql and rclone, every copy verified.

    .venv/bin/python bench/files.py [--rows 5000000] [--binary-mib 2048] [--runs 1]
                                    [--cases pg2parquet-local,pg2parquet-s3,csv2pg-local,csv2pg-s3,bin-s3-s3,bin-s3-local]
                                    [--tools opencdm,duckdb,...] [--direct] [--warm] [--keep]

Starts a throwaway PostgreSQL 15 (``run.Postgres``: bench-peers' settings) with ``bench.orders``
(``gen_orders.sql``) in ``src``, a one-node Ceph RGW on a RAM ``memstore`` as the S3 store
(``tests.infra.ceph``, only when an S3 case is selected) with bucket ``bench``, and one real
``opencdm serve`` (``run.OpencdmServer.connect``) with four links: ``src``/``dst``
(``generic-jdbc-connector``, POSTGRESQL), ``files`` (``local-file-connector``: job paths are
relative to the project's file root ``<data-dir>/projects/<project>``) and ``s3`` (``obs-connector``
on the RGW). Every opencdm job runs with ``throttlingConfig.numExtractors=2`` (``--extractors``) and
is started and polled through the REST API. The server is restarted (untimed) before every case group
of every run, so each opencdm number is one job on a server without worker processes yet (their
start, ~0.5 s here, is inside the time, as in ``run.py``'s first run) and its memory does not carry
what earlier groups left in the workers; ``--warm`` keeps one server for the whole run instead.
File outputs keep opencdm's default ``writeToTempFile=true`` (write into a hidden folder, then move:
on an object store a server-side copy per file); ``--direct`` sets it to false. Case groups, each a
function (``--cases``), each tool timed on its own (``--tools`` selects tools):

* ``pg2parquet-local`` - ``bench.orders`` to Parquet (SNAPPY, opencdm's default) in a local directory.
  ``opencdm``: jdbc -> local-file PARQUET_FILE. ``duckdb``: DuckDB 1.4.4 with the postgres extension
  from PyPI's ``duckdb-ext-postgres`` (a side venv, /tmp/opencdm-bench-duckdb, installed on first use),
  ``ATTACH ... (TYPE postgres); COPY src.bench.orders TO 'x.parquet' (FORMAT parquet)``.
  ``copy-devnull``: ``psql -c "COPY bench.orders TO STDOUT (FORMAT binary)" > /dev/null``, the read
  side's limit (writes nothing, so nothing to verify).
* ``pg2parquet-s3`` - the same into the bucket. ``opencdm``: jdbc -> obs PARQUET_FILE. ``duckdb``:
  DuckDB's httpfs extension (PyPI ``duckdb-ext-httpfs``, loaded from the wheel, offline) writing
  ``s3://bench/...`` with a path-style S3 secret. If httpfs cannot be loaded the tool becomes
  ``duckdb+rclone`` (DuckDB to a local file, then ``rclone copyto`` into the bucket, both timed) and
  the table says so.
* ``csv2pg-local`` - a CSV file (``\\copy bench.orders TO ... CSV HEADER``, untimed) into ``dst``'s
  ``bench.orders``, re-created empty without index before every tool (bench-peers' target DDL).
  ``opencdm``: local-file CSV_FILE, ``firstRowAsHeader``, ``splitType=SIZE`` (byte ranges, so both
  extractors read the one file) -> jdbc ``DO_NOTHING``. ``psql-copy``: ``\\copy ... FROM 'file' CSV HEADER``.
* ``csv2pg-s3`` - the same CSV uploaded (untimed) to the bucket. ``opencdm``: obs -> jdbc.
  ``rclone-psql``: ``rclone cat`` of the object piped into ``psql -c "COPY ... FROM STDIN (FORMAT csv, HEADER)"``.
* ``bin-s3-s3`` / ``bin-s3-local`` - a random object of ``--binary-mib`` MiB (os.urandom in 8 MiB blocks,
  uploaded untimed through pyarrow's S3 output stream; its MD5 kept) copied BINARY_FILE -> BINARY_FILE to
  another prefix of the bucket / to a local directory. ``rclone``: ``rclone copy`` between the same
  endpoints; for S3 -> S3 through two remotes of the same store (rclone only copies server-side within
  one remote) plus ``--disable Copy``, and the run is refused unless rclone's log says ``Copied (new)``
  and not ``server-side``: the bytes really travel through rclone, as through opencdm.

Verification (a copy that fails it is a FAILED row, not a number): tables with ``checksum.sql``
against the source. Parquet by reading it back with pyarrow (``pyarrow.dataset``, batch by batch, from
the directory or the bucket prefix; hidden ``.opencdm-tmp-*`` folders are ignored like every dataset
reader does) and computing the same twelve fields as ``checksum.sql`` (count, sums, non-null counts,
string lengths, epoch microseconds of ``created_at`` summed in Python integers so they cannot overflow,
days of ``ship_date`` after 2000-01-01, ``is_paid``), compared as exact decimals with the source's
``checksum.sql`` line; the Parquet column types are in the JSON lines. Binary copies by the MD5 of the
copy, read back in full, against the MD5 taken while the source was generated. Outputs are deleted
before each tool runs and S3 outputs again once verified, with RGW's garbage collector run at once
(``radosgw-admin gc process --include-all``), or deleted objects would hold the RAM store for hours.
The memstore is sized 2 x the binary object + 3 GiB (``--ceph-gib``); it lives in the OSD's memory.

Columns: wall time as a client sees it (best of ``--runs``, cases and tools interleaved run by run);
rows/s and MiB/s from it (MiB of the source heap, of the CSV file, or of the object); peak RSS summed
over the tool's process tree (opencdm: server, manager and workers; target for binary copies <= 300 MiB),
sampled every 100 ms by ``run.measure``; case CPU-s (PostgreSQL's, Ceph's daemons' and the tool's own
processes, so other load does not count). ``opencdm ÷ tool`` is the throughput ratio: the tool's wall
time divided by opencdm's, > 1 means opencdm is faster. JSON lines carry each run's details. A
benchmark, not a test: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import run  # bench/run.py: Postgres, OpencdmServer, measure

os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")  # pyarrow's S3 client vs Ceph RGW 16
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs

DUCKDB_VENV = Path("/tmp/opencdm-bench-duckdb")
DUCKDB_PACKAGES = ("duckdb==1.4.4", "duckdb-ext-postgres==1.4.4.*", "duckdb-ext-httpfs==1.4.4.*")
BUCKET = "bench"
BLOCK = 8 << 20
CASES = ("pg2parquet-local", "pg2parquet-s3", "csv2pg-local", "csv2pg-s3", "bin-s3-s3", "bin-s3-local")
EPOCH_2000 = 10957  # days from 1970-01-01 to 2000-01-01
TIMEOUT = 3600

#: Run by the side venv's python: PG -> Parquet with DuckDB, extensions loaded from the PyPI wheels.
DUCKDB_SCRIPT = r"""
import glob, os, duckdb
import duckdb_ext
def ext(name):
    base = list(duckdb_ext.__path__)[0]
    found = glob.glob(os.path.join(base, "extensions", "v" + duckdb.__version__, "*", name + ".duckdb_extension"))
    if not found:
        raise SystemExit(f"no {name} extension for duckdb {duckdb.__version__} in {base}")
    return found[0]
con = duckdb.connect()
con.execute(f"LOAD '{ext('postgres_scanner')}'")
out = os.environ["OUT"]
if out.startswith("s3://"):
    con.execute(f"LOAD '{ext('httpfs')}'")
    con.execute("CREATE SECRET ceph (TYPE s3, KEY_ID '%s', SECRET '%s', ENDPOINT '%s', URL_STYLE 'path', "
                "USE_SSL false, REGION 'us-east-1')" % (os.environ["S3_KEY"], os.environ["S3_SECRET"],
                                                        os.environ["S3_ENDPOINT"]))
if os.environ.get("CHECK_ONLY"):
    raise SystemExit(0)
con.execute(f"ATTACH '{os.environ['SRC_URL']}' AS src (TYPE postgres, READ_ONLY)")
con.execute(f"COPY src.bench.orders TO '{out}' (FORMAT parquet)")
"""


# -- the environment of a run ----------------------------------------------------------------------

class Bench:
    """PostgreSQL, Ceph RGW (when an S3 case runs), the opencdm server and what every case shares."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args, self.root = args, root
        self.out = root / "out"  # the references' local outputs
        self.out.mkdir()
        self.pg = run.Postgres(root)
        self.s3 = None
        self.server: run.OpencdmServer | None = None
        self.jobs: set[str] = set()
        self.server_used = False  # a job ran since the server (re)started
        self.want: list[Decimal] = []
        self.heap = 0
        self._csv: Path | None = None
        self._blob: tuple[str, str] | None = None  # (key, md5)
        self._httpfs: bool | None = None
        #: toJobConfig inputs of every opencdm file output (--direct: no temporary folder)
        self.temp_input = {"writeToTempFile": "false"} if args.direct else {}

    # -- servers ----------------------------------------------------------------------------------

    def start(self, cases: list[str], tools: set[str] | None) -> None:
        print(f"PostgreSQL on 127.0.0.1:{self.pg.port}, data in {self.root}", flush=True)
        self.pg.start()
        started = time.monotonic()
        self.pg.psql("src", "-v", f"rows={self.args.rows}", "-f", str(BENCH / "gen_orders.sql"))
        self.heap = int(self.pg.psql("src", "-c", "SELECT pg_relation_size('bench.orders')"))
        self.want = fields(self.pg.checksum("src", "bench.orders"))
        print(f"bench.orders: {self.args.rows:,} rows, heap {self.heap / 2**20:.0f} MiB, generated in "
              f"{time.monotonic() - started:.0f} s; checksum.sql {'|'.join(map(str, self.want))}", flush=True)
        if any(c.endswith("-s3") or c.startswith("bin-") for c in cases):
            from tests.infra.ceph import start_ceph

            gib = self.args.ceph_gib or max(3, -(-2 * self.args.binary_mib // 1024) + 3)
            (self.root / "ceph").mkdir()
            t = time.monotonic()
            self.s3 = start_ceph(self.root / "ceph", bytes=gib << 30)
            self.s3.make_bucket(BUCKET)
            print(f"Ceph RGW on 127.0.0.1:{self.s3.port} (memstore {gib} GiB), bucket {BUCKET}, started in "
                  f"{time.monotonic() - t:.0f} s", flush=True)
        if tools is None or "opencdm" in tools:
            self.server = run.OpencdmServer(self.root, self.pg, self.args.extractors)
            self.server.connect()
            for name in ("src", "dst"):
                self.server.add_link(name, self.server.links[name])
            self.server.add_link("files", {}, "local-file-connector")
            if self.s3 is not None:
                self.server.add_link("s3", {
                    "linkConfig.storageType": "OBS", "linkConfig.server": "http://127.0.0.1",
                    "linkConfig.port": str(self.s3.port), "linkConfig.accessKey": self.s3.access_key,
                    "linkConfig.securityKey": self.s3.secret_key}, "obs-connector")

    def fresh_server(self) -> None:
        """Restart opencdm when a job ran since its start, so every case group is measured from the same
        state (a server with no worker process yet) whatever ran before it."""
        if self.server is not None and self.server_used and not self.args.warm:
            self.server.restart()
            self.server_used = False

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        if self.s3 is not None:
            from tests.infra.ceph import stop_ceph

            stop_ceph(self.s3)
        self.pg.stop()

    @property
    def project_root(self) -> Path:
        """The opencdm project's file root: relative local-file-connector paths start here."""
        root = self.root / "opencdm" / "projects" / run.PROJECT
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root

    def fs(self) -> pafs.S3FileSystem:
        return self.s3.client()

    def ceph_cpu(self) -> float:
        if self.s3 is None:
            return 0.0
        total = 0.0
        for pidfile in (self.s3.root / "run").glob("*.pid"):
            try:
                total += run.tree_cpu_seconds(int(pidfile.read_text().strip()))
            except (OSError, ValueError):
                pass
        return total

    def rclone_env(self) -> dict[str, str]:
        """Two rclone remotes, ``ceph`` and ``ceph2``, on the same RGW (config in the environment)."""
        # AWS_CA_BUNDLE (set on some machines) makes rclone's S3 backend fail on its own HTTP transport
        # ("LoadCustomCABundleError"); the endpoint is plain http anyway.
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        env["RCLONE_CONFIG"] = str(self.root / "rclone.conf")
        (self.root / "rclone.conf").touch()
        for remote in ("CEPH", "CEPH2"):
            env.update({f"RCLONE_CONFIG_{remote}_{k}": v for k, v in {
                "TYPE": "s3", "PROVIDER": "Ceph", "ENV_AUTH": "false", "ACCESS_KEY_ID": self.s3.access_key,
                "SECRET_ACCESS_KEY": self.s3.secret_key, "ENDPOINT": f"http://127.0.0.1:{self.s3.port}",
                "FORCE_PATH_STYLE": "true", "REGION": "us-east-1"}.items()})
        return env

    # -- untimed inputs ---------------------------------------------------------------------------

    def csv_file(self) -> Path:
        """bench.orders as CSV with a header, in the project's file root (written once)."""
        if self._csv is None:
            path = self.project_root / "csv" / "orders.csv"
            path.parent.mkdir(exist_ok=True)
            t = time.monotonic()
            self.pg.psql("src", "-c", f"\\copy bench.orders TO '{path}' CSV HEADER")
            self._csv = path
            print(f"CSV {path.stat().st_size / 2**20:.0f} MiB written in {time.monotonic() - t:.0f} s", flush=True)
        return self._csv

    def csv_object(self) -> str:
        """The CSV file uploaded to the bucket (once); its key."""
        key = f"{BUCKET}/csv/orders.csv"
        fs = self.fs()
        if fs.get_file_info(key).type != pafs.FileType.File:
            src = self.csv_file()
            with open(src, "rb") as f, fs.open_output_stream(key) as out:
                while block := f.read(BLOCK):
                    out.write(block)
            if fs.get_file_info(key).size != src.stat().st_size:
                raise RuntimeError("the CSV upload is incomplete")
        return key

    def blob(self) -> tuple[str, str]:
        """A random object of --binary-mib MiB in the bucket (once): its key and MD5."""
        if self._blob is None:
            key, digest, t = f"{BUCKET}/bin/src/blob.bin", hashlib.md5(usedforsecurity=False), time.monotonic()
            with self.fs().open_output_stream(key) as out:
                for _ in range(self.args.binary_mib * (1 << 20) // BLOCK):
                    block = os.urandom(BLOCK)
                    digest.update(block)
                    out.write(block)
            self._blob = key, digest.hexdigest()
            print(f"object {key}: {self.args.binary_mib} MiB, MD5 {self._blob[1]}, uploaded in "
                  f"{time.monotonic() - t:.0f} s", flush=True)
        return self._blob

    def clear_s3(self, prefix: str) -> None:
        """Delete everything under ``bucket/prefix`` and have RGW free the space at once (its garbage
        collector would otherwise keep the RADOS objects of deleted multipart uploads for hours)."""
        fs = self.fs()
        path = f"{BUCKET}/{prefix}"
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)
        subprocess.run(["radosgw-admin", "-c", str(self.s3.root / "ceph.conf"), "gc", "process", "--include-all"],
                       capture_output=True, check=False, timeout=600)

    def fresh_target(self) -> None:
        """dst.bench.orders empty, without index (bench-peers' target_ddl.sql)."""
        self.pg.psql("dst", "-c", "DROP SCHEMA IF EXISTS bench CASCADE", "-c", "CREATE SCHEMA bench",
                     "-c", run.TARGET_DDL)

    def quiesce(self) -> None:
        self.pg.psql("postgres", "-c", "CHECKPOINT")
        os.sync()

    # -- running ----------------------------------------------------------------------------------

    def opencdm(self, job: str, from_link: str, to_link: str, fjob: dict[str, str], tjob: dict[str, str]) -> dict:
        """Create the job once, run it through the API; measured over the server's process tree."""
        if self.server is None:
            raise RuntimeError("the opencdm server is not running")
        if job not in self.jobs:
            self.server.add_job(job, from_link, to_link, {f"fromJobConfig.{k}": v for k, v in fjob.items()},
                                {f"toJobConfig.{k}": v for k, v in tjob.items()})
            self.jobs.add(job)
        self.server_used = True
        offset = self.server.log.stat().st_size if self.server.log.exists() else 0
        idle_kb, _ = run.tree_memory_kb(self.server.proc.pid)
        cpu0 = self.ceph_cpu()
        m = self.server.run_job(TIMEOUT, job=job)
        m["case_cpu_s"] = round(m["case_cpu_s"] + self.ceph_cpu() - cpu0, 1)
        m["rss_before_mib"] = round(idle_kb / 1024, 1)  # the server's tree just before the run started
        with open(self.server.log, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        paths = [ln.split(": ", 1)[-1] for ln in lines if "run data path" in ln]
        counters = self.server.last_submission["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]
        m["counters"] = {k: v for k, v in counters.items() if v not in (-1, None)}
        m["note"] = f"data path {paths[-1] if paths else '?'}"
        return m

    def shell(self, name: str, command: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
        """Run ``command`` (bash, pipefail) in its own session, measured over its process tree; its
        measurements and output (stdout and stderr, kept in ``<root>/<name>.log``)."""
        log = self.root / f"{name}.log"
        cpu0 = self.ceph_cpu()
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"set -o pipefail; {command}"], start_new_session=True,
                                    env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                m = run.measure(proc.pid, lambda: proc.poll() is not None, TIMEOUT, self.pg.postmaster())
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        m["case_cpu_s"] = round(m["case_cpu_s"] + self.ceph_cpu() - cpu0, 1)
        text = log.read_text(errors="replace")
        if proc.returncode:
            raise RuntimeError(f"exit {proc.returncode}: {text[-1500:]}")
        return m, text

    def duckdb(self, name: str, out: str) -> dict:
        """DuckDB 1.4.4 (side venv) copying src.bench.orders to ``out`` (a path or s3:// URL)."""
        python = duckdb_python()
        script = self.root / "duckdb_copy.py"
        script.write_text(DUCKDB_SCRIPT)
        env = {**os.environ, "OUT": out, "SRC_URL": self.pg.url("src")}
        if self.s3 is not None:
            env.update(S3_KEY=self.s3.access_key, S3_SECRET=self.s3.secret_key,
                       S3_ENDPOINT=f"127.0.0.1:{self.s3.port}")
        m, _ = self.shell(name, f"{python} {script}", env)
        return m

    def httpfs(self) -> bool:
        """Whether the side venv's DuckDB can load httpfs and make an S3 secret (offline)."""
        if self._httpfs is None:
            env = {**os.environ, "OUT": "s3://x/y", "CHECK_ONLY": "1", "S3_KEY": "k", "S3_SECRET": "s",
                   "S3_ENDPOINT": "127.0.0.1:1"}
            script = self.root / "duckdb_copy.py"
            script.write_text(DUCKDB_SCRIPT)
            self._httpfs = subprocess.run([duckdb_python(), str(script)], env=env, capture_output=True,
                                          check=False).returncode == 0
        return self._httpfs


def duckdb_python() -> str:
    """The side venv's python with duckdb 1.4.4 and the postgres/httpfs extension wheels (installed once)."""
    python = DUCKDB_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DUCKDB_VENV)], check=True)
    have = glob.glob(str(DUCKDB_VENV / "lib" / "python*" / "site-packages" / "duckdb_ext" / "extensions" / "v*" / "*"
                         / "*.duckdb_extension"))
    if not any("postgres_scanner" in h for h in have) or not any("httpfs" in h for h in have):
        subprocess.run([str(DUCKDB_VENV / "bin" / "pip"), "install", "-q", *DUCKDB_PACKAGES], check=False)
    return str(python)


# -- verification ----------------------------------------------------------------------------------

def fields(line: str) -> list[Decimal]:
    """checksum.sql's '|'-separated line as exact numbers."""
    return [Decimal(x) for x in line.split("|")]


def _int_sum(values: pa.ChunkedArray | pa.Array) -> int:
    """Exact sum of an integer array (Python int, no int64 overflow): high and low 20 bits apart."""
    arr = values.fill_null(0).cast(pa.int64())
    high = pc.sum(pc.shift_right(arr, 20)).as_py() or 0  # arithmetic shift: exact for negatives too
    return (high << 20) + (pc.sum(pc.bit_wise_and(arr, 0xFFFFF)).as_py() or 0)


def _micros(col: pa.Array) -> pa.Array:
    """A timestamp column as int64 microseconds since the epoch (its raw value in the writer's zone)."""
    if not pa.types.is_timestamp(col.type):
        raise ValueError(f"created_at is {col.type}, not a timestamp")
    raw = col.cast(pa.int64())
    return {"s": pc.multiply(raw, 1_000_000), "ms": pc.multiply(raw, 1000), "us": raw,
            "ns": pc.divide(raw, 1000)}[col.type.unit]


def _days(col: pa.Array) -> pa.Array:
    if pa.types.is_date32(col.type):
        return col.cast(pa.int32()).cast(pa.int64())
    if pa.types.is_date64(col.type):
        return pc.divide(col.cast(pa.int64()), 86_400_000)
    if pa.types.is_timestamp(col.type):
        return pc.divide(_micros(col), 86_400_000_000)
    raise ValueError(f"ship_date is {col.type}, not a date")


def _decimal_sum(col: pa.Array) -> Decimal:
    if pa.types.is_decimal(col.type):
        total = pc.sum(col).as_py()
        return total if total is not None else Decimal(0)
    if pa.types.is_floating(col.type):  # a writer that widened numeric to double: exact to the cent
        return sum((Decimal(str(round(v, 2))) for v in col.to_pylist() if v is not None), Decimal(0))
    if pa.types.is_integer(col.type):
        return Decimal(_int_sum(col))
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):  # exact decimal text
        try:
            return _decimal_sum(col.cast(pa.decimal128(38, 9)))
        except pa.ArrowInvalid:  # more than 9 decimals: slow but exact
            return sum((Decimal(v) for v in col.to_pylist() if v is not None), Decimal(0))
    raise ValueError(f"amount is {col.type}")


def parquet_fields(source: str, filesystem: pafs.FileSystem | None = None) -> tuple[list[Decimal], pa.Schema, int]:
    """checksum.sql's fields computed from the Parquet files at ``source`` (a file or a directory, on
    ``filesystem``), batch by batch; with the Arrow schema and the number of files."""
    ds = pads.dataset(source, format="parquet", filesystem=filesystem)
    names = set(ds.schema.names)
    want = {"id", "customer_id", "amount", "note", "code", "created_at", "ship_date", "is_paid"}
    if not want <= names:
        raise ValueError(f"columns missing: {sorted(want - names)} (has {ds.schema.names})")
    n = sum_id = sum_cust = n_amount = n_note = len_note = len_code = sum_us = sum_ship = n_paid = n_is_paid = 0
    sum_amount = Decimal(0)
    for batch in ds.to_batches(columns=sorted(want), batch_size=1 << 16):
        n += batch.num_rows
        col = batch.column
        sum_id += _int_sum(col("id"))
        sum_cust += _int_sum(col("customer_id"))
        sum_amount += _decimal_sum(col("amount"))
        n_amount += pc.count(col("amount")).as_py()
        n_note += pc.count(col("note")).as_py()
        len_note += _int_sum(pc.utf8_length(col("note")))
        len_code += _int_sum(pc.utf8_length(col("code")))
        sum_us += _int_sum(_micros(col("created_at")))
        days = _days(col("ship_date"))
        sum_ship += _int_sum(days) - EPOCH_2000 * pc.count(days).as_py()
        paid = col("is_paid")
        n_paid += _int_sum(paid.cast(pa.int64()))
        n_is_paid += pc.count(paid).as_py()
    got = [n, sum_id, sum_cust, sum_amount.quantize(Decimal("0.01")), n_amount, n_note, len_note, len_code,
           sum_us, sum_ship, n_paid, n_is_paid]
    return [Decimal(x) for x in got], ds.schema, len(ds.files)


def check_parquet(b: Bench, m: dict, source: str, filesystem: pafs.FileSystem | None = None) -> None:
    got, schema, files = parquet_fields(source, filesystem)
    m["parquet_schema"], m["files"] = ", ".join(f"{f.name}:{f.type}" for f in schema), files
    m["note"] = f"{m.get('note') or ''}; {files} file(s), amount as {schema.field('amount').type}".lstrip("; ")
    m["verified"] = got == b.want
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MISMATCH: got {'|'.join(map(str, got))}".strip()


def md5_of(path: str, filesystem: pafs.FileSystem) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with filesystem.open_input_stream(path) as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_md5(b: Bench, m: dict, path: str, filesystem: pafs.FileSystem) -> None:
    got = md5_of(path, filesystem)
    m["md5"] = got
    m["verified"] = got == b.blob()[1]
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MD5 MISMATCH {got}".strip()


def check_table(b: Bench, m: dict) -> None:
    got = fields(b.pg.checksum("dst", "bench.orders"))
    m["verified"] = got == b.want
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MISMATCH: got {'|'.join(map(str, got))}".strip()


# -- the cases -------------------------------------------------------------------------------------
# Each returns {tool: thunk}; a thunk prepares untimed, runs timed, verifies and returns its result.

def pg2parquet_local(b: Bench) -> dict[str, Callable[[], dict]]:
    def opencdm() -> dict:
        out = b.project_root / "pq-opencdm"
        shutil.rmtree(out, ignore_errors=True)
        b.quiesce()
        m = b.opencdm("pg2parquet-local", "src", "files", {"schemaName": "bench", "tableName": "orders"},
                      {"outputDirectory": "pq-opencdm", "outputFormat": "PARQUET_FILE", **b.temp_input})
        check_parquet(b, m, str(out))
        return m

    def duckdb() -> dict:
        out = b.out / "pq-duckdb"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        b.quiesce()
        m = b.duckdb("pg2parquet-local-duckdb", str(out / "orders.parquet"))
        check_parquet(b, m, str(out / "orders.parquet"))
        return m

    def copy_devnull() -> dict:
        b.quiesce()
        m, _ = b.shell("pg2parquet-local-copy-devnull", f"{' '.join(b.pg.psql_argv('src'))} "
                       "-c 'COPY bench.orders TO STDOUT (FORMAT binary)' > /dev/null")
        m["verified"], m["note"] = None, "read-side limit: writes no Parquet, nothing to verify"
        return m

    return {"opencdm": opencdm, "duckdb": duckdb, "copy-devnull": copy_devnull}


def pg2parquet_s3(b: Bench) -> dict[str, Callable[[], dict]]:
    def opencdm() -> dict:
        b.clear_s3("pq-opencdm")
        b.quiesce()
        m = b.opencdm("pg2parquet-s3", "src", "s3", {"schemaName": "bench", "tableName": "orders"},
                      {"bucketName": BUCKET, "outputDirectory": "pq-opencdm", "outputFormat": "PARQUET_FILE",
                       **b.temp_input})
        check_parquet(b, m, f"{BUCKET}/pq-opencdm", b.fs())
        b.clear_s3("pq-opencdm")
        return m

    def duckdb() -> dict:
        b.clear_s3("pq-duckdb")
        key = f"{BUCKET}/pq-duckdb/orders.parquet"
        if b.httpfs():
            b.quiesce()
            m = b.duckdb("pg2parquet-s3-duckdb", f"s3://{key}")
            m["note"] = "DuckDB httpfs (duckdb-ext-httpfs 1.4.4) writing s3:// directly"
        else:  # the fallback the brief allows: DuckDB to a local file, then rclone uploads it (both timed)
            local = b.out / "pq-duckdb-s3" / "orders.parquet"
            shutil.rmtree(local.parent, ignore_errors=True)
            local.parent.mkdir()
            python = duckdb_python()
            b.quiesce()
            env = {**b.rclone_env(), "OUT": str(local), "SRC_URL": b.pg.url("src")}
            m, _ = b.shell("pg2parquet-s3-duckdb", f"{python} {b.root / 'duckdb_copy.py'} && "
                           f"rclone copyto {local} ceph:{key}", env)
            m["note"] = "httpfs NOT loadable offline: DuckDB to a local file + rclone copyto (both timed)"
        check_parquet(b, m, key, b.fs())
        b.clear_s3("pq-duckdb")
        return m

    return {"opencdm": opencdm, "duckdb": duckdb}


def csv2pg_local(b: Bench) -> dict[str, Callable[[], dict]]:
    csv = b.csv_file()

    def opencdm() -> dict:
        b.fresh_target()
        b.quiesce()
        m = b.opencdm("csv2pg-local", "files", "dst",
                      {"inputDirectory": "csv", "inputFormat": "CSV_FILE", "firstRowAsHeader": "true",
                       "splitType": "SIZE"},
                      {"schemaName": "bench", "tableName": "orders", "tablePreparation": "DO_NOTHING"})
        check_table(b, m)
        return m

    def psql_copy() -> dict:
        b.fresh_target()
        b.quiesce()
        m, _ = b.shell("csv2pg-local-psql-copy", f"{' '.join(b.pg.psql_argv('dst'))} "
                       f"-c \"\\copy bench.orders FROM '{csv}' CSV HEADER\"")
        check_table(b, m)
        return m

    return {"opencdm": opencdm, "psql-copy": psql_copy}


def csv2pg_s3(b: Bench) -> dict[str, Callable[[], dict]]:
    key = b.csv_object()

    def opencdm() -> dict:
        b.fresh_target()
        b.quiesce()
        m = b.opencdm("csv2pg-s3", "s3", "dst",
                      {"bucketName": BUCKET, "inputDirectory": "csv", "inputFormat": "CSV_FILE",
                       "firstRowAsHeader": "true", "splitType": "SIZE"},
                      {"schemaName": "bench", "tableName": "orders", "tablePreparation": "DO_NOTHING"})
        check_table(b, m)
        return m

    def rclone_psql() -> dict:
        b.fresh_target()
        b.quiesce()
        m, _ = b.shell("csv2pg-s3-rclone-psql", f"rclone cat ceph:{key} | {' '.join(b.pg.psql_argv('dst'))} "
                       "-c 'COPY bench.orders FROM STDIN (FORMAT csv, HEADER true)'", b.rclone_env())
        check_table(b, m)
        return m

    return {"opencdm": opencdm, "rclone-psql": rclone_psql}


def _rclone_streamed(log: str) -> str:
    """rclone's own word that it moved the bytes itself (not a server-side copy)."""
    if "server-side" in log.lower() or "Copied (new)" not in log:
        raise RuntimeError(f"rclone did not stream the object: {log[-800:]}")
    return "streamed by rclone (log: 'Copied (new)')"


def bin_s3_s3(b: Bench) -> dict[str, Callable[[], dict]]:
    src, _ = b.blob()
    prefix = src.split("/", 1)[1].rsplit("/", 1)[0]  # bin/src

    def opencdm() -> dict:
        b.clear_s3("bin/opencdm")
        m = b.opencdm("bin-s3-s3", "s3", "s3", {"bucketName": BUCKET, "inputDirectory": prefix,
                                                "inputFormat": "BINARY_FILE"},
                      {"bucketName": BUCKET, "outputDirectory": "bin/opencdm", "outputFormat": "BINARY_FILE",
                       **b.temp_input})
        check_md5(b, m, f"{BUCKET}/bin/opencdm/blob.bin", b.fs())
        b.clear_s3("bin/opencdm")
        return m

    def rclone() -> dict:
        b.clear_s3("bin/rclone")
        m, log = b.shell("bin-s3-s3-rclone", f"rclone copy -v --disable Copy ceph:{BUCKET}/{prefix} "
                         f"ceph2:{BUCKET}/bin/rclone", b.rclone_env())
        m["note"] = _rclone_streamed(log)
        check_md5(b, m, f"{BUCKET}/bin/rclone/blob.bin", b.fs())
        b.clear_s3("bin/rclone")
        return m

    return {"opencdm": opencdm, "rclone": rclone}


def bin_s3_local(b: Bench) -> dict[str, Callable[[], dict]]:
    src, _ = b.blob()
    prefix = src.split("/", 1)[1].rsplit("/", 1)[0]
    local = pafs.LocalFileSystem()

    def opencdm() -> dict:
        out = b.project_root / "bin-opencdm"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        m = b.opencdm("bin-s3-local", "s3", "files", {"bucketName": BUCKET, "inputDirectory": prefix,
                                                      "inputFormat": "BINARY_FILE"},
                      {"outputDirectory": "bin-opencdm", "outputFormat": "BINARY_FILE", **b.temp_input})
        check_md5(b, m, str(out / "blob.bin"), local)
        shutil.rmtree(out, ignore_errors=True)
        return m

    def rclone() -> dict:
        out = b.out / "bin-rclone"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        m, log = b.shell("bin-s3-local-rclone", f"rclone copy -v ceph:{BUCKET}/{prefix} {out}", b.rclone_env())
        m["note"] = _rclone_streamed(log)
        check_md5(b, m, str(out / "blob.bin"), local)
        shutil.rmtree(out, ignore_errors=True)
        return m

    return {"opencdm": opencdm, "rclone": rclone}


GROUPS: dict[str, Callable[[Bench], dict[str, Callable[[], dict]]]] = {
    "pg2parquet-local": pg2parquet_local, "pg2parquet-s3": pg2parquet_s3, "csv2pg-local": csv2pg_local,
    "csv2pg-s3": csv2pg_s3, "bin-s3-s3": bin_s3_s3, "bin-s3-local": bin_s3_local}
TITLES = {
    "pg2parquet-local": "PostgreSQL bench.orders -> Parquet in a local directory",
    "pg2parquet-s3": "PostgreSQL bench.orders -> Parquet in a Ceph RGW bucket",
    "csv2pg-local": "local CSV file -> PostgreSQL (empty table, no index)",
    "csv2pg-s3": "CSV object in a Ceph RGW bucket -> PostgreSQL (empty table, no index)",
    "bin-s3-s3": "binary object, bucket -> another prefix of the bucket",
    "bin-s3-local": "binary object, bucket -> local directory"}


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--binary-mib", type=int, default=2048, help="size of the binary object (a multiple of 8)")
    ap.add_argument("--runs", type=int, default=1, help="runs per tool; the table shows the best wall time")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--tools", default="", help="only these tools (opencdm, duckdb, copy-devnull, psql-copy, "
                                                 "rclone-psql, rclone); default all")
    ap.add_argument("--extractors", type=int, default=2, help="throttlingConfig.numExtractors of the opencdm jobs")
    ap.add_argument("--direct", action="store_true",
                    help="opencdm file outputs with toJobConfig.writeToTempFile=false (default: true, opencdm's "
                         "default: write into a hidden folder, then move)")
    ap.add_argument("--warm", action="store_true",
                    help="one opencdm server for the whole run, never restarted: worker processes stay warm between "
                         "groups and runs (default: restarted before every group, so each is measured cold and alone)")
    ap.add_argument("--ceph-gib", type=int, default=0,
                    help="Ceph memstore size in GiB, held in RAM (default 2 x the binary object + 3 GiB)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    args = ap.parse_args()
    if args.binary_mib % 8:
        raise SystemExit("--binary-mib must be a multiple of 8")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for case in cases:
        if case not in GROUPS:
            raise SystemExit(f"unknown case {case}; known: {', '.join(CASES)}")
    tools = {t.strip() for t in args.tools.split(",") if t.strip()} or None

    root = Path(tempfile.mkdtemp(prefix="opencdm-files-"))
    root.chmod(0o755)
    b = Bench(args, root)
    results: list[dict] = []
    sizes: dict[str, tuple[str, float, int | None]] = {}
    try:
        b.start(cases, tools)
        for run_no in range(1, args.runs + 1):  # groups and tools interleaved, so a busy moment hits them alike
            for case in cases:
                thunks = GROUPS[case](b)
                b.fresh_server()
                if case.startswith("pg2parquet"):
                    sizes[case] = ("heap", b.heap / 2**20, args.rows)
                elif case.startswith("csv2pg"):
                    sizes[case] = ("CSV", b.csv_file().stat().st_size / 2**20, args.rows)
                else:
                    sizes[case] = ("object", float(args.binary_mib), None)
                order = list(thunks.items()) if run_no % 2 else list(thunks.items())[::-1]
                for tool, thunk in order:
                    if tools is not None and tool not in tools:
                        continue
                    result = {"case": case, "tool": tool, "run": run_no}
                    try:
                        result.update(thunk())
                    except Exception as exc:  # noqa: BLE001  a failed tool is a row of the table, not the end
                        result.update(verified=False, note=f"FAILED: {str(exc)[-400:]}")
                    results.append(result)
                    print(json.dumps(result, default=str), flush=True)
    finally:
        b.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results, sizes, args)


def report(results: list[dict], sizes: dict[str, tuple[str, float, int | None]], args: argparse.Namespace) -> None:
    print(f"\nfiles.py: {args.rows:,} rows, binary object {args.binary_mib} MiB, best wall of {args.runs} run(s), "
          f"numExtractors={args.extractors}, writeToTempFile={'false' if args.direct else 'true (default)'}, "
          f"{'one warm opencdm server' if args.warm else 'opencdm server restarted before each group'}")
    for case in dict.fromkeys(r["case"] for r in results):
        unit, mib, rows = sizes[case]
        by_tool: dict[str, list[dict]] = {}
        for r in results:
            if r["case"] == case:
                by_tool.setdefault(r["tool"], []).append(r)
        best = {}
        for tool, runs in by_tool.items():
            ok = [r for r in runs if r.get("verified") is not False and "wall_s" in r]
            best[tool] = (min(ok, key=lambda r: r["wall_s"]), ok, runs) if ok else (None, ok, runs)
        mine = best.get("opencdm", (None,))[0]
        print(f"\n### {case}: {TITLES[case]} ({f'{rows:,} rows, ' if rows else ''}{unit} {mib:,.0f} MiB)\n")
        print("| tool | wall s | rows/s | MiB/s | peak RSS MiB (tree) | case CPU-s | verified | opencdm ÷ tool | note |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tool, (r, ok, runs) in best.items():
            verified = "n/a" if r is not None and r.get("verified") is None else f"{len(ok)}/{len(runs)}"
            if r is None:
                print(f"| {tool} | - | - | - | - | - | {verified} | - | {' '.join(runs[-1].get('note', '').split())} |")
                continue
            rss = max(x["rss_mib"] for x in ok)
            note = " ".join(r.get("note", "").split())
            if tool == "opencdm":
                procs = max(ok, key=lambda x: x["rss_mib"]).get("rss_by_process_mib", {})
                note += "; tree " + " + ".join(f"{k.split(':')[0]} {v}" for k, v in procs.items())
                if case.startswith("bin-"):  # the copy's worker, and the tree counting shared pages once (PSS)
                    worker = max((v for k, v in procs.items() if k.startswith("spawn")), default=0)
                    pss = max(x["pss_mib"] for x in ok)
                    verdict = "met" if worker <= 300 and pss <= 300 else "MISSED"
                    note += f"; memory <= 300 MiB: {verdict} (copying worker RSS {worker}, tree PSS {pss:.0f})"
            wall = r["wall_s"]
            ratio = f"{wall / mine['wall_s']:.2f}" if mine else "-"
            rps = f"{rows / wall:,.0f}" if rows else "-"
            print(f"| {tool} | {wall:.2f} | {rps} | {mib / wall:,.1f} | {rss:.0f} | {r['case_cpu_s']:.1f} | {verified} "
                  f"| {ratio} | {note} |")


if __name__ == "__main__":
    main()
