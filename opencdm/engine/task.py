"""Worker side of a run: one partition, extractor thread -> bounded queue -> loader."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pyarrow as pa

from opencdm import connectors
from opencdm.clusters.base import RunControl
from opencdm.connectors.base import Chunk
from opencdm.engine.dirty import DirtySink
from opencdm.engine.spec import QUEUE_BATCHES, PartitionResult, PartitionTask
from opencdm.engine.throttle import Throttle
from opencdm.errors import Cancelled, CdmError, ExtractFailed, LoadFailed

_DONE = object()
REPORT_EVERY = 0.5  # seconds between progress reports


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Unread:
    """The extractor's view of the dirty sink: records it could not read, counted apart."""

    def __init__(self, sink: DirtySink) -> None:
        self.sink, self.count = sink, 0

    def record(self, rows: pa.RecordBatch | pa.Table, reasons: list[str]) -> None:
        self.count += rows.num_rows
        self.sink.record(rows, reasons)


def _size(item: pa.RecordBatch | Chunk) -> tuple[int, int]:
    """Rows and bytes of a batch (Arrow buffers) or of a native chunk (raw bytes)."""
    if isinstance(item, Chunk):
        return item.rows, len(item.data)
    return item.num_rows, item.nbytes


def run_partition(task: PartitionTask, control: RunControl) -> PartitionResult:
    """Move one partition into the loader's staging. Runs in a worker process (or thread)."""
    spec = task.spec
    part = task.partition
    extractor = connectors.get(spec.from_.connector).extractor(spec.from_.link, spec.from_.job, spec.ctx)
    loader = connectors.get(spec.to.connector).loader(spec.to.link, spec.to.job, spec.ctx, spec.run_id)
    result = PartitionResult(index=part.index)
    buffer: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    last_report = [0.0]
    failure: list[CdmError | None] = [None]  # the real cause, even if a driver wraps what consume() raised
    throttle = Throttle(task.rows_per_s, task.bytes_per_s)
    sink = None
    if spec.dirty.enabled and connectors.get(spec.to.connector).records_dirty:
        sink = DirtySink(spec.dirty, spec.submission_id, spec.job_name, part.index, spec.ctx)
    unread = _Unread(sink) if sink is not None else None

    def report(force: bool = False) -> None:
        now = time.monotonic()
        if force or now - last_report[0] >= REPORT_EVERY:
            last_report[0] = now
            control.report(part.index, result.rows_read, result.bytes_read, result.rows_written, result.bytes_written)

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in (extractor.native_stream(part) if spec.native else extractor.extract(part, dirty=unread)):
                if stop.is_set() or control.cancelled():
                    raise Cancelled("The run was stopped.")
                rows, size = _size(batch)
                result.rows_read += rows
                result.bytes_read += size
                throttle.wait(rows, size, lambda: stop.is_set() or control.cancelled())
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the loader side, re-raised there
            if not isinstance(exc, CdmError):
                exc = ExtractFailed(f"Data extraction exception. Cause: {exc}.")
            put(_Failure(exc))

    def consume() -> Iterator[pa.RecordBatch]:
        while True:
            try:
                item = buffer.get(timeout=0.5)
            except queue.Empty:
                if control.cancelled():
                    failure[0] = Cancelled("The run was stopped.")
                    raise failure[0] from None
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                failure[0] = item.exc
                raise item.exc
            if control.cancelled():
                failure[0] = Cancelled("The run was stopped.")
                raise failure[0]
            yield item
            rows, size = _size(item)
            result.rows_written += rows
            result.bytes_written += size
            report()

    producer = threading.Thread(target=produce, name=f"extract-{part.index}", daemon=True)
    producer.start()
    try:
        if spec.native:
            result.load = loader.load_native(part, consume(), spec.native)
        else:
            result.load = loader.load(part, consume(), dirty=sink)
    except Exception as exc:
        if failure[0] is not None:  # the real cause; chained to what the loader made of it, never in a loop
            raise failure[0] from (None if _in_chain(failure[0], exc) else exc)
        if isinstance(exc, CdmError):
            raise
        raise LoadFailed(f"Data loading exception. Cause: {exc}.") from exc
    finally:
        stop.set()
        producer.join(timeout=10)
        if sink is not None:
            sink.flush()
    if sink is not None:  # rows the loader set aside were counted as written; unreadable records were not
        result.rows_dirty = sink.count
        result.rows_written -= sink.count - unread.count
        result.rows_read += unread.count
    position = extractor.position(part)
    result.position = dict(position) if position is not None else None
    result.more = extractor.more(part)
    report(force=True)
    return result



def _in_chain(error: BaseException, exc: BaseException) -> bool:
    """Whether ``error`` is ``exc`` or one of its causes (chaining it to ``exc`` would make a loop)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if exc is error:
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def warm() -> None:
    """A task that does nothing: submitted while the server prepares a run, so worker processes start
    (and import what they need) at the same time instead of after."""


def worker_init() -> None:
    """Initializer of every worker process: load the connector registry once."""
    connectors.load()
