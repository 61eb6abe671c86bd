"""The Dask backend driven directly by the engine's Runner: PG -> PG on a real scheduler and two workers
that share no files with this process (see tests/infra/dask.py)."""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from types import SimpleNamespace

import psycopg
import pytest
from distributed.scheduler import KilledWorker

import opencdm
from opencdm.clusters.dask import DaskBackend
from opencdm.connectors.base import ConnectorContext
from opencdm.engine.runner import ProgressSink, Runner
from opencdm.engine.spec import Counters, EndSpec, TransferSpec
from opencdm.engine.task import worker_init
from opencdm.errors import Cancelled, LinkUnreachable, LoadFailed, TransferError, WorkerLost
from tests.engine.test_runs import SLOW_VIEW
from tests.infra.data import checksums, make_mixed_table, snapshot

_ids = itertools.count(1)


class Sink(ProgressSink):
    def __init__(self) -> None:
        self.seen: list[Counters] = []
        self.result: tuple[bool, Counters, Exception | None] | None = None

    def progress(self, counters: Counters, progress: float, sub_jobs: list | None = None) -> None:
        self.seen.append(dataclasses.replace(counters))

    def finished(self, ok: bool, counters: Counters, error) -> None:
        self.result = (ok, counters, error)


class Recording(DaskBackend):
    """Keeps what the runs' controls drained (proof that worker reports reached the server)."""

    def __init__(self, address: str) -> None:
        super().__init__(address, worker_init)
        self.drained: list[tuple[int, int, int, int, int]] = []

    def control(self):
        control = super().control()
        plain = control.drain

        def drain():
            out = plain()
            self.drained.extend(out)
            return out

        control.drain = drain
        return control


class Env:
    def __init__(self, pg) -> None:
        self.pg = pg
        self.src_db, self.dst_db = pg.create_database(), pg.create_database()
        self.src, self.dst = pg.dsn(self.src_db), pg.dsn(self.dst_db)
        make_mixed_table(self.src, "big", 3000)
        make_mixed_table(self.src, "small", 20000)
        with psycopg.connect(self.src, autocommit=True) as conn:
            for statement in SLOW_VIEW:
                conn.execute(statement)
        make_mixed_table(self.dst, "target", 500)  # rows a failed run must leave as they are

    def spec(self, source: str, target: str, extractors: int = 2) -> TransferSpec:
        n = next(_ids)
        return TransferSpec(
            submission_id=n, run_id=f"dask{n}", job_name=f"dask-{n}",
            from_=EndSpec("generic-jdbc-connector", self.pg.link_inputs(self.src_db), {
                "fromJobConfig.schemaName": "public", "fromJobConfig.tableName": source,
                "fromJobConfig.partitionColumn": "id"}),
            to=EndSpec("generic-jdbc-connector", self.pg.link_inputs(self.dst_db), {
                "toJobConfig.schemaName": "public", "toJobConfig.tableName": target,
                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST", "toJobConfig.shouldClearTable": "true"}),
            ctx=ConnectorContext(), num_extractors=extractors)

    def stage_tables(self) -> list[str]:
        with psycopg.connect(self.dst) as conn:
            return [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'opencdm%'").fetchall()]


@pytest.fixture(scope="module")
def env(pg):
    return Env(pg)


@pytest.fixture
def backend(dask_cluster):
    dask_cluster.restore()
    b = Recording(dask_cluster.address)
    yield b
    b.close()


def start(env: Env, backend: DaskBackend, source: str, target: str, extractors: int = 2):
    sink = Sink()
    runner = Runner(env.spec(source, target, extractors), backend, sink, report_every=0.2)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return runner, sink, thread


def wait_rows(sink: Sink, timeout: float = 30) -> None:
    """Until the run reported rows read (the source is slow: the run is then well under way)."""
    deadline = time.monotonic() + timeout
    while not any(c.rows_read for c in sink.seen):
        assert sink.result is None and time.monotonic() < deadline, sink.result
        time.sleep(0.05)


def wait_status(backend: DaskBackend, expected: tuple[bool, str], timeout: float = 20) -> None:
    """Until ``status()`` says ``expected`` (the client may still be reconnecting for a moment)."""
    deadline = time.monotonic() + timeout
    while (status := backend.status()) != expected:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_dask_run_is_exact_with_live_progress(env, backend):
    assert backend.workers == 4  # 2 workers x 2 threads
    started = time.monotonic()
    runner, sink, thread = start(env, backend, "slow_big", "copy_big")
    wait_rows(sink)
    assert sink.result is None  # counters moved while the partitions were still running
    thread.join(60)
    ok, counters, error = sink.result
    assert ok and error is None, error
    assert checksums(env.dst, "copy_big") == checksums(env.src, "big")
    assert counters.rows_read == counters.rows_written == 3000
    assert any(rows > 0 for _, rows, *_ in backend.drained)  # the workers' reports reached the server
    assert env.stage_tables() == []
    assert time.monotonic() - started < 20

    runner, sink, thread = start(env, backend, "small", "copy_small", extractors=3)  # a fast one too
    thread.join(60)
    assert sink.result[0], sink.result
    assert checksums(env.dst, "copy_small") == checksums(env.src, "small")


def test_dask_stop_leaves_target_untouched(env, backend):
    before = snapshot(env.dst, "target")
    runner, sink, thread = start(env, backend, "slow_big", "target")
    wait_rows(sink)
    stopped = time.monotonic()
    runner.cancel()
    thread.join(30)
    assert time.monotonic() - stopped < 10
    ok, _, error = sink.result
    assert not ok and isinstance(error, Cancelled), error
    assert snapshot(env.dst, "target") == before
    assert env.stage_tables() == []


def test_dask_killed_worker_still_exact(env, backend, dask_cluster):
    runner, sink, thread = start(env, backend, "slow_big", "killed_copy")
    wait_rows(sink)
    client = backend.client()
    busy = next(a for a, keys in client.processing().items() if any(k.startswith("run_partition") for k in keys))
    victim = client.run(os.getpid, workers=[busy])[busy]
    assert victim in dask_cluster.worker_pids()
    dask_cluster.kill_worker(victim)  # mid-partition: Dask runs its tasks again on another worker
    thread.join(60)
    ok, counters, error = sink.result
    assert ok and error is None, error
    assert checksums(env.dst, "killed_copy") == checksums(env.src, "big")
    assert counters.rows_written == 3000
    assert env.stage_tables() == []
    dask_cluster.wait_workers()  # the nanny started a new worker process
    assert victim not in dask_cluster.worker_pids()


def test_dask_runs_share_the_clusters_slots(env, backend):
    """Two runs of 4 extractors each on workers with 4 threads: never more than 4 partitions at once."""
    assert backend.slots.capacity == 4
    client = backend.client()
    runs = [start(env, backend, "slow_big", f"shared_{i}", extractors=4) for i in range(2)]
    most = waited = on_workers = 0
    while any(thread.is_alive() for _, _, thread in runs):
        most, waited = max(most, backend.slots.in_use), max(waited, backend.slots.waiting)
        on_workers = max(on_workers, sum(1 for keys in client.processing().values()
                                         for key in keys if key.startswith("run_partition")))
        time.sleep(0.02)
    assert most == 4 and waited == 1 and on_workers <= 4, (most, waited, on_workers)
    for i, (_, sink, _) in enumerate(runs):
        assert sink.result[0], sink.result
        assert checksums(env.dst, f"shared_{i}") == checksums(env.src, "big")
    assert (backend.slots.in_use, backend.slots.waiting) == (0, 0)


def test_dask_rate_limit_holds_across_workers(env, backend):
    """recordRate splits over the partitions running at once, wherever they run: 20,000 rows at 8,000 rows/s
    take at least 1.5 s (each partition's bucket starts with one second's worth), unthrottled ~0.3 s."""
    sink = Sink()
    spec = dataclasses.replace(env.spec("small", "limited"), rows_per_s=8000.0)
    started = time.monotonic()
    Runner(spec, backend, sink, report_every=0.2).run()
    elapsed = time.monotonic() - started
    assert sink.result[0], sink.result
    assert checksums(env.dst, "limited") == checksums(env.src, "small")
    assert elapsed >= 1.4, elapsed


def test_dask_errors_come_back_as_themselves(backend):
    def fail():  # a local function: cloudpickle sends it by value (the workers cannot import tests/)
        cause = LoadFailed("wrapped")
        error = LinkUnreachable("the database went away")
        error.__cause__, cause.__cause__ = cause, error  # a cyclic chain, as a stopped partition can build
        raise error

    error = backend.executor().submit(fail).exception(30)
    assert type(error) is LinkUnreachable and error.retryable and str(error) == "the database went away"
    lost = backend._translate(KilledWorker("run_partition-1", SimpleNamespace(address="tcp://10.0.0.9:1"), 3))
    assert isinstance(lost, WorkerLost) and lost.retryable and "tcp://10.0.0.9:1" in str(lost)


def test_dask_versions_are_checked(backend, monkeypatch, env):
    backend.check_versions()
    monkeypatch.setattr(opencdm, "__version__", "0.0.0-other")
    with pytest.raises(TransferError, match=r"Dask scheduler tcp://127\.0\.0\.1:\d+ runs opencdm 0\.2\.0"):
        backend.check_versions()
    ok, detail = backend.status()  # the cluster shows it too
    assert not ok and "runs opencdm 0.2.0" in detail and "install the server's opencdm" in detail, detail
    runner, sink, thread = start(env, backend, "small", "target")  # every task checks too
    thread.join(60)
    ok, _, error = sink.result
    assert not ok and type(error) is TransferError and "install the server's opencdm" in str(error), error


def test_dask_lost_scheduler_fails_run_and_status_follows(env, backend, dask_cluster):
    ok, detail = backend.status()
    assert ok and detail == f"2 workers, 4 threads at {dask_cluster.address}", detail
    before = snapshot(env.dst, "target")
    runner, sink, thread = start(env, backend, "slow_big", "target")
    wait_rows(sink)
    dask_cluster.stop_scheduler()
    thread.join(30)
    ok, _, error = sink.result
    assert not ok and isinstance(error, TransferError) and "Dask scheduler" in str(error), error
    assert snapshot(env.dst, "target") == before
    assert env.stage_tables() == []
    started = time.monotonic()
    ok, detail = backend.status()
    assert not ok and dask_cluster.address in detail and "unreachable" in detail, detail
    assert time.monotonic() - started < 4
    dask_cluster.start_scheduler()
    wait_status(backend, (False, f"The Dask scheduler at {dask_cluster.address} has no workers."))
    dask_cluster.restore()  # the old workers exited with their scheduler: start new ones
    wait_status(backend, (True, f"2 workers, 4 threads at {dask_cluster.address}"))
    runner, sink, thread = start(env, backend, "small", "after_restart")  # the backend reconnected by itself
    thread.join(60)
    assert sink.result[0], sink.result
    assert checksums(env.dst, "after_restart") == checksums(env.src, "small")
