"""What every stream source (Kafka, DIS) shares behind ``Extractor``: the positions the engine hands
over (``resume``), ``isPermanency``, the record layout learned once on the server from a first
record and sent to workers inside each partition (``streams.records``), and turning the records a
source reads (``_records``) into Arrow batches or, for CSV, a native CSV text stream."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from opencdm.connectors.base import Chunk, DirtyRows, Extractor, Partition
from opencdm.connectors.streams.records import Layout, RecordFormat


class StreamSource(Extractor):
    #: ``records`` and ``permanent`` come from the connector's parsed FROM inputs (``self.cfg``).
    cfg: Any
    _positions: Mapping[str, Any] = {}  # read only; resume() sets the instance's own
    _own = False
    _layout: Layout | None = None

    @property
    def records(self) -> RecordFormat:
        return self.cfg.records

    @property
    def permanent(self) -> bool:
        return self.cfg.permanent

    def resume(self, positions: Mapping[str, Any], own: bool) -> None:
        self._positions, self._own = dict(positions), own

    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = self.records.layout(self._sample() if self.records.sampled else None)
        return self._layout

    def schema(self) -> pa.Schema:
        return self.records.schema(self.layout())

    def extract(self, part: Partition, dirty: DirtyRows | None = None) -> Iterator[pa.RecordBatch]:
        schema = self.records.schema(part.layout)
        for records in self._records(part):
            yield self.records.batch(records, schema, dirty)

    def native_format(self) -> str | None:
        return self.records.native_format()

    def native_stream(self, part: Partition) -> Iterator[Chunk]:
        for records in self._records(part):
            yield self.records.chunk(records)

    @abstractmethod
    def _records(self, part: Any) -> Iterator[list[bytes]]:
        """Worker side: the partition's records, a read at a time, until idle or the cycle's time is up."""

    @abstractmethod
    def _sample(self) -> bytes | None:
        """Server side: the first record the run would read (None: there is none yet)."""
