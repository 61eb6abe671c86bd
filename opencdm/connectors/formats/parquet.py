"""PARQUET_FILE through pyarrow.parquet: types (and opencdm's field metadata: the source's declared
types) travel inside the file, so a table written and read back is re-created faithfully; declared
``numeric(p,s)`` text becomes a Parquet decimal (p <= 38).
Readers split by row group; the writer buffers about ``ROW_GROUP_BYTES`` per row group."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from opencdm.connectors.arrow import conform, field_type
from opencdm.connectors.formats import BATCH_ROWS
from opencdm.errors import ExtractFailed, LoadFailed

ROW_GROUP_BYTES = 32 << 20
CODECS = ("NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI")


def open_file(source: Any) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ExtractFailed(f"The file is not Parquet: {str(exc)[:300]}") from None


def read(source: Any, row_groups: Sequence[int] | None, columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
    pf = open_file(source)
    groups = list(range(pf.num_row_groups)) if row_groups is None else list(row_groups)
    if groups:
        yield from pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups,
                                   columns=list(columns) if columns else None, use_threads=False)


_DECIMAL = re.compile(r"^(?:numeric|decimal)\((\d+),\s*(\d+)\)$", re.I)


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The columns as Parquet stores them: exact decimal text of a declared ``numeric(p,s)`` (how
    PostgreSQL's numeric travels in Arrow) becomes a Parquet decimal when p <= 38, as readers expect."""
    fields = []
    for f in schema:
        m = _DECIMAL.match(field_type(f) or "")
        if m and pa.types.is_string(f.type) and 0 < int(m[1]) <= 38 and int(m[2]) <= int(m[1]):
            f = f.with_type(pa.decimal128(int(m[1]), int(m[2])))
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


class Writer:
    """Batches of ``schema`` into one Parquet file (columns as ``file_schema`` says)."""

    def __init__(self, sink: Any, schema: pa.Schema, codec: str, row_group_bytes: int | None = None) -> None:
        self._schema = file_schema(schema)
        self._cast = self._schema != schema
        self._writer = pq.ParquetWriter(sink, self._schema, compression=codec.lower() if codec != "NONE" else "none")
        self._pending: list[pa.RecordBatch] = []
        self._bytes = 0
        self._limit = row_group_bytes or ROW_GROUP_BYTES

    def write(self, batch: pa.RecordBatch) -> None:
        if self._cast:
            try:
                batch = conform(batch, self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise LoadFailed(f"A decimal value does not fit its declared type in Parquet (NaN?): "
                                 f"{str(exc)[:300]}") from None
        self._pending.append(batch)
        self._bytes += batch.nbytes
        if self._bytes >= self._limit:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending), row_group_size=1 << 30)
        self._pending, self._bytes = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
