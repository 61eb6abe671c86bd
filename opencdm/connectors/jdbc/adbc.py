"""Writing Arrow through ADBC's ``adbc_ingest``: the counted feed every dialect appends with."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc.sqltext import PART_COLUMN


class Feed:
    """A batch iterable handed to a driver that pulls from it (``adbc_ingest``).

    Counts rows and remembers the first exception the source raised, so the caller can re-raise
    it (a ``Cancelled`` from the engine, say) instead of the driver's generic wrapping of it.
    """

    def __init__(self, batches: Iterable[pa.RecordBatch], convert: Callable[[pa.RecordBatch], pa.RecordBatch]):
        self.batches, self.convert = batches, convert
        self.rows = 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self.batches:
                if batch.num_rows:
                    self.rows += batch.num_rows
                    yield self.convert(batch)
        except BaseException as exc:
            self.error = exc
            raise

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error

    def ingest(self, cursor: Any, table: str, schema: pa.Schema | None = None, **options: Any) -> int:
        """Append every batch with ``cursor.adbc_ingest``; the rows written. Without ``schema`` the
        first batch's is used (nothing is written when there is none). The source's own exception
        wins over the driver's wrapping of it."""
        it = iter(self)
        if schema is None:
            first = next(it, None)
            if first is None:
                return 0
            schema, it = first.schema, itertools.chain((first,), it)
        try:
            cursor.adbc_ingest(table, pa.RecordBatchReader.from_batches(schema, it), mode="append", **options)
        except Exception:
            self.reraise()
            raise
        return self.rows


def with_part(batch: pa.RecordBatch, index: int) -> pa.RecordBatch:
    """``batch`` plus the ``PART_COLUMN`` holding ``index`` on every row."""
    part = pa.nulls(batch.num_rows, pa.int32()).fill_null(index)
    return pa.RecordBatch.from_arrays([*batch.columns, part], names=[*batch.schema.names, PART_COLUMN])

