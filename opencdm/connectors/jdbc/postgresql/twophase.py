"""Appending to a kept PostgreSQL table with two-phase commit: each row written once, all or nothing.

A job that appends to a table that keeps its rows would otherwise stage every row, then copy it with
``INSERT ... SELECT``. With the server's ``max_prepared_transactions`` large enough for the run's
partitions, each partition instead writes straight into the table in its own transaction and ends it
with ``PREPARE TRANSACTION 'opencdm:<run>:<partition>:<rows>'``: its rows are on disk, invisible, and
survive a crash of the worker or the server. The commit checks that exactly the loaded partitions are
prepared, records its decision in the run's ledger (committed on its own), then ``COMMIT PREPARED``
each one. Until that decision every abort rolls them back, so a failed, stopped or killed run leaves
the table as it was; after it, an abort (a crash in the middle of the commit, recovered at restart)
commits the rest, so the table never holds part of a run.

Idempotency: a partition whose attempt already prepared is found by its transaction's name and not
written again; two attempts running at once meet on the ledger row the first one claimed (a short
``lock_timeout``, then a look at the prepared transactions). Not used (the staged path runs instead)
for resumable runs, whose staging outlives a failure, when the server allows too few prepared
transactions, or when a column needs a conversion through a temporary table (which ``PREPARE``
refuses).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.postgresql import types
from opencdm.errors import LoadFailed

#: The ledger row holding the commit's decision (after it, an abort commits instead of rolling back).
DECIDED = -2
CLAIM_WAIT = "2s"  # how long a claim waits for another attempt of the same partition before looking again
WRITE_WAIT = "60s"  # how long a write waits on a lock (a key another open transaction inserted)

_PREPARED = """
SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE database = pg_catalog.current_database() AND gid LIKE $1"""


def gid(run: str, part: int, rows: int) -> str:
    return f"opencdm:{run}:{int(part)}:{int(rows)}"


def prepared(dialect: Any, conn: Any, run: str, part: int | None = None) -> dict[int, tuple[str, int]]:
    """``{partition: (transaction name, rows)}`` of the run's prepared transactions."""
    prefix = f"opencdm:{run}:" + ("" if part is None else f"{int(part)}:")
    out = {}
    for (name,) in dialect.query(conn, _PREPARED, [prefix + "%"]):
        _, _, index, rows = name.split(":")
        out[int(index)] = (name, int(rows))
    return out


def reason(dialect: Any, conn: Any, schema: str | None, table: str, names: Sequence[str], fields: pa.Schema,
           partitions: int) -> str | None:
    """None when an append to ``table`` can go through prepared transactions; else why not."""
    cap = int(dialect.query(conn, "SELECT pg_catalog.current_setting('max_prepared_transactions')::int")[0][0])
    if cap == 0:
        return "the server's max_prepared_transactions is 0"
    taken = int(dialect.query(conn, "SELECT count(*) FROM pg_catalog.pg_prepared_xacts")[0][0])
    if cap - taken < partitions:
        return f"the server allows {cap - taken} more prepared transactions, the run has {partitions} partitions"
    cols = dialect.columns(conn, schema, table) or []
    if [c.name for c in cols] != list(names):
        return "the job does not load every column in table order"
    if types.write_plan(cols, fields) is None:
        return "a column needs a conversion through a temporary table"
    return None


def load(dialect: Any, schema: str | None, table: str, ledger: str, run: str, index: int,
         batches: Iterable[pa.RecordBatch], dirty: Any) -> int:
    """Worker side: write partition ``index`` (Arrow batches) straight into ``table`` and prepare it."""
    with dialect.connect_adbc(LoadFailed, table, write=True, autocommit=True) as conn:
        return _prepare(dialect, conn, ledger, run, index, batches,
                        lambda: dialect.write_rows(conn, schema, table, batches, dirty))


def load_native(dialect: Any, schema: str | None, table: str, ledger: str, run: str, index: int,
                chunks: Iterable[Any], fmt: str) -> int:
    """Worker side: the same for a native stream (binary COPY or CSV chunks), through one ``COPY``."""
    with dialect.connect_copy(LoadFailed, table, write=True) as conn:
        return _prepare(dialect, conn, ledger, run, index, chunks,
                        lambda: dialect.copy_chunks(conn, dialect.table(schema, table), chunks, fmt))


def _prepare(dialect: Any, conn: Any, ledger: str, run: str, index: int, items: Iterable[Any],
             write: Any, deadline: float = 600) -> int:
    """On an autocommit connection: claim the partition, ``write()`` it, record and prepare it; or find it
    prepared (or committed) by an earlier attempt and drain ``items`` instead."""
    give_up = time.monotonic() + deadline
    while True:
        done = prepared(dialect, conn, run, index)
        if done:
            staging.drain(items)
            return done[index][1]
        dialect.execute(conn, "BEGIN")
        try:
            dialect.execute(conn, f"SET LOCAL lock_timeout = '{CLAIM_WAIT}'")
            earlier = staging.claim(lambda s: dialect.execute(conn, s), lambda s: dialect.query(conn, s),
                                    ledger, index)
        except Exception as exc:
            dialect.execute(conn, "ROLLBACK")
            if "lock timeout" not in str(exc).lower() or time.monotonic() > give_up:
                raise
            continue  # another attempt holds the claim: it prepares (then we find it) or fails
        if earlier is not None:  # committed already: only after the run's commit, so nothing to do
            dialect.execute(conn, "ROLLBACK")
            staging.drain(items)
            return earlier
        try:
            dialect.execute(conn, f"SET LOCAL lock_timeout = '{WRITE_WAIT}'")
            rows = write()
            dialect.execute(conn, staging.record_sql(ledger, index, rows))
            dialect.execute(conn, f"PREPARE TRANSACTION '{gid(run, index, rows)}'")
        except BaseException:
            try:
                dialect.execute(conn, "ROLLBACK")
            except Exception:
                pass
            raise
        return rows


def commit(dialect: Any, ledger: str, run: str, latest: dict[int, int], label: str) -> None:
    """Server side: every loaded partition prepared, the decision recorded, then each committed."""
    with dialect.connect(LoadFailed, label, write=True, autocommit=True) as conn:
        found = prepared(dialect, conn, run)
        if {p: rows for p, (_, rows) in found.items()} != latest:
            raise LoadFailed(f"{len(found)} partitions of {sum(r for _, r in found.values())} rows are prepared, "
                             f"but the loads reported {len(latest)} of {sum(latest.values())}.")
        dialect.execute(conn, f"INSERT INTO {ledger} (part, rows) VALUES ({DECIDED}, 1)")
        for name, _ in found.values():
            dialect.execute(conn, f"COMMIT PREPARED '{name}'")
        dialect.execute(conn, f"DROP TABLE {ledger}")


def resolve(dialect: Any, ledger: str, run: str, label: str, rounds: int = 10) -> str | None:
    """Abort: roll back the run's prepared partitions, or commit them if the commit had decided (then
    say so), and drop the ledger. A straggling attempt that prepares meanwhile holds a lock on the
    ledger: the drop waits a moment, then the prepared transactions are resolved again."""
    with dialect.connect(LoadFailed, label, write=True, autocommit=True) as conn:
        exists = dialect.query(conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", [ledger])[0][0]
        decided = bool(exists) and bool(dialect.query(conn, f"SELECT 1 FROM {ledger} WHERE part = {DECIDED}"))
        resolved = 0
        for _ in range(rounds):
            found = prepared(dialect, conn, run)
            for name, _ in found.values():
                dialect.execute(conn, f"{'COMMIT' if decided else 'ROLLBACK'} PREPARED '{name}'")
            resolved += len(found)
            try:
                dialect.execute(conn, "SET lock_timeout = '5s'")
                dialect.execute(conn, f"DROP TABLE IF EXISTS {ledger}")
                break
            except Exception as exc:  # the driver's error: translated when the connection closes
                if "lock timeout" not in str(exc).lower():
                    raise
    if decided and resolved:
        return f"the commit had been decided: {resolved} remaining partitions were committed"
    return None
