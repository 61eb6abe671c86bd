"""Bisecting a rejected batch down to its bad rows, against a real SQLite table with constraints."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pyarrow as pa
import pytest

from opencdm.connectors.isolate import write_isolating


class Dirty:
    def __init__(self, limit: int | None = None) -> None:
        self.rows: list[dict] = []
        self.reasons: list[str] = []
        self.limit = limit

    def record(self, rows, reasons) -> None:
        self.rows += rows.to_pylist()
        self.reasons += reasons
        if self.limit is not None and len(self.rows) > self.limit:
            raise RuntimeError("too many")


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))")
    conn.execute("BEGIN")
    yield conn
    conn.close()


def tools(conn):
    writes = []

    def write(batch: pa.RecordBatch) -> None:
        writes.append(batch.num_rows)
        conn.executemany("INSERT INTO t VALUES (?, ?)", zip(*[c.to_pylist() for c in batch.columns]))

    @contextmanager
    def savepoint():
        conn.execute("SAVEPOINT s")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO SAVEPOINT s")
            conn.execute("RELEASE SAVEPOINT s")
            raise
        conn.execute("RELEASE SAVEPOINT s")

    return write, savepoint, writes


def batch(values):
    return pa.record_batch([pa.array(range(len(values)), pa.int64()), pa.array(values, pa.int64())], ["id", "v"])


def test_bad_rows_are_isolated_and_the_rest_is_written(db):
    write, savepoint, writes = tools(db)
    values = [1] * 1000
    for bad in (3, 500, 501, 999):
        values[bad] = -1 if bad != 500 else None
    dirty = Dirty()
    written = write_isolating(batch(values), write, savepoint, lambda e: isinstance(e, sqlite3.IntegrityError), dirty)
    assert written == 996
    assert sorted(r["id"] for r in dirty.rows) == [3, 500, 501, 999]
    assert any("NOT NULL" in r for r in dirty.reasons) and any("CHECK" in r for r in dirty.reasons)
    assert db.execute("SELECT count(*), sum(v) FROM t").fetchone() == (996, 996)
    assert len(writes) < 150  # a few dozen writes of halving slices, not one write per row


def test_clean_batch_is_one_write_and_errors_fail_without_a_sink(db):
    write, savepoint, writes = tools(db)
    assert write_isolating(batch([1, 2, 3]), write, savepoint, lambda e: True, Dirty()) == 3
    assert writes == [3]
    with pytest.raises(sqlite3.IntegrityError):
        write_isolating(batch([1, -1]), write, savepoint, lambda e: True, None)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)  # the failed batch left nothing behind


def test_other_errors_are_not_bisected(db):
    write, savepoint, _ = tools(db)
    with pytest.raises(sqlite3.IntegrityError):
        write_isolating(batch([-1]), write, savepoint, lambda e: False, Dirty())


def test_the_sink_can_stop_the_load(db):
    write, savepoint, _ = tools(db)
    with pytest.raises(RuntimeError, match="too many"):
        write_isolating(batch([-1] * 20), write, savepoint, lambda e: True, Dirty(limit=5))
