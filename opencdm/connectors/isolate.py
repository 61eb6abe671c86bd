"""Isolate the rows a store rejects: write a batch under a savepoint, and split it when it fails.

A batch with one bad row among n costs about two extra writes of the batch (log2 n levels of
halving), so clean data pays nothing and dirty data pays little. Only row-level rejections
(bad values, constraint violations) are bisected; anything else (a lost connection) fails as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pyarrow as pa

from opencdm.connectors.base import DirtyRows

#: Rows below which a failing slice is tried row by row instead of halved again.
ROW_BY_ROW = 8


def write_isolating(batch: pa.RecordBatch, write: Callable[[pa.RecordBatch], None],
                    savepoint: Callable[[], AbstractContextManager[None]], is_row_error: Callable[[Exception], bool],
                    dirty: DirtyRows | None) -> int:
    """Write ``batch``; with ``dirty``, rejected rows are recorded instead of failing. Returns rows written.

    ``savepoint()`` must roll the store back to where it was when the block raises, and keep the
    enclosing transaction usable.
    """
    try:
        with savepoint():
            write(batch)
        return batch.num_rows
    except Exception as exc:
        if dirty is None or not is_row_error(exc):
            raise
        if batch.num_rows == 1:
            dirty.record(batch, [reason(exc)])
            return 0
        if batch.num_rows <= ROW_BY_ROW:
            return sum(write_isolating(batch.slice(i, 1), write, savepoint, is_row_error, dirty)
                       for i in range(batch.num_rows))
        mid = batch.num_rows // 2
        return (write_isolating(batch.slice(0, mid), write, savepoint, is_row_error, dirty)
                + write_isolating(batch.slice(mid), write, savepoint, is_row_error, dirty))


def reason(exc: Exception) -> str:
    """The store's own words, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:1000]
