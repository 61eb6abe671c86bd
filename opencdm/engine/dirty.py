"""Dirty data: rows a loader could not write, recorded with their reason instead of failing the run.

``throttlingConfig.recordDirtyData=true`` turns it on. Bad rows go to ``throttlingConfig.writeToLink``
(a link whose connector takes dirty data, ``Connector.dirty_job``; for ``generic-jdbc-connector`` a
table named by ``throttlingConfig.dirtyDataDirectory``, default ``opencdm_dirty_data``, created when
missing) or, without a link, to JSON-lines files under ``dirtyDataDirectory`` (relative to the
project's file root, or an absolute path inside it or a shared root; default ``dirty``), in a folder
per job and submission. ``throttlingConfig.maxErrorRecords`` caps the bad rows of one partition
(CDM's "per shard"); one more fails the run with Cdm.0936. Recorded rows stay recorded even when the
run fails later (CDM does not roll dirty data back).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.files.paths import confine
from opencdm.errors import InvalidInput, TransferError

DEFAULT_TABLE = "opencdm_dirty_data"
SCHEMA = pa.schema([("submission_id", pa.int64()), ("job_name", pa.string()), ("partition", pa.int64()),
                    ("row_json", pa.string()), ("reason", pa.string()), ("recorded_at", pa.timestamp("us"))])


class TooManyDirtyRows(TransferError):
    code = "Cdm.0936"


@dataclass(frozen=True)
class DirtySpec:
    """How a run records dirty rows; plain data (crosses to workers)."""

    enabled: bool = False
    max_errors: int | None = None  # per partition; None: no limit
    directory: str | None = None  # JSON-lines target when no link is given
    link_connector: str | None = None
    link: dict[str, Any] | None = None
    table: str = DEFAULT_TABLE
    bucket: str | None = None  # throttlingConfig.obsBucket, for object-store links

    def __repr__(self) -> str:  # the link carries secrets
        return f"DirtySpec(enabled={self.enabled}, max_errors={self.max_errors}, table={self.table!r})"


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def dirty_spec(driver: dict[str, Any], ctx: ConnectorContext, link: tuple[str, dict[str, Any]] | None,
               job_name: str) -> DirtySpec:
    """Read the throttlingConfig dirty-data inputs; ``link`` is (connector, inputs) of writeToLink."""
    if not _truthy(driver.get("throttlingConfig.recordDirtyData")):
        return DirtySpec()
    raw = driver.get("throttlingConfig.maxErrorRecords")
    max_errors = None
    if raw not in (None, ""):
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise InvalidInput(f"throttlingConfig.maxErrorRecords must be a whole number, got {raw!r}.",
                               code="Cdm.0009")
        max_errors = int(str(raw).strip())
    where = driver.get("throttlingConfig.dirtyDataDirectory")
    if where is not None and not isinstance(where, str):
        raise InvalidInput("throttlingConfig.dirtyDataDirectory must be a string.", code="Cdm.0014")
    where = (where or "").strip()
    bucket = driver.get("throttlingConfig.obsBucket")
    if bucket is not None and not isinstance(bucket, str):
        raise InvalidInput("throttlingConfig.obsBucket must be a string.", code="Cdm.0014")
    bucket = (bucket or "").strip() or None
    if link is not None:
        return DirtySpec(True, max_errors, None, link[0], link[1], where or DEFAULT_TABLE, bucket)
    if bucket:
        raise InvalidInput("throttlingConfig.obsBucket needs throttlingConfig.writeToLink naming an OBS link.",
                           code="Cdm.0014")
    folder = confine(where or "dirty", ctx, "throttlingConfig.dirtyDataDirectory")
    # the job's own folder must stay inside the root too, whatever its name
    target = confine(job_name, ctx, "the job name", base=str(folder))
    if target.parent != folder:
        raise InvalidInput(f"Job name [{job_name}] cannot name a dirty-data folder.", code="Cdm.0014")
    return DirtySpec(True, max_errors, str(target), None, None)


class DirtySink:
    """Worker side, one per partition: counts bad rows, enforces the cap, and writes them out."""

    def __init__(self, spec: DirtySpec, submission_id: int, job_name: str, partition: int, ctx) -> None:
        self.spec, self.sid, self.job, self.partition, self.ctx = spec, submission_id, job_name, partition, ctx
        self.count = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.RLock()  # the extractor (unreadable records) and the loader both record

    def record(self, rows: pa.RecordBatch | pa.Table, reasons: list[str]) -> None:
        """Keep ``rows`` (with one reason each) as dirty; raise Cdm.0936 past ``maxErrorRecords``."""
        with self._lock:
            self._record(rows, reasons)

    def _record(self, rows: pa.RecordBatch | pa.Table, reasons: list[str]) -> None:
        self.count += rows.num_rows
        now = time.time()
        for row, reason in zip(rows.to_pylist(), reasons):
            self._pending.append({"submission_id": self.sid, "job_name": self.job, "partition": self.partition,
                                  "row_json": json.dumps(row, default=str, ensure_ascii=False),
                                  "reason": reason[:2000], "recorded_at": now})
        if len(self._pending) >= 10_000:
            self.flush()
        if self.spec.max_errors is not None and self.count > self.spec.max_errors:
            self.flush()
            raise TooManyDirtyRows(
                f"The number of dirty data records reaches the upper limit: partition {self.partition} has more "
                f"than throttlingConfig.maxErrorRecords={self.spec.max_errors} bad rows (last: {reasons[-1][:300]}).")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        if self.spec.link_connector:
            self._to_link(pending)
        else:
            self._to_files(pending)

    def _to_files(self, pending: list[dict[str, Any]]) -> None:
        folder = Path(self.spec.directory or ".") / str(self.sid)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"part-{self.partition:05d}.jsonl", "a", encoding="utf-8") as out:
            for item in pending:
                item = dict(item, recorded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item["recorded_at"])))
                out.write(json.dumps(item, ensure_ascii=False) + "\n")

    def _to_link(self, pending: list[dict[str, Any]]) -> None:
        columns = {name: [p[name] for p in pending] for name in SCHEMA.names}
        columns["recorded_at"] = [int(t * 1_000_000) for t in columns["recorded_at"]]
        batch = pa.record_batch([pa.array(columns[f.name], f.type) for f in SCHEMA], schema=SCHEMA)
        write_batches(self.spec, self.ctx, f"{self.sid}d{self.partition}x{int(time.time() * 1000) % 10**9}",
                      [batch])


def write_batches(spec: DirtySpec, ctx, run_id: str, batches: list[pa.RecordBatch], create: bool = False) -> None:
    """Append ``batches`` to the dirty-data target through the link's own connector (staged, atomic)."""
    from opencdm import connectors
    from opencdm.connectors.base import WholeSource

    connector = connectors.get(spec.link_connector)
    loader = connector.loader(spec.link or {}, connector.dirty_job(spec.table, create, spec.bucket), ctx, run_id)
    try:
        loader.prepare(SCHEMA)
        loader.commit([loader.load(WholeSource(0), batches)])
    except BaseException:
        loader.abort()
        raise


def prepare_table(spec: DirtySpec, ctx, submission_id: int) -> None:
    """Server side, once per run: create the dirty-data table if missing, so partitions only append."""
    if spec.enabled and spec.link_connector:
        write_batches(spec, ctx, f"{submission_id}dirtyprep", [], create=True)
