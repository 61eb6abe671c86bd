#!/usr/bin/env python3
"""MariaDB -> MariaDB into a kept table: opencdm's write paths against the client pipe, in one run.

    .venv/bin/python bench/my2my.py [--rows 1000000] [--runs 2] [--cases pipe,insert,swap,twophase,staged,owned]

Starts a throwaway MariaDB (and the PostgreSQL that generates the rows, as ``my2pg.py`` does), loads
``bench.orders`` (bench-peers' MariaDB DDL), and copies it into ``dst.orders``, an existing table with
its primary key, emptied (untimed) before every case:

* ``pipe`` - ``mariadb --quick --batch ... | mariadb -e "LOAD DATA LOCAL INFILE '/dev/stdin' ..."``: the
  client pipe into the same kept table (``NULL`` text turned back into NULL by ``NULLIF``)
* ``insert`` - ``INSERT INTO dst.orders SELECT * FROM bench.orders`` inside the server: the floor of what
  writing the kept table costs
* ``swap`` - opencdm ``DO_NOTHING`` + ``shouldClearTable``: rebuilt aside and renamed in
* ``twophase`` - opencdm ``DO_NOTHING``, appending (the table holds one row of its own, id -1): XA
* ``staged`` - as ``swap``, with a view on the table, which forces the staged path (rows staged, then
  ``INSERT ... SELECT``): what every kept-table run did before the paths above
* ``owned`` - opencdm ``DROP_AND_CREATE``: the new table built aside and renamed in
* ``pipe2i`` / ``swap2i`` / ``staged2i`` - the pipe, the swap and the staged path into the kept table with
  two secondary indexes as well (``customer_id, created_at`` and ``code``): loading with them in place
  (the pipe, the staged ``INSERT ... SELECT``) against the swap, which builds them after the rows are in;
  ``pipeafter2i`` - the pipe into the table without them, then both built in one ``ALTER TABLE`` (timed)

opencdm runs through a real ``opencdm serve`` (links, jobs, start and poll over the REST API,
``numExtractors`` = ``--extractors``). Every copy is verified by count and per-column CRC32 sums
against the source (the append case without its own row). Wall time is the best of the runs; peak
RSS is the largest sum over the case's process tree. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import my2pg  # noqa: E402  (servers, data generation, process-tree measurement)
import run as pgbench  # noqa: E402  (OpencdmServer)

COLUMNS = my2pg.COLUMNS.split(", ")
NULLABLE = COLUMNS[1:]
KEPT_DDL = my2pg.MY_DDL.replace("CREATE TABLE orders", "CREATE TABLE dst.orders")
CHECKSUM = ("SELECT COUNT(*), " + ", ".join(f"SUM(CRC32(COALESCE({c}, '<null>')))" for c in COLUMNS)
            + " FROM {table} WHERE id >= 0")
OPENCDM = {"swap": ("DO_NOTHING", True), "twophase": ("DO_NOTHING", False), "staged": ("DO_NOTHING", True),
           "owned": ("DROP_AND_CREATE", False), "swap2i": ("DO_NOTHING", True), "staged2i": ("DO_NOTHING", True)}
INDEXES = "ADD KEY by_customer (customer_id, created_at), ADD KEY by_code (code)"


def sql(s: my2pg.Servers, statement: str) -> str:
    return s.my.sql(statement)


def reset(s: my2pg.Servers, case: str) -> None:
    """The kept table as each case wants it, untimed."""
    sql(s, "DROP VIEW IF EXISTS dst.orders_v")
    sql(s, "DROP TABLE IF EXISTS dst.orders")
    sql(s, KEPT_DDL)
    if case == "twophase":
        sql(s, "INSERT INTO dst.orders (id, note) VALUES (-1, 'its own row')")
    if case.startswith("staged"):
        sql(s, "CREATE VIEW dst.orders_v AS SELECT id FROM dst.orders")
    if case.endswith("2i") and case != "pipeafter2i":
        sql(s, f"ALTER TABLE dst.orders {INDEXES}")


def run_pipe(s: my2pg.Servers) -> dict:
    client = " ".join(s.mariadb()[:-1])
    variables = ", ".join(f"@{c}" for c in COLUMNS)
    sets = ", ".join([f"{COLUMNS[0]} = @{COLUMNS[0]}"] + [f"{c} = NULLIF(@{c}, 'NULL')" for c in NULLABLE])
    load = (f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE orders FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({variables}) SET {sets}")
    read = shlex.quote(f"SELECT {my2pg.COLUMNS} FROM orders")
    return my2pg.run_tree(s, ["bash", "-c", f"set -o pipefail; {client} bench --quick --batch --skip-column-names "
                                            f"-e {read} | {client} dst --local-infile=1 -e {shlex.quote(load)}"])


def run_pipe_then_index(s: my2pg.Servers) -> dict:
    m = run_pipe(s)
    t = time.perf_counter()
    sql(s, f"ALTER TABLE dst.orders {INDEXES}")
    m["index_s"] = time.perf_counter() - t
    return m


def run_insert(s: my2pg.Servers) -> dict:
    client = " ".join(s.mariadb()[:-1])
    return my2pg.run_tree(s, ["bash", "-c", f"{client} dst -e 'INSERT INTO orders SELECT * FROM bench.orders'"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--cases", default="pipe,insert,swap,twophase,staged,owned,pipe2i,pipeafter2i,swap2i,staged2i")
    ap.add_argument("--extractors", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="opencdm-my2my-"))
    os.chmod(root, 0o755)
    s = my2pg.Servers(root)
    server = None
    try:
        t = time.perf_counter()
        my2pg.generate(s, args.rows)
        sql(s, "CREATE DATABASE dst CHARACTER SET utf8mb4")
        expected = sql(s, CHECKSUM.format(table="bench.orders"))
        print(f"# {args.rows:,} rows generated in {time.perf_counter() - t:.1f} s; MariaDB "
              f"{sql(s, 'SELECT VERSION()').strip()}", flush=True)
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        if any(c in OPENCDM for c in cases):
            (root / "opencdm").mkdir()
            server = pgbench.OpencdmServer(root / "opencdm", my2pg._PgPid(s), args.extractors)
            server.connect()
            server.add_link("src", s.my.link_inputs("bench"))
            server.add_link("dst", s.my.link_inputs("dst"))
            for case in cases:
                if case in OPENCDM:
                    prep, clear = OPENCDM[case]
                    server.add_job(case, "src", "dst",
                                   {"fromJobConfig.schemaName": "bench", "fromJobConfig.tableName": "orders"},
                                   {"toJobConfig.schemaName": "dst", "toJobConfig.tableName": "orders",
                                    "toJobConfig.tablePreparation": prep,
                                    "toJobConfig.shouldClearTable": str(clear).lower()})
        runners = {"pipe": lambda: run_pipe(s), "insert": lambda: run_insert(s), "pipe2i": lambda: run_pipe(s),
                   "pipeafter2i": lambda: run_pipe_then_index(s)}
        results: dict[str, list[dict]] = {c: [] for c in cases}
        for r in range(args.runs):
            for case in (cases if r % 2 == 0 else cases[::-1]):
                reset(s, case)
                wall = time.perf_counter()
                m = runners[case]() if case in runners else server.run_job(timeout=3600, job=case)
                wall = time.perf_counter() - wall
                got = sql(s, CHECKSUM.format(table="dst.orders"))
                if got != expected:
                    raise SystemExit(f"{case}: checksum mismatch\n  got      {got}\n  expected {expected}")
                path = (server.last_submission.get("write-path", "") if case in OPENCDM else "").split(":")[0]
                results[case].append({"wall": wall, "rss": m.get("rss_mib") or 0, "path": path})
                print(f"run {r + 1} {case:9s} {wall:6.2f} s  peak RSS {m.get('rss_mib') or 0:5.0f} MiB  {path}",
                      flush=True)
        best = {c: min(runs, key=lambda x: x["wall"]) for c, runs in results.items()}
        print(f"\n{args.rows:,} rows into a kept table with its primary key, verified; best of {args.runs}; "
              "the 2i cases against pipe2i\n")
        print("| case | write path | wall s | rows/s | peak RSS MiB (tree) | throughput ÷ the pipe's |")
        print("|---|---|---|---|---|---|")
        for c, b in best.items():
            ref = best.get("pipe2i" if c.endswith("2i") else "pipe")
            ratio = f"{ref['wall'] / b['wall']:.2f}" if ref else "-"
            print(f"| {c} | {b['path'] or '-'} | {b['wall']:.2f} | {args.rows / b['wall']:,.0f} | "
                  f"{max(x['rss'] for x in results[c]):.0f} | {ratio} |")
    finally:
        if server is not None:
            server.stop()
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
