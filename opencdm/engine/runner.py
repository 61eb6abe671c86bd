"""Server side of one run: prepare -> partitions on the cluster -> gather -> commit | abort."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool

from opencdm import connectors
from opencdm.clusters.base import ClusterBackend, RunControl
from opencdm.engine import checkpoint
from opencdm.engine.checkpoint import Resume
from opencdm.engine.dirty import prepare_table as prepare_dirty_table
from opencdm.engine.spec import Counters, PartitionResult, PartitionTask, TransferSpec
from opencdm.engine.task import run_partition, warm
from opencdm.errors import Cancelled, CdmError, InvalidInput, TransferError, WorkerLost

log = logging.getLogger("opencdm.engine")

MAX_ATTEMPTS = 3  # a retryable partition failure (lost worker, unreachable store) is tried this often
PARTITIONS_PER_EXTRACTOR = 2  # more, smaller ranges than extractors so one slow range doesn't serialise the run
STREAM_IDLE_SECONDS = 1.0  # a permanent stream run that found nothing new polls again after this


class ProgressSink:
    """Where a run reports; the supervisor writes these to the submission row."""

    def running(self) -> None: ...

    def positions(self, source: str) -> dict:
        """Stored positions of the job's stream source ``source`` (empty: none yet)."""
        return {}

    def save_positions(self, source: str, positions: dict) -> None: ...

    def checkpoint(self, data: dict) -> None:
        """A resumable run's checkpoint (``engine.checkpoint``), written as it changes."""

    def write_path(self, text: str) -> None:
        """How the run writes its target (``Loader.write_path``), once the loader has prepared it."""

    def progress(self, counters: Counters, progress: float, sub_jobs: list | None = None) -> None:
        """Live counters and progress; ``sub_jobs``: the tables of an entire-database run."""

    def finished(self, ok: bool, counters: Counters, error: CdmError | None) -> None: ...


class Runner:
    def __init__(self, spec: TransferSpec, backend: ClusterBackend, sink: ProgressSink,
                 report_every: float = 1.0, resume: Resume | None = None) -> None:
        self.spec = spec
        #: The run this one takes up (same run id and plan; its finished partitions are skipped).
        self.resume = resume
        self._checkpoint: dict | None = None  # written once the plan and the data path are known
        self.backend = backend
        self.sink = sink
        self.report_every = report_every
        self.control: RunControl = backend.control()
        self.counters = Counters()
        self._base = Counters()  # what earlier cycles of a stream run moved
        self._streaming = False
        self._warming: list[concurrent.futures.Future] = []
        self._reported: tuple[Counters, float] | None = None  # the last progress written

    def cancel(self) -> None:
        self.control.cancel()

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.control.close()

    def _run(self) -> None:
        spec = self.spec
        started = time.monotonic()
        from_side, to_side = spec.from_, spec.to
        log.info("run start submission=%s job=%s from=%s to=%s extractors=%s", spec.submission_id, spec.job_name,
                 from_side.connector, to_side.connector, spec.num_extractors)
        loader = None
        try:
            if self.control.cancelled():
                raise Cancelled("The run was stopped before it started.")
            self.sink.running()
            extractor = connectors.get(from_side.connector).extractor(from_side.link, from_side.job, spec.ctx)
            loader = connectors.get(to_side.connector).loader(to_side.link, to_side.job, spec.ctx, spec.run_id)
            schema = extractor.schema()
            source = extractor.stream_source()
            if source is not None:
                self._stream(extractor, loader, schema, source)
            elif self.resume is not None:
                resume = self.resume
                self._warm(len(resume.parts) - len(resume.done))
                loader.reopen(schema)  # the staging the earlier attempt kept
                prepare_dirty_table(spec.dirty, spec.ctx, spec.submission_id)
                self.spec = dataclasses.replace(self.spec, native=resume.native)
                self._keep(resume.checkpoint())
                log.info("run resumes submission=%s from submission=%s: %d of %d partitions done", spec.submission_id,
                         resume.from_submission, len(resume.done), len(resume.parts))
                results = self._execute(resume.parts, None, skip=resume.done)
                if self.control.cancelled():
                    raise Cancelled("The run was stopped.")
                loader.commit([r.load for r in [*resume.done.values(), *results] if r.load is not None])
            else:
                parts = extractor.partitions(max(1, spec.num_extractors * PARTITIONS_PER_EXTRACTOR)
                                             if spec.num_extractors > 1 else 1)
                self._warm(len(parts))
                estimate = extractor.estimate_rows()
                loader.planned_partitions, loader.resumable_run = len(parts), spec.resumable
                loader.prepare(schema)
                prepare_dirty_table(spec.dirty, spec.ctx, spec.submission_id)
                self._negotiate(extractor, loader)
                if spec.resumable:
                    self._keep(checkpoint.started(spec.run_id, parts, self.spec.native))
                results = self._execute(parts, estimate)
                if self.control.cancelled():
                    raise Cancelled("The run was stopped.")
                loader.commit([r.load for r in results if r.load is not None])
        except Cancelled as exc:
            if loader is not None and self._streaming and extractor.permanent:
                self._abort(loader)  # a permanent run ends when stopped: what it committed stays, status SUCCEEDED
                self.counters = self._base  # the stopped cycle's records were not committed
                self._end_ok(started, "stopped")
                return
            self._fail(exc, loader, started)
            return
        except BaseException as exc:
            self._fail(exc, loader, started)
            if not isinstance(exc, Exception):
                raise
            return
        self._end_ok(started, "")

    def _abort(self, loader) -> None:
        try:
            loader.abort()
        except Exception:
            log.exception("abort failed submission=%s (staging may remain)", self.spec.submission_id)

    def _keep(self, data: dict) -> None:
        self._checkpoint = data
        self.sink.checkpoint(data)

    def discard(self) -> None:
        """Drop the staging a failed resumable run kept (a retry starts afresh instead)."""
        if self._checkpoint is not None:
            to = self.spec.to
            self._abort(connectors.get(to.connector).loader(to.link, to.job, self.spec.ctx, self.spec.run_id))
            self._checkpoint = None
            self.sink.checkpoint(None)

    def _fail(self, exc: BaseException, loader, started: float) -> None:
        spec = self.spec
        error = exc if isinstance(exc, CdmError) else TransferError(f"Internal error: {exc}")
        if loader is not None and self._checkpoint is not None:
            log.info("run failed submission=%s: staging kept for a resume (%d of %d partitions done)",
                     spec.submission_id, len(self._checkpoint.get("done", {})), self._checkpoint["parts"])
        elif loader is not None:
            self._abort(loader)
        seconds = time.monotonic() - started
        log.warning("run end submission=%s job=%s status=FAILED rows_read=%s seconds=%.1f error=%s: %s",
                    spec.submission_id, spec.job_name, self.counters.rows_read, seconds,
                    type(error).__name__, error)
        self.sink.finished(False, self.counters, error)

    def _end_ok(self, started: float, how: str) -> None:
        spec, c = self.spec, self.counters
        seconds = time.monotonic() - started
        log.info("run end submission=%s job=%s status=SUCCEEDED%s rows_read=%s rows_written=%s rows_dirty=%s "
                 "bytes=%s files_read=%s files_written=%s files_skipped=%s seconds=%.2f rows_per_s=%.0f",
                 spec.submission_id, spec.job_name, f" ({how})" if how else "", c.rows_read, c.rows_written,
                 c.rows_dirty, c.bytes_written, c.files_read, c.files_written, c.files_skipped, seconds,
                 c.rows_written / seconds if seconds else 0)
        self.sink.finished(True, self.counters, None)

    def _stream(self, extractor, loader, schema, source: str) -> None:
        """Cycles of a stream run: read from the stored positions, load, commit, then store the new
        positions and let the source know (``Extractor.advance``). Nothing is stored for a cycle that did
        not commit, so its records are read again: a stop, crash or restart neither loses nor skips them.
        A one-off run goes on until a cycle finds nothing new; a permanent one until it is stopped."""
        spec = self.spec
        if extractor.permanent and not connectors.get(spec.to.connector).appends:
            raise InvalidInput(f"{spec.to.connector} cannot receive a permanent stream (isPermanency=true).",
                               code="Cdm.0014")
        self._streaming = True
        positions = dict(self.sink.positions(source))
        own = spec.resumed
        prepare_dirty_table(spec.dirty, spec.ctx, spec.submission_id)
        cycle = 0
        while True:
            extractor.resume(positions, own)
            parts = extractor.partitions(max(1, spec.num_extractors))
            if cycle == 0:
                self._warm(len(parts))
            else:
                loader.appending()
            loader.planned_partitions = len(parts)
            loader.prepare(schema)
            if cycle == 0:
                self._negotiate(extractor, loader)
            results = self._execute(parts, None)
            if self.control.cancelled():
                raise Cancelled("The run was stopped.")
            loader.commit([r.load for r in results if r.load is not None])
            moved = sum(r.rows_read for r in results)
            for r in results:
                positions.update(r.position or {})
            self.sink.save_positions(source, positions)
            extractor.advance(positions)
            self._base = self.counters
            own, cycle = True, cycle + 1
            log.info("stream cycle submission=%s cycle=%s rows=%s", spec.submission_id, cycle, moved)
            if not extractor.permanent and not any(r.more for r in results):  # a one-off run ends once caught up
                return
            if not moved:  # nothing new: wait a moment (stoppable) before the next poll
                deadline = time.monotonic() + STREAM_IDLE_SECONDS
                while time.monotonic() < deadline and not self.control.cancelled():
                    time.sleep(0.1)
            if self.control.cancelled():
                raise Cancelled("The run was stopped.")

    def _warm(self, parts: int) -> None:
        """Start the workers the run will use while the server prepares the rest (a no-op task each;
        ``_execute`` waits for them, so a real task finds a started worker instead of spawning one more)."""
        for _ in range(min(parts, max(1, self.spec.num_extractors), max(1, getattr(self.backend, "workers", 1)))):
            try:
                self._warming.append(self.backend.executor().submit(warm))
            except Exception:  # a broken pool: the first real task resets it
                return

    def _negotiate(self, extractor, loader) -> None:
        """Use a native stream when both sides speak it (never with dirty data: raw bytes can't be bisected)."""
        fmt = extractor.native_format()
        if fmt and not self.spec.dirty.enabled and loader.accepts_native(fmt):
            self.spec = dataclasses.replace(self.spec, native=fmt)
        log.info("run data path submission=%s: %s; write path: %s", self.spec.submission_id,
                 self.spec.native or "arrow batches", loader.write_path or "-")
        if loader.write_path:
            self.sink.write_path(loader.write_path)

    # -- partitions ---------------------------------------------------------------------------------

    def _execute(self, parts: list, estimate: int | None,
                 skip: dict[int, PartitionResult] | None = None) -> list[PartitionResult]:
        """Run ``parts`` (but those in ``skip``, finished by an earlier attempt) and return their results."""
        skip = skip or {}
        self._parts = {p.index: p for p in parts if p.index not in skip}
        concurrent.futures.wait(self._warming, timeout=60)
        pending = deque(PartitionTask(self.spec, p) for p in parts if p.index not in skip)
        in_flight: dict[concurrent.futures.Future, PartitionTask] = {}
        live: dict[int, tuple[int, int, int, int]] = {}  # partition index -> latest running totals
        done: dict[int, PartitionResult] = {}
        last_report = 0.0
        slots = self.backend.slots  # the cluster's cap, shared with its other runs
        try:
            while pending or in_flight:
                if self.control.cancelled():
                    raise Cancelled("The run was stopped.")
                while pending and len(in_flight) < max(1, self.spec.num_extractors) and slots.take(self):
                    task = pending.popleft()
                    try:
                        in_flight[self._submit(task)] = task
                    except BaseException:
                        slots.give_back()
                        raise
                if in_flight:
                    finished, _ = concurrent.futures.wait(in_flight, timeout=0.25,
                                                          return_when=concurrent.futures.FIRST_COMPLETED)
                else:  # every slot is taken by the cluster's other runs
                    finished = set()
                    slots.wait(0.25)
                for future in finished:
                    task = in_flight.pop(future)
                    slots.give_back()
                    try:
                        result = future.result()
                    except BaseException as exc:
                        error = _as_cdm_error(exc)
                        if isinstance(exc, BrokenProcessPool):
                            self.backend.reset()
                        if error.retryable and task.attempt + 1 < MAX_ATTEMPTS and not self.control.cancelled():
                            log.warning("retrying partition %s of submission %s after %s", task.partition,
                                        self.spec.submission_id, error)
                            live.pop(task.partition.index, None)
                            pending.appendleft(PartitionTask(task.spec, task.partition, task.attempt + 1))
                            continue
                        raise error from exc
                    done[result.index] = result
                    live.pop(result.index, None)
                    if self._checkpoint is not None:
                        self._keep(checkpoint.finished(self._checkpoint, result))
                for index, *totals in self.control.drain():
                    if index not in done:
                        live[index] = tuple(totals)
                now = time.monotonic()
                if now - last_report >= self.report_every:
                    last_report = now
                    self._report(done, live, estimate, len(parts))
        except BaseException:
            self.control.cancel()  # stop the other partitions, then let them finish before abort()
            for future in in_flight:
                future.cancel()
            concurrent.futures.wait(in_flight, timeout=60)
            for _ in in_flight:
                slots.give_back()
            self._sum(done, live)
            raise
        finally:
            slots.leave(self)
        self._report(done, {}, estimate, len(parts))
        return [done[i] for i in sorted(done)]

    def _submit(self, task: PartitionTask) -> concurrent.futures.Future:
        spec = self.spec
        if spec.rows_per_s or spec.bytes_per_s:  # each of the partitions running at once gets an equal share
            share = max(1, spec.num_extractors)
            task = dataclasses.replace(task, rows_per_s=spec.rows_per_s / share, bytes_per_s=spec.bytes_per_s / share)
        try:
            return self.backend.executor().submit(run_partition, task, self.control)
        except BrokenProcessPool:
            self.backend.reset()
            return self.backend.executor().submit(run_partition, task, self.control)

    def _sum(self, done: dict[int, PartitionResult], live: dict[int, tuple[int, int, int, int]]) -> None:
        c = dataclasses.replace(self._base)
        parts = getattr(self, "_parts", {})
        c.total_files = sum(p.files for p in parts.values())
        c.total_size = sum(p.size for p in parts.values())
        for r in done.values():
            if r.index in parts:
                c.files_read += parts[r.index].files
            if r.load is not None:
                c.files_written += r.load.files
                c.files_skipped += r.load.skipped
            c.rows_read += r.rows_read
            c.bytes_read += r.bytes_read
            c.rows_written += r.rows_written
            c.bytes_written += r.bytes_written
            c.rows_dirty += r.rows_dirty
        for rows_read, bytes_read, rows_written, bytes_written in live.values():
            c.rows_read += rows_read
            c.bytes_read += bytes_read
            c.rows_written += rows_written
            c.bytes_written += bytes_written
        self.counters = c

    def _report(self, done, live, estimate: int | None, n_parts: int) -> None:
        self._sum(done, live)
        if estimate:
            progress = 100.0 * self.counters.rows_written / estimate
        else:
            progress = 100.0 * len(done) / max(1, n_parts)
        now = (dataclasses.replace(self.counters), round(min(99.0, max(0.0, progress)), 1))
        if now != self._reported:  # unchanged (a run waiting for a slot): nothing to write
            self._reported = now
            self.sink.progress(*now)


def _as_cdm_error(exc: BaseException) -> CdmError:
    if isinstance(exc, CdmError):
        return exc
    if isinstance(exc, BrokenProcessPool):
        return WorkerLost("A worker process running a partition died.")
    return TransferError(f"Internal error: {exc}")

