#!/usr/bin/env python3
"""MariaDB -> PostgreSQL throughput: opencdm's MYSQL dialect against the client pipe and pgloader, in one run.

    .venv/bin/python bench/my2pg.py [--rows 1000000] [--runs 3] [--cases pipe,pgloader,opencdm] [--extractors 2]

Starts a throwaway PostgreSQL and MariaDB on free loopback ports (the test suite's
``tests/infra`` servers), generates ``bench.orders`` in PostgreSQL ``src`` (``gen_orders.sql``,
the bench-peers shape and seed) and loads the same rows into MariaDB ``bench.orders`` (the
bench-peers ``setup_mariadb.sh`` DDL). Then, alternating the cases in every run, it copies the
MariaDB table into PostgreSQL ``dst.bench.orders`` (re-created empty without an index, as
bench-peers' ``target_ddl.sql``, and CHECKPOINTed before each timed run):

* ``pipe`` - ``mariadb --quick --batch ... | psql -c "COPY ... FROM STDIN (FORMAT text, NULL 'NULL')"``,
  bench-peers' ``my2pg.client_pipe`` reference.
* ``pgloader`` - Debian's ``pgloader`` (``apt-get install pgloader``) with bench-peers'
  ``pgloader_my2pg.load``: its defaults, so it drops and re-creates the target with its own type
  casts and builds the primary key (``tablePreparation=DROP_AND_CREATE`` does the same for opencdm).
* ``opencdm`` - a real ``opencdm serve`` (``run.OpencdmServer``): MYSQL and POSTGRESQL links and a
  ``DO_NOTHING`` job into the existing target with ``throttlingConfig.numExtractors`` (``--extractors``),
  started and polled through the REST API; ``opencdm-create`` is the same job with ``DROP_AND_CREATE``;
  ``opencdm-rowsN`` the ``DO_NOTHING`` job with the MySQL link's ``fetchSize`` set to N rows (65536 was
  the default before read batches were sized by bytes), to compare batch sizes in one run.
* ``sdk-pN`` - the connector SDK in this process, as the engine drives it: ``partitions(N)``,
  then per partition an extractor thread feeding ``Loader.load`` through a bounded queue, N
  partitions at once, then ``commit`` (``tablePreparation=DO_NOTHING``: the existing target).
* ``sdk-pN-create`` - the same with ``DROP_AND_CREATE``: the target, primary key included, is
  created inside the timed run.

Every copy is verified against the source with ``checksum.sql``. Wall time is the best of the
runs. Peak RSS is the largest sum over the case's process tree (the pipe's two clients, pgloader,
or the opencdm server with its manager and workers), sampled every 100 ms by ``run.measure``; the
``sdk`` cases run in this process and have none. Case CPU-s is what the case itself used: both
database servers (their process trees, exited backends included), this process and its children
(the pipe's clients, pgloader) and the opencdm server's tree, so it stays meaningful on a busy machine; "machine busy" is /proc/stat's, everything included. A benchmark,
not a test: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import run as pgbench  # noqa: E402  (bench/run.py: OpencdmServer, measure)
from opencdm.connectors import get  # noqa: E402
from opencdm.connectors.base import ConnectorContext  # noqa: E402
from tests.infra.mariadb import _bin, start_mariadb, stop_mariadb  # noqa: E402
from tests.infra.postgres import start_postgres, stop_postgres  # noqa: E402

MY_DDL = """CREATE TABLE orders (id bigint NOT NULL PRIMARY KEY, customer_id int, amount decimal(12,2), note text,
  code varchar(16), created_at datetime(6), ship_date date, is_paid tinyint(1)) ENGINE=InnoDB CHARACTER SET utf8mb4"""
TARGET_DDL = """DROP TABLE IF EXISTS bench.orders; CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE bench.orders (id bigint, customer_id integer, amount numeric(12,2), note text, code varchar(16),
  created_at timestamp, ship_date date, is_paid boolean); CHECKPOINT;"""
COLUMNS = "id, customer_id, amount, note, code, created_at, ship_date, is_paid"
QUEUE_BATCHES = 4


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(root: int) -> float:
    """CPU-s of process ``root`` and its descendants, including children it already waited for."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            stats[int(entry)] = st
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        st = stats.get(pid)
        if st is None:
            continue
        total += sum(int(x) for x in st[11:15])  # utime stime cutime cstime
        todo += [p for p, s in stats.items() if int(s[1]) == pid]
    return total / os.sysconf("SC_CLK_TCK")


def case_cpu(servers: Servers) -> float:
    """CPU-s so far of both database servers, this process and its waited-for children."""
    me = os.times()
    return (tree_cpu(servers.my.pid) + tree_cpu(servers.pg_pid()) + me.user + me.system + me.children_user
            + me.children_system)


class Servers:
    def __init__(self, root: Path) -> None:
        for name in ("pg", "my"):
            (root / name).mkdir()
            os.chmod(root / name, 0o755)
        self.pg = start_postgres(root / "pg")
        self.my = start_mariadb(root / "my")
        self.root = root
        self.env = {**os.environ, "PGPASSWORD": self.pg.password, "MYSQL_PWD": self.my.password}

    def psql(self, db: str, *args: str, stdin: str | None = None) -> str:
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg.host, "-p", str(self.pg.port), "-U",
                self.pg.user, "-d", db, *args]
        return subprocess.run(argv, env=self.env, input=stdin, capture_output=True, text=True, check=True).stdout

    def mariadb(self) -> list[str]:
        return [_bin("mariadb"), "--no-defaults", "-h", self.my.host, "-P", str(self.my.port), "-u", self.my.user,
                "bench"]

    def pg_pid(self) -> int:
        return int((self.pg.root / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        stop_mariadb(self.my)
        stop_postgres(self.pg.root)


def generate(s: Servers, rows: int) -> None:
    s.psql("postgres", "-c", "CREATE DATABASE src", "-c", "CREATE DATABASE dst")
    s.psql("src", "-v", f"rows={rows}", "-f", str(BENCH / "gen_orders.sql"))
    tsv = s.root / "orders.tsv"
    s.psql("src", "-c", f"\\copy (SELECT {COLUMNS.replace('is_paid', 'is_paid::int')} FROM bench.orders ORDER BY id)"
                        f" TO '{tsv}'")
    s.my.sql("CREATE DATABASE bench CHARACTER SET utf8mb4")
    subprocess.run([*s.mariadb(), "--local-infile=1"], env=s.env, check=True, text=True, input=(
        f"{MY_DDL};\nLOAD DATA LOCAL INFILE '{tsv}' INTO TABLE orders FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
        " LINES TERMINATED BY '\\n';\nANALYZE TABLE orders;\n"), capture_output=True)
    tsv.unlink()


def checksum(s: Servers, db: str) -> str:
    return s.psql(db, "-At", "-v", "tbl=bench.orders", "-f", str(BENCH / "checksum.sql")).strip()


def run_tree(s: Servers, argv: list[str], **kw) -> dict:
    """Run ``argv`` in its own session, measured over its process tree; its output kept for errors."""
    log = s.root / "case.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=s.env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT, **kw)
        m = pgbench.measure(proc.pid, lambda: proc.poll() is not None, 3600, s.pg_pid())
    if proc.returncode:
        raise RuntimeError(f"{argv[0]} exit {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
    return m


def run_pipe(s: Servers) -> dict:
    query = f"SELECT {COLUMNS} FROM orders"
    psql = (f"psql -X -q -v ON_ERROR_STOP=1 -h {s.pg.host} -p {s.pg.port} -U {s.pg.user} -d dst "
            "-c \"COPY bench.orders FROM STDIN (FORMAT text, NULL 'NULL')\"")
    mariadb = " ".join(s.mariadb())
    return run_tree(s, ["bash", "-c", f"set -o pipefail; {mariadb} --quick --batch --skip-column-names "
                                      f"-e '{query}' | {psql}"])


def run_pgloader(s: Servers) -> dict:
    """bench-peers' pgloader_my2pg.load (defaults: drop, create, copy, build indexes)."""
    load = s.root / "my2pg.load"
    load.write_text(f"""LOAD DATABASE
  FROM mysql://{s.my.user}:{s.my.password}@{s.my.host}:{s.my.port}/bench
  INTO pgsql://{s.pg.user}:{s.pg.password}@{s.pg.host}:{s.pg.port}/dst
  INCLUDING ONLY TABLE NAMES MATCHING 'orders';
""")
    exe = shutil.which("pgloader")
    if not exe:
        raise SystemExit("pgloader not found: apt-get install -y pgloader")
    return run_tree(s, [exe, "--no-ssl-cert-verification", str(load)], cwd=s.root)


class RestCase:
    """``opencdm serve`` with a MYSQL ``src`` and a POSTGRESQL ``dst`` link, one job per preparation."""

    def __init__(self, s: Servers, extractors: int) -> None:
        self.s, self.servers = s, {}
        self.extractors = extractors

    def run(self, preparation: str, fetch_size: int | None = None) -> dict:
        key = f"{preparation.lower()}{f'-rows{fetch_size}' if fetch_size else ''}"
        server = self.servers.get(key)
        if server is None:
            root = self.s.root / f"opencdm-{key}"
            root.mkdir()
            src = self.s.my.link_inputs("bench")
            if fetch_size:
                src["linkConfig.fetchSize"] = str(fetch_size)
            links = {"src": src, "dst": self.s.pg.link_inputs("dst")}
            server = self.servers[key] = pgbench.OpencdmServer(root, _PgPid(self.s), self.extractors, links,
                                                               preparation)
            server.start()
        m = server.run_job(timeout=3600)
        m["cpu_extra"] = 0.0
        return m

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


class _PgPid:
    """What run.OpencdmServer asks of its PostgreSQL: the postmaster's pid."""

    def __init__(self, s: Servers) -> None:
        self.s, self.port = s, s.pg.port

    def postmaster(self) -> int:
        return self.s.pg_pid()


def run_opencdm(s: Servers, partitions: int, prep: str = "DO_NOTHING") -> None:
    jdbc = get("generic-jdbc-connector")
    ctx = ConnectorContext()
    src, fjob = s.my.link_inputs("bench"), {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"}
    dst, tjob = s.pg.link_inputs("dst"), {"toJobConfig.schemaName": "bench", "toJobConfig.tableName": "orders",
                                          "toJobConfig.tablePreparation": prep}
    run_id = uuid.uuid4().hex
    extractor = jdbc.extractor(src, fjob, ctx)
    loader = jdbc.loader(dst, tjob, ctx, run_id)
    loader.prepare(extractor.schema())
    parts = extractor.partitions(partitions)
    results: list = []
    errors: list[BaseException] = []

    def one(part) -> None:  # what engine/task.py does in a worker: extractor thread -> queue -> loader
        ex, ld = jdbc.extractor(src, fjob, ctx), jdbc.loader(dst, tjob, ctx, run_id)
        q: queue.Queue = queue.Queue(QUEUE_BATCHES)

        def produce() -> None:
            try:
                for batch in ex.extract(part):
                    q.put(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the loader side
                q.put(exc)
            q.put(None)

        def consume():
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item

        t = threading.Thread(target=produce, daemon=True)
        t.start()
        try:
            results.append(ld.load(part, consume()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        t.join()

    threads = [threading.Thread(target=one, args=(p,)) for p in parts]
    pending = list(threads)
    running: list[threading.Thread] = []
    while pending or running:
        running = [t for t in running if t.is_alive()]
        while pending and len(running) < partitions:
            t = pending.pop(0)
            t.start()
            running.append(t)
        time.sleep(0.005)
    if errors:
        raise errors[0]
    t = time.perf_counter()
    loader.commit(results)
    if os.environ.get("MY2PG_VERBOSE"):
        print(f"  commit {time.perf_counter() - t:.2f} s", flush=True)


def timed(s: Servers, name: str, fn, extra_cpu=lambda: 0.0) -> dict:
    """Run one case on a fresh empty target; ``extra_cpu``: CPU-s so far of a process this one does not
    reap (the opencdm server)."""
    s.psql("dst", "-c", TARGET_DDL)
    wall, busy, cpu = time.perf_counter(), busy_seconds(), case_cpu(s) + extra_cpu()
    m = fn() or {}
    wall, busy, cpu = time.perf_counter() - wall, busy_seconds() - busy, case_cpu(s) + extra_cpu() - cpu
    return {"case": name, "wall": wall, "busy": busy, "cpu": cpu, "rss": m.get("rss_mib"),
            "by_process": m.get("rss_by_process_mib"), "note": m.get("note", ""), "checksum": checksum(s, "dst")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="pipe,pgloader,opencdm",
                    help="pipe, pgloader, opencdm, opencdm-create, opencdm-rowsN, sdk-pN, sdk-pN-create; "
                         "comma-separated")
    ap.add_argument("--extractors", type=int, default=2, help="throttlingConfig.numExtractors of the opencdm job")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server data, opencdm.log)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="opencdm-my2pg-"))
    os.chmod(root, 0o755)
    servers = Servers(root)
    rest = RestCase(servers, args.extractors)

    def server_cpu() -> float:
        return sum(tree_cpu(srv.proc.pid) for srv in rest.servers.values() if srv.proc)

    try:
        t = time.perf_counter()
        generate(servers, args.rows)
        expected = checksum(servers, "src")
        print(f"# {args.rows:,} rows generated in {time.perf_counter() - t:.1f} s; MariaDB "
              f"{servers.my.sql('SELECT VERSION()').strip()}", flush=True)
        cases = []
        for name in (c.strip() for c in args.cases.split(",") if c.strip()):
            if name == "pipe":
                cases.append((name, lambda: run_pipe(servers)))
            elif name == "pgloader":
                cases.append((name, lambda: run_pgloader(servers)))
            elif name in ("opencdm", "opencdm-create"):
                prep = "DROP_AND_CREATE" if name.endswith("-create") else "DO_NOTHING"
                cases.append((name, lambda prep=prep: rest.run(prep)))
            elif name.startswith("opencdm-rows"):
                cases.append((name, lambda n=int(name[12:]): rest.run("DO_NOTHING", n)))
            elif name.startswith("sdk-p"):
                n, _, create = name[5:].partition("-")
                prep = "DROP_AND_CREATE" if create else "DO_NOTHING"
                cases.append((name, lambda n=int(n), prep=prep: run_opencdm(servers, n, prep)))
            else:
                raise SystemExit(f"unknown case {name}")
        results: dict[str, list[dict]] = {name: [] for name, _ in cases}
        for r in range(args.runs):
            order = cases if r % 2 == 0 else cases[::-1]
            for name, fn in order:
                res = timed(servers, name, fn, server_cpu)
                if res["checksum"] != expected:
                    raise SystemExit(f"{name}: checksum mismatch\n  got      {res['checksum']}\n  expected {expected}")
                results[name].append(res)
                print(f"run {r + 1} {name:18s} {res['wall']:6.2f} s  case CPU {res['cpu']:6.2f} s  machine busy "
                      f"{res['busy']:6.2f} s  peak RSS {res['rss'] or 0:5.0f} MiB  {res['by_process'] or ''} "
                      f"{res['note']}", flush=True)
        report(results, args.rows)
    finally:
        rest.stop()
        servers.stop()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, list[dict]], rows: int) -> None:
    best = {name: min(runs, key=lambda r: r["wall"]) for name, runs in results.items()}
    cpu = {name: min(r["cpu"] for r in runs) for name, runs in results.items()}
    rss = {name: max((r["rss"] or 0) for r in runs) for name, runs in results.items()}
    mine = next((best[n]["wall"] for n in ("opencdm", "opencdm-create") if n in best), None)
    print(f"\n{rows:,} rows, verified by count and checksums; best wall of the runs\n")
    print("| case | best wall s | rows/s | peak RSS MiB (tree) | least case CPU-s | opencdm throughput ÷ case |")
    print("|---|---|---|---|---|---|")
    for name, r in best.items():
        ratio = f"{r['wall'] / mine:.2f}x" if mine else "-"
        print(f"| {name} | {r['wall']:.2f} | {rows / r['wall']:,.0f} | {rss[name] or '-'} | {cpu[name]:.2f} | "
              f"{ratio} |")


if __name__ == "__main__":
    main()
