"""Server side of an entire-database run (``BATCH_JOB``): one sub-run per table, at most
``throttlingConfig.concurrentSubJobs`` at a time, a table only after the tables it references.

Each sub-run is an ordinary ``Runner`` over the job's inputs for that table (``Connector.batch_job``),
with its own staging (run id ``<submission>-<n>``) and its own commit: a table that fails leaves its
target as it was, the others stay committed. The submission shows every table in ``sub_jobs`` (status,
counters, error) and the sums of their counters; it SUCCEEDS only when every table did, else it FAILS
naming the tables that did not and why. A table whose referenced table failed is not started.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from opencdm import connectors
from opencdm.clusters.base import ClusterBackend
from opencdm.connectors.base import BatchItem
from opencdm.engine.runner import ProgressSink, Runner
from opencdm.engine.spec import Counters, EndSpec, TransferSpec
from opencdm.errors import Cancelled, CdmError, TransferError

log = logging.getLogger("opencdm.engine")

_COUNTED = ("rows_read", "rows_written", "bytes_read", "bytes_written", "rows_dirty", "files_read",
            "files_written", "files_skipped", "total_files", "total_size")


def sub_spec(spec: TransferSpec, n: int, item: str) -> TransferSpec:
    """The run of table ``item`` (the ``n``-th of the job): its own inputs, staging and dirty-data name."""
    f, t = spec.from_, spec.to
    return dataclasses.replace(
        spec, run_id=f"{spec.run_id}-{n}", job_name=f"{spec.job_name}/{item}",
        from_=EndSpec(f.connector, f.link, dict(connectors.get(f.connector).batch_job(f.job, item, "from"))),
        to=EndSpec(t.connector, t.link, dict(connectors.get(t.connector).batch_job(t.job, item, "to"))))


class _Table(ProgressSink):
    """One table's sub-run reporting into the batch."""

    def __init__(self, batch: BatchRunner, n: int, item: BatchItem, run_id: str) -> None:
        self.batch, self.n = batch, n
        self.state = {"name": item.name, "status": "PENDING", "progress": 0.0, "run_id": run_id,
                      **{k: 0 for k in _COUNTED}}
        self.counters = Counters()

    def running(self) -> None:
        self.batch.update(self, status="RUNNING")

    def progress(self, counters: Counters, progress: float) -> None:
        self.counters = counters
        self.batch.update(self, progress=progress, **{k: getattr(counters, k) for k in _COUNTED})

    def finished(self, ok: bool, counters: Counters, error: CdmError | None) -> None:
        self.counters = counters
        fields = {k: getattr(counters, k) for k in _COUNTED}
        if ok:
            fields.update(status="SUCCEEDED", progress=100.0)
        else:
            fields.update(status="FAILED", progress=-1.0, error=f"{getattr(error, 'code', '')}: {error}")
        self.batch.update(self, **fields)


class BatchRunner:
    """Same interface as ``Runner`` (``run``, ``cancel``, ``spec``, ``sink``) for the supervisor."""

    def __init__(self, spec: TransferSpec, backend: ClusterBackend, sink: ProgressSink, concurrency: int,
                 report_every: float = 1.0) -> None:
        self.spec, self.backend, self.sink = spec, backend, sink
        self.concurrency, self.report_every = concurrency, report_every
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._runners: dict[int, Runner] = {}
        self._tables: list[_Table] = []
        self._last_write = 0.0

    def cancel(self) -> None:
        self._cancelled.set()
        for runner in list(self._runners.values()):
            runner.cancel()

    def update(self, table: _Table, **fields) -> None:
        with self._lock:
            table.state.update(fields)
            final = fields.get("status") in ("SUCCEEDED", "FAILED")
            if final or time.monotonic() - self._last_write >= self.report_every:
                self._last_write = time.monotonic()
                self._write()

    def _write(self) -> None:
        states = [dict(t.state) for t in self._tables]
        total = Counters(**{k: sum(s[k] for s in states) for k in _COUNTED})
        done = sum(1 for s in states if s["status"] in ("SUCCEEDED", "FAILED"))
        progress = round(min(99.0, 100.0 * done / max(1, len(states))), 1)
        self.sink.progress(total, progress, sub_jobs=states)

    def run(self) -> None:
        spec = self.spec
        started = time.monotonic()
        log.info("run start submission=%s job=%s BATCH_JOB from=%s to=%s concurrentSubJobs=%s", spec.submission_id,
                 spec.job_name, spec.from_.connector, spec.to.connector, self.concurrency)
        try:
            self.sink.running()
            items = connectors.get(spec.from_.connector).batch_items(spec.from_.link, spec.from_.job, spec.ctx)
            self._tables = [_Table(self, n, item, f"{spec.run_id}-{n}") for n, item in enumerate(items)]
            with self._lock:
                self._write()
            self._run_all(items)
        except BaseException as exc:
            error = exc if isinstance(exc, CdmError) else TransferError(f"Internal error: {exc}")
            log.warning("run end submission=%s job=%s status=FAILED error=%s", spec.submission_id, spec.job_name, error)
            self.sink.finished(False, self._total(), error)
            if not isinstance(exc, Exception):
                raise
            return
        failed = [t.state for t in self._tables if t.state["status"] != "SUCCEEDED"]
        total = self._total()
        log.info("run end submission=%s job=%s BATCH_JOB tables=%s failed=%s rows_written=%s seconds=%.2f",
                 spec.submission_id, spec.job_name, len(self._tables), len(failed), total.rows_written,
                 time.monotonic() - started)
        with self._lock:
            self._write()
        if failed:
            names = ", ".join(f"{s['name']} ({s.get('error', s['status'])})" for s in failed[:10])
            error = TransferError(f"{len(failed)} of {len(self._tables)} tables failed: {names}"
                                  + (" ..." if len(failed) > 10 else "") + "; the other tables are committed.")
            self.sink.finished(False, total, error)
        else:
            self.sink.finished(True, total, None)

    def _total(self) -> Counters:
        return Counters(**{k: sum(getattr(t.counters, k) for t in self._tables) for k in _COUNTED})

    def _run_all(self, items: list[BatchItem]) -> None:
        by_name = {t.state["name"]: t for t in self._tables}
        pending = list(self._tables)
        running: dict[Future, _Table] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"batch-{self.spec.submission_id}") as pool:
            while pending or running:
                for table in list(pending):
                    if self._cancelled.is_set():
                        table.finished(False, Counters(), Cancelled("The run was stopped before this table started."))
                        pending.remove(table)
                        continue
                    parents = [by_name[p].state["status"] for p in items[table.n].after]
                    if any(s == "FAILED" for s in parents):
                        bad = [p for p in items[table.n].after if by_name[p].state["status"] == "FAILED"]
                        table.finished(False, Counters(), TransferError(
                            f"not started: the table it references ({', '.join(bad)}) failed"))
                        pending.remove(table)
                    elif all(s == "SUCCEEDED" for s in parents) and len(running) < self.concurrency:
                        pending.remove(table)
                        runner = Runner(sub_spec(self.spec, table.n, table.state["name"]), self.backend, table,
                                        report_every=self.report_every)
                        self._runners[table.n] = runner
                        if self._cancelled.is_set():
                            runner.cancel()
                        running[pool.submit(runner.run)] = table
                if not running:
                    time.sleep(0.05)
                    continue
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    table = running.pop(future)
                    self._runners.pop(table.n, None)
                    if future.exception() is not None:  # Runner.run reports its own failures; this is a crash
                        table.finished(False, table.counters, TransferError(f"Internal error: {future.exception()}"))
