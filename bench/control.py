#!/usr/bin/env python3
"""Control-plane speed: how fast a started job shows RUNNING, and status-poll latency under load.

    .venv/bin/python bench/control.py [--runs-in-flight 20] [--rate 200] [--seconds 15] [--starts 20]

Starts a throwaway PostgreSQL (``bench/run.py``'s settings) and a real ``opencdm serve``, then:

1. ``start -> RUNNING``: ``--starts`` times, a job is started (``PUT .../start``) and its status is
   polled back to back until it says RUNNING; the time from sending the start to seeing RUNNING.
2. With ``--runs-in-flight`` jobs running (each reads a view that sleeps 5 ms a row, so runs stay in
   flight while using little CPU; at most ``OPENCDM_MAX_CONCURRENT_RUNS`` = that many execute), an
   open-loop load of ``--rate`` requests/s for ``--seconds``: each request is sent at its planned
   time whatever the earlier ones did, and its latency counts from that planned time (no coordinated
   omission). Three loads, one after the other: ``GET .../job/{name}/status`` signed with AK/SK (what
   the SDK and console poll), the same with no run in flight, and ``GET /health`` (the server's floor:
   HTTP and middleware, no auth, no database) as the reference of the same run.

At the end the runs in flight are stopped and each of their targets must be as it was (empty), and the
last copy of the start -> RUNNING job is verified by count, sum of ids and md5 of the values. Targets
(issue 11): start -> RUNNING < 300 ms; status p99 < 20 ms at 200 req/s with 20 runs in flight.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from run import OpencdmServer, Postgres  # noqa: E402

from opencdm.signing import sign  # noqa: E402

QUICK_ROWS = 2000  # the start -> RUNNING job's source
SLOW_ROWS = 12000  # rows of the runs in flight: at 5 ms a row each partition sleeps 60 s, longer than the loads


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {"n": len(ordered), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": ordered[-1] * 1000,
            "mean": statistics.fmean(ordered) * 1000}


def signed_headers(client, path: str) -> tuple[str, dict[str, str]]:
    """URL and headers of a signed GET (as ``CdmClient.request`` builds them, without sending)."""
    from urllib.parse import urlsplit

    raw_path = f"/v1.1/{client.project_id}{path}"
    headers = {"Host": urlsplit(client.endpoint).netloc, "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
               "X-Project-Id": client.project_id, "Content-Type": "application/json;charset=utf-8"}
    headers["Authorization"] = sign("GET", raw_path, "", headers, b"", client.ak, client.sk)
    return client.endpoint + raw_path, headers


async def open_loop(make_request, rate: float, seconds: float) -> tuple[list[float], int]:
    """Send ``rate`` requests/s for ``seconds`` at planned times; latency from the planned time."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        start = time.perf_counter() + 0.2

        async def one(planned: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            url, headers = make_request()
            resp = await http.get(url, headers=headers)
            if resp.status_code != 200:
                errors += 1
            latencies.append(time.perf_counter() - planned)

        await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * seconds))))
    return latencies, errors


def statuses(server: OpencdmServer, names: list[str]) -> list[str]:
    return [server.client.call("GET", f"/clusters/{server.cid}/cdm/job/{n}/status")["submissions"][0]["status"]
            for n in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs-in-flight", type=int, default=20)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second of the poll loads")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each load")
    ap.add_argument("--starts", type=int, default=20, help="start -> RUNNING samples")
    ap.add_argument("--metadata", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the server's metadata store (postgresql: a database on the bench's PostgreSQL)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="opencdm-bench-control-"))
    root.chmod(0o755)
    pg = Postgres(root)
    server = None
    try:
        pg.start()
        table = "CREATE TABLE {} AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, {}) g"
        pg.psql("src", "-c", table.format("t", QUICK_ROWS), "-c", table.format("big", SLOW_ROWS),
                "-c", "CREATE FUNCTION slow(t text) RETURNS text LANGUAGE plpgsql STABLE AS "
                      "$$ BEGIN PERFORM pg_sleep(0.005); RETURN t; END $$",
                "-c", "CREATE VIEW slow_t AS SELECT id, slow(v) AS v FROM big")
        digest = "SELECT count(*), sum(id), md5(string_agg(v, ',' ORDER BY id)) FROM "
        want = pg.psql("src", "-c", digest + "t")
        server = OpencdmServer(root, pg, extractors=1)
        server.env["OPENCDM_MAX_CONCURRENT_RUNS"] = str(max(args.runs_in_flight, 1) + 1)
        if args.metadata == "postgresql":
            pg.psql("postgres", "-c", "CREATE DATABASE meta")
            server.env["OPENCDM_DATABASE_URL"] = pg.url("meta")
        server.connect()
        for name in ("src", "dst"):
            server.add_link(name, server.links[name])

        def job(name: str, source: str) -> None:
            pg.psql("dst", "-c", f"DROP TABLE IF EXISTS {name}", "-c", f"CREATE TABLE {name} (id int, v text)")
            server.add_job(name, "src", "dst",
                           {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": source},
                           {"toJobConfig.schemaName": "public", "toJobConfig.tableName": name,
                            "toJobConfig.tablePreparation": "DO_NOTHING", "toJobConfig.shouldClearTable": "true"})

        # 1. start -> RUNNING, on an otherwise idle server
        job("quick", "t")
        to_running = []
        for _ in range(args.starts):
            path = f"/clusters/{server.cid}/cdm/job/quick"
            sent = time.perf_counter()
            server.client.call("PUT", f"{path}/start")
            while server.client.call("GET", f"{path}/status")["submissions"][0]["status"] not in \
                    ("RUNNING", "SUCCEEDED", "FAILED"):
                pass
            to_running.append(time.perf_counter() - sent)
            while server.client.call("GET", f"{path}/status")["submissions"][0]["status"] not in \
                    ("SUCCEEDED", "FAILED"):
                time.sleep(0.05)
        running = quantiles(to_running)
        print(json.dumps({"case": "start -> RUNNING", **running}), flush=True)

        status_path = f"/clusters/{server.cid}/cdm/job/quick/status"
        idle, idle_err = asyncio.run(open_loop(lambda: signed_headers(server.client, status_path), args.rate,
                                               args.seconds))

        # 2. the same load with runs in flight
        names = [f"flight{i}" for i in range(args.runs_in_flight)]
        for name in names:
            job(name, "slow_t")
            server.client.call("PUT", f"/clusters/{server.cid}/cdm/job/{name}/start")
        deadline = time.monotonic() + 30
        while statuses(server, names).count("RUNNING") < len(names) and time.monotonic() < deadline:
            time.sleep(0.2)
        before = statuses(server, names).count("RUNNING")
        loaded, loaded_err = asyncio.run(open_loop(lambda: signed_headers(server.client, status_path), args.rate,
                                                   args.seconds))
        health, health_err = asyncio.run(open_loop(lambda: (f"{server.client.endpoint}/health", {}), args.rate,
                                                   args.seconds))
        after = statuses(server, names).count("RUNNING")
        rows = [("status poll, no run in flight", quantiles(idle), idle_err),
                (f"status poll, {before}->{after} runs in flight", quantiles(loaded), loaded_err),
                (f"/health (reference), {after} runs in flight", quantiles(health), health_err)]
        for case, q, err in rows:
            print(json.dumps({"case": case, "errors": err, **q}), flush=True)

        for name in names:  # the runs in flight are stopped: each target must be as it was (empty)
            server.client.call("PUT", f"/clusters/{server.cid}/cdm/job/{name}/stop")
        deadline = time.monotonic() + 120
        while set(statuses(server, names)) - {"SUCCEEDED", "FAILED"} and time.monotonic() < deadline:
            time.sleep(0.5)
        untouched = sum(pg.psql("dst", "-c", f"SELECT count(*) FROM {name}") == "0" for name in names)
        verified = pg.psql("dst", "-c", digest + "quick") == want
    finally:
        if server:
            server.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    print(f"\n{args.metadata} metadata; rate {args.rate:.0f} req/s for {args.seconds:.0f} s per load; latency from "
          "the planned send time (ms)\n")
    print("| case | requests | errors | p50 | p95 | p99 | max | p99 ÷ /health p99 |")
    print("|---|---|---|---|---|---|---|---|")
    floor = rows[-1][1]["p99"]
    for case, q, err in rows:
        print(f"| {case} | {q['n']} | {err} | {q['p50']:.1f} | {q['p95']:.1f} | {q['p99']:.1f} | {q['max']:.1f} | "
              f"{q['p99'] / floor:.2f} |")
    print(f"\nstart -> RUNNING over {running['n']} starts (ms): p50 {running['p50']:.0f}, p95 {running['p95']:.0f}, "
          f"max {running['max']:.0f} (target < 300)")
    print(f"the start -> RUNNING job's copy verified (count, sum of ids, md5 of the values): {verified}; "
          f"stopped runs' targets untouched: {untouched} of {len(names)}")


if __name__ == "__main__":
    main()
