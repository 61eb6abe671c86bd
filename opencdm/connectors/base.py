"""The connector SDK: Sqoop 2's lifecycle in a Python shape.

A run of one job goes through these calls, on two kinds of machine:

* **server** (the process running the API): ``Extractor.schema``, ``Extractor.partitions``,
  ``Extractor.estimate_rows``, ``Loader.prepare``, then after every partition ``Loader.commit``
  or ``Loader.abort``. These may query the store but must stay cheap.
* **worker** (a local worker process or a Dask worker): ``Extractor.extract`` and ``Loader.load``,
  once per partition. Workers rebuild connectors from the registry by name, from plain data: a
  connector object never crosses a process boundary, only its inputs do.

Connectors never count rows or bytes: the engine counts batches as they pass, so counters mean
the same for every connector.

Batches of Arrow are the one data path every connector speaks. A pair of connectors that share
a faster wire format (PostgreSQL's binary COPY, say) may also offer a **native stream**: the
engine asks ``Extractor.native_format`` and ``Loader.accepts_native`` on the server after
``prepare``, and when both agree it calls ``native_stream``/``load_native`` on the workers
instead of ``extract``/``load``. The bytes pass through undecoded; the engine still counts the
rows and bytes of every ``Chunk``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from opencdm.connectors.inputs import InputDef
from opencdm.errors import InvalidInput

#: Flat ``{"linkConfig.host": "db", ...}`` view of a config group's inputs (secrets decrypted).
Inputs = Mapping[str, Any]


@dataclass(frozen=True)
class ConnectorContext:
    """Server-wide facts a connector needs on either side; plain data so it pickles."""

    #: The project's own file root: relative paths of file-backed stores (SQLITE links, local files,
    #: dirty-data files) start here. Never a directory holding the server's own files.
    file_root: str = "."
    #: Every directory this project's links may open or create files in: ``file_root`` plus the
    #: shared roots the operator configured for the project.
    allowed_dirs: tuple[str, ...] = ()
    #: Networks and host names links may connect to (``OPENCDM_LINK_EGRESS_ALLOW``); empty: anywhere.
    egress: tuple[str, ...] = ()
    #: The server's time zone (``OPENCDM_TIMEZONE``): schedules' dates and date macros are read in it.
    timezone: str = "UTC"


@dataclass(frozen=True)
class Partition:
    """One slice of the FROM side. Pickled to workers and logged: plain data, readable str()."""

    index: int

    @property
    def files(self) -> int:
        """Source files this partition reads (a file split over several partitions counts in its first)."""
        return 0

    @property
    def size(self) -> int:
        """Source bytes this partition reads, when the source is files (0: not files)."""
        return 0


@dataclass(frozen=True)
class WholeSource(Partition):
    """The whole source in one partition (no usable split key, or numExtractors=1)."""


@dataclass(frozen=True)
class KeyRange(Partition):
    """Rows with ``lo <= column < hi`` (``<= hi`` when ``last``); ``nulls`` selects ``column IS NULL``.

    A ``None`` bound leaves that end open; a range never selects NULL keys.
    """

    column: str = ""
    lo: Any = None
    hi: Any = None
    last: bool = False
    nulls: bool = False


@dataclass(frozen=True)
class BatchItem:
    """One item of an entire-database job (``BATCH_JOB``): a table, and the items it must follow
    (the tables its foreign keys reference, when they are items too)."""

    name: str
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A piece of a native stream: raw bytes in the negotiated format, and how many rows they finish.

    A stream of several objects (the files of a binary copy) names each one in the chunk that starts
    it; every following chunk without a name continues that object."""

    data: bytes | bytearray | memoryview
    rows: int
    name: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """What one ``Loader.load`` call wrote to staging; handed back to ``Loader.commit``."""

    index: int
    rows: int
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: Files the partition wrote, and files it left alone because the destination had them already.
    files: int = 0
    skipped: int = 0


class DirtyRows(Protocol):
    """Where a loader puts rows it could not write (``throttlingConfig.recordDirtyData``)."""

    def record(self, rows: pa.RecordBatch | pa.Table, reasons: list[str]) -> None:
        """Keep ``rows`` with one reason each; raises (Cdm.0936) when the partition has too many."""


class Extractor(ABC):
    """FROM side of one run. Holds configuration only; opens connections inside each call."""

    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        self.link = link
        self.job = job
        self.ctx = ctx

    @abstractmethod
    def schema(self) -> pa.Schema:
        """Server side. Arrow schema of every batch ``extract`` yields, in output column order.

        Field metadata key ``b"opencdm.type"`` may carry the source's declared type
        (e.g. ``numeric(12,2)``) so a loader can create a faithful target table.
        """

    @abstractmethod
    def partitions(self, max_partitions: int) -> list[Partition]:
        """Server side, cheap queries only. At least one partition; together they cover the source once."""

    def estimate_rows(self) -> int | None:
        """Server side. Rough row count for progress; None when unknown."""
        return None

    @abstractmethod
    def extract(self, part: Partition, dirty: DirtyRows | None = None) -> Iterator[pa.RecordBatch]:
        """Worker side. Stream the partition as batches of ``schema()``; memory bounded by batch size.

        ``dirty`` (with ``recordDirtyData``) takes source records that cannot be read (a line that does not
        parse); without it such a record fails the run."""

    # -- stream sources (Kafka, DIS) ----------------------------------------------------------------
    #
    # A stream source has no end of its own: it reads from positions (an offset or sequence number per
    # partition or shard) and the engine keeps them. A run is a series of cycles; each cycle reads from
    # the positions, loads, commits, and only then stores where it got to (``position`` of each
    # partition) and calls ``advance``. A permanent source (``isPermanency``) runs cycles until stopped.

    def stream_source(self) -> str | None:
        """Server side, no I/O. The name the engine keeps this job's positions under; None: not a stream."""
        return None

    @property
    def permanent(self) -> bool:
        """Whether runs go on, cycle after cycle, until stopped (``isPermanency``)."""
        return False

    def resume(self, positions: Mapping[str, Any], own: bool) -> None:
        """Server side, before ``partitions``: the stored positions. ``own``: they are this run's own (a
        later cycle, or a run resumed after a restart) and must be used; otherwise they are an earlier
        run's, used as the source's start strategy says (``FROM_LAST_STOP``)."""

    def position(self, part: Partition) -> Mapping[str, Any] | None:
        """Worker side, after ``extract`` ended: where the partition stopped (the next record to read)."""
        return None

    def more(self, part: Partition) -> bool:
        """Worker side, after ``extract`` ended: whether it stopped at its cycle's limit with records
        left to read (a one-off stream run then runs another cycle) rather than having caught up."""
        return False

    def advance(self, positions: Mapping[str, Any]) -> None:
        """Server side, after the destination committed up to ``positions`` (Kafka: commit the group's offsets)."""

    def native_format(self) -> str | None:
        """Server side, no I/O. A raw format ``native_stream`` can produce for this job, or None (the default)."""
        return None

    def native_stream(self, part: Partition) -> Iterator[Chunk]:
        """Worker side. The partition in ``native_format()``, columns as in ``schema()``; memory bounded.

        Only called when the loader accepted the format. Must cover exactly the rows ``extract``
        would, and end the stream with any trailer the format needs.
        """
        raise NotImplementedError(f"{type(self).__name__} has no native stream")


class Loader(ABC):
    """TO side of one run. Writes only to staging until ``commit``.

    ``run_id`` is unique per submission and is the same on server and workers, so staging
    objects can be named from it. ``load`` must be idempotent per ``part.index``: a retried
    partition must not double rows (write each partition in one transaction, or replace it).
    """

    #: Set by ``prepare``: how this run writes the target, in a few words (the submission's ``write-path``).
    write_path: str | None = None
    #: Set by the engine before ``prepare``: how many partitions the run has, and whether a failure keeps
    #: the staging for a resume (``throttlingConfig.resumable``).
    planned_partitions: int = 1
    resumable_run: bool = False

    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        self.link = link
        self.job = job
        self.ctx = ctx
        self.run_id = run_id

    @abstractmethod
    def prepare(self, schema: pa.Schema) -> None:
        """Server side. Check the target and create staging; must not change the target."""

    @abstractmethod
    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        """Worker side. Write every batch of one partition to staging.

        Without ``dirty`` the first row the store rejects fails the load. With it, a rejected batch
        is bisected down to the rejected rows, which go to ``dirty.record`` with the store's reason,
        and every other row is written.
        """

    def appending(self) -> None:
        """Server side, before each cycle after the first of a stream run: keep what earlier cycles
        committed (no clearing or re-creating of the target); ``prepare`` and ``commit`` follow as usual."""
        raise NotImplementedError(f"{type(self).__name__} cannot take a stream run")

    def accepts_native(self, fmt: str) -> bool:
        """Server side, after ``prepare``. True when ``load_native`` can write chunks of ``fmt`` for this run."""
        return False

    def load_native(self, part: Partition, chunks: Iterable[Chunk], fmt: str) -> LoadResult:
        """Worker side. Like ``load`` (same staging, same idempotence), fed one native stream of ``fmt``
        (a format ``accepts_native`` agreed to on the server)."""
        raise NotImplementedError(f"{type(self).__name__} cannot load a native stream")

    def reopen(self, schema: pa.Schema) -> None:
        """Server side, instead of ``prepare`` when a run resumes: the staging of an earlier attempt of
        this run id exists (with the partitions it finished); take it up. Connectors that are
        ``resumable`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume a run")

    @abstractmethod
    def commit(self, results: Sequence[LoadResult]) -> None:
        """Server side. Move staging into the target atomically (all rows or none), then drop staging."""

    @abstractmethod
    def abort(self) -> None:
        """Server side. Drop staging; the target stays as it was. Safe to call twice or after a crash."""


class Connector(ABC):
    """One CDM connector (``connector-name``). Stateless: one instance serves every link."""

    name: ClassVar[str]
    #: Link inputs that are secrets: encrypted at rest, never returned nor logged.
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset({"linkConfig.password"})
    #: Link inputs that may change while a stored secret is kept (sent back as ``******``). A change to
    #: any other input, or of connector, needs the secret again: it may now authenticate elsewhere.
    unbound_inputs: ClassVar[frozenset[str]] = frozenset()
    #: Whether its loader isolates rows the store rejects and hands them to ``dirty`` (``Loader.load``);
    #: a job with ``recordDirtyData`` into a connector that cannot is refused at creation.
    records_dirty: ClassVar[bool] = False
    #: Job inputs where ``${...}`` macros and job variables are expanded at each run's start (spec §14.1),
    #: and those of them that are time-filter bounds (no MONTH or YEAR offsets there).
    macro_inputs: ClassVar[frozenset[str]] = frozenset()
    time_inputs: ClassVar[frozenset[str]] = frozenset()
    #: Whether a run into it can be resumed (``throttlingConfig.resumable``): its staging is keyed by run id
    #: and partition, and a partition loaded again replaces its earlier attempt, so a failed run's staging
    #: can be kept and completed by a later start.
    resumable: ClassVar[bool] = False
    #: Whether its loader can take the later cycles of a permanent stream run (``Loader.appending``).
    appends: ClassVar[bool] = False
    #: Which sides the connector can be: a subset of {"from", "to"}.
    directions: ClassVar[frozenset[str]] = frozenset({"from", "to"})

    #: The connector's inputs parsed into frozen objects: ``link_config.parse(link_inputs)``, then
    #: ``from_config.parse(job_inputs, link)`` / ``to_config.parse(job_inputs, link)``. The extractor
    #: and loader parse with the same classes, so what ``check_job`` accepted is what runs.
    link_config: ClassVar[type[Any] | None] = None
    from_config: ClassVar[type[Any] | None] = None
    to_config: ClassVar[type[Any] | None] = None
    #: The same inputs declared for forms (``connectors.inputs``): every ``linkConfig.*``, ``fromJobConfig.*``
    #: and ``toJobConfig.*`` the config classes read, and no other. Job-level inputs are ``inputs.JOB_INPUTS``.
    link_inputs: ClassVar[tuple[InputDef, ...]] = ()
    from_inputs: ClassVar[tuple[InputDef, ...]] = ()
    to_inputs: ClassVar[tuple[InputDef, ...]] = ()

    @abstractmethod
    def check_link(self, link: Inputs, ctx: ConnectorContext) -> str | None:
        """Server side. Validate inputs, connect and authenticate; raise InvalidInput or a LinkError.
        May return what it found at the other end (``"OpenSearch 3.8.0"``), shown as ``link-check``."""

    def check_job(self, link: Inputs, job: Inputs, direction: str, ctx: ConnectorContext) -> None:
        """Server side, no I/O. Raise InvalidInput for missing or malformed job inputs; by default,
        parse them with the connector's config classes."""
        model = {"from": self.from_config, "to": self.to_config}.get(direction)
        if direction not in ("from", "to"):
            raise InvalidInput(f"Unknown direction [{direction}]: expected from or to.", code="Cdm.0014")
        if self.link_config is not None and model is not None:
            model.parse(job, self.link_config.parse(link))

    def permanent(self, link: Inputs, job: Inputs) -> bool:
        """Whether a FROM job runs until stopped (``isPermanency`` of a stream source); no I/O."""
        return False

    def uses_sql(self, job: Inputs) -> bool:
        """Whether a FROM job reads with a query of its own (the Job field ``is_use_sql``); no I/O."""
        return False

    def batch_items(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> list[BatchItem]:
        """Server side, the FROM of a ``BATCH_JOB``: the items it moves (every table the job's inputs
        select), each with the items it must follow. InvalidInput when the connector has no such job."""
        raise InvalidInput(f"{self.name} cannot be the source of an entire-database job (BATCH_JOB).",
                           code="Cdm.0014")

    def batch_job(self, job: Inputs, item: str, direction: str) -> Inputs:
        """No I/O. The ``direction`` job inputs of the sub-job that moves ``item`` of a ``BATCH_JOB``
        (the same inputs with the table, directory or index of that item)."""
        raise InvalidInput(f"{self.name} cannot take part in an entire-database job (BATCH_JOB) as "
                           f"{direction}.", code="Cdm.0014")

    def dirty_job(self, target: str, create: bool, bucket: str | None = None) -> Inputs:
        """TO-side job inputs that append dirty rows to ``target`` (a table, a directory: the
        connector's own notion) in ``bucket`` (``throttlingConfig.obsBucket``, object stores), creating
        it when missing if ``create``; for ``throttlingConfig.writeToLink``. InvalidInput when the
        connector cannot take dirty data."""
        raise InvalidInput(f"Links of {self.name} cannot receive dirty data (throttlingConfig.writeToLink).",
                           code="Cdm.0014")

    @abstractmethod
    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor: ...

    @abstractmethod
    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader: ...
