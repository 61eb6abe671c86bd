"""Plain, picklable descriptions of a run and of its partitions: what crosses to workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opencdm.connectors.base import ConnectorContext, LoadResult, Partition
from opencdm.engine.dirty import DirtySpec

#: Batches buffered between a partition's extractor and loader (memory ~ this x batch size).
QUEUE_BATCHES = 4


@dataclass(frozen=True)
class EndSpec:
    """One side of a run: connector name, flat link inputs (secrets decrypted) and job inputs."""

    connector: str
    link: dict[str, Any]
    job: dict[str, Any]

    def __repr__(self) -> str:  # never let link secrets reach a log line
        return f"EndSpec(connector={self.connector!r}, job={self.job!r})"


@dataclass(frozen=True)
class TransferSpec:
    submission_id: int
    run_id: str
    job_name: str
    from_: EndSpec
    to: EndSpec
    ctx: ConnectorContext
    num_extractors: int = 1
    #: Job-wide rate limits from throttlingConfig.recordRate / byteRate (0 = unlimited).
    rows_per_s: float = 0.0
    bytes_per_s: float = 0.0
    dirty: DirtySpec = field(default_factory=DirtySpec)
    #: Native stream format both connectors agreed on after prepare (base.Chunk); None: Arrow batches.
    native: str | None = None
    #: A permanent stream run taken up again after a server restart: its stored positions are its own.
    resumed: bool = False
    #: Keep a checkpoint, and the staging when the run fails, so a later start can resume it.
    resumable: bool = False


@dataclass(frozen=True)
class PartitionTask:
    spec: TransferSpec
    partition: Partition
    attempt: int = 0
    #: This partition's share of the job's rate limits (0 = unlimited).
    rows_per_s: float = 0.0
    bytes_per_s: float = 0.0


@dataclass
class PartitionResult:
    index: int
    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    rows_dirty: int = 0
    load: LoadResult | None = None
    #: Where a stream partition stopped (``Extractor.position``); None for other sources.
    position: dict[str, Any] | None = None
    #: The stream partition stopped at its cycle's limit, not caught up (``Extractor.more``).
    more: bool = False


@dataclass
class Counters:
    """Totals of a run, as the Sqoop counter group reports them (files: when the source is files)."""

    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    rows_dirty: int = 0
    files_read: int = 0
    files_written: int = 0
    files_skipped: int = 0
    total_files: int = 0
    total_size: int = 0
