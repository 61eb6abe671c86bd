"""Appending to a kept MySQL/MariaDB table with XA transactions: each row written once, all or nothing.

The MySQL counterpart of ``postgresql.twophase``. Each partition writes straight into the table inside
``XA START 'opencdm:<run>:<partition>','<attempt>'`` (its claim in the run's ledger first, its count
recorded there last), ends it and ``XA PREPARE`` s it: the rows are on disk, invisible, and survive the
worker's disconnect and a server crash (MySQL >= 5.7.7, MariaDB >= 10.5). Since an XA transaction's
name is fixed when it starts, the partition's row count goes, just before the prepare, into a side
table (``<stage>_xa``: partition, attempt, rows) on a second connection; the commit and a retry read
it from there. The commit checks that exactly the loaded partitions are prepared with the counts the
loads reported, records its decision in the ledger, then ``XA COMMIT`` s each one. Before that
decision an abort rolls them all back; after it (a crash during the commit, recovered at restart) it
commits the rest. A retried partition finds its prepared attempt by name and is not written again.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.mysql.errors import pymysql_module
from opencdm.errors import LoadFailed

DECIDED = -2  # the ledger row holding the commit's decision
LOCK_WAIT_TIMEOUT, NO_SUCH_TABLE = 1205, 1146
_MIN_VERSION = {"mariadb": (10, 5), "mysql": (5, 7)}  # prepared XA transactions survive a disconnect from these


def counts_name(ledger: str) -> str:
    """The side table of counts next to ``ledger`` (a qualified, quoted name)."""
    return ledger[:-1] + "_xa`" if ledger.endswith("`") else ledger + "_xa"


def _xid(run: str, part: int, attempt: str) -> str:
    return f"'opencdm:{run}:{int(part)}','{attempt}'"


def prepared(dialect: Any, conn: Any, run: str, part: int | None = None) -> dict[int, str]:
    """``{partition: attempt}`` of the run's prepared XA transactions."""
    prefix = f"opencdm:{run}:"
    out = {}
    for _, gtrid_length, _, data in dialect.query(conn, "XA RECOVER"):
        data = data.decode() if isinstance(data, (bytes, bytearray)) else str(data)
        gtrid, attempt = data[:int(gtrid_length)], data[int(gtrid_length):]
        if gtrid.startswith(prefix) and (part is None or gtrid == f"{prefix}{int(part)}"):
            out[int(gtrid[len(prefix):])] = attempt
    return out


def reason(dialect: Any, conn: Any, schema: str | None, table: str, names: Sequence[str], fields: pa.Schema,
           partitions: int) -> str | None:
    """None when an append to ``table`` can go through XA transactions; else why not."""
    version = dialect._version(conn)
    kind = "mariadb" if "mariadb" in version.lower() else "mysql"
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < _MIN_VERSION[kind]:
        return f"prepared XA transactions do not survive a disconnect on {version}"
    try:
        dialect.query(conn, "XA RECOVER")
    except pymysql_module().MySQLError as exc:
        return f"the link's user may not list XA transactions ({exc.args[-1]})"
    engine = dialect.query(conn, "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                                 "COALESCE(%s, DATABASE()) AND CAST(TABLE_NAME AS BINARY) = CAST(%s AS BINARY)",
                           [schema, table])
    if not engine or str(engine[0][0]).lower() != "innodb":
        return "it is not an InnoDB table"
    if [c.name for c in dialect.columns(conn, schema, table) or []] != list(names):
        return "the job does not load every column in table order"
    return None


def create_sql(ledger: str) -> list[str]:
    """The side table of counts, created with the run's ledger."""
    counts = counts_name(ledger)
    return [f"DROP TABLE IF EXISTS {counts}",
            f"CREATE TABLE {counts} (part INTEGER NOT NULL, attempt VARCHAR(32) NOT NULL, `rows` BIGINT NOT NULL, "
            f"PRIMARY KEY (part, attempt)) ENGINE=InnoDB"]


def _count(dialect: Any, conn: Any, ledger: str, part: int, attempt: str) -> int | None:
    rows = dialect.query(conn, f"SELECT `rows` FROM {counts_name(ledger)} WHERE part = %s AND attempt = %s",
                         [int(part), attempt])
    return int(rows[0][0]) if rows else None


def load(dialect: Any, schema: str | None, table: str, ledger: str, run: str, index: int,
         batches: Iterable[pa.RecordBatch], deadline: float = 600) -> int:
    """Worker side: write partition ``index`` straight into ``table`` in an XA transaction and prepare it;
    or find it prepared (or committed) by an earlier attempt and drain ``batches`` instead."""
    native = dialect.link.using_native and dialect._flag("allowLoadLocalInfile", True)
    give_up = time.monotonic() + deadline
    with dialect.connect(LoadFailed, table, write=True, infile=native) as conn:
        conn.autocommit(True)
        cols = dialect.columns(conn, schema, table) or []
        while True:
            done = prepared(dialect, conn, run, index)
            if done:
                rows = _count(dialect, conn, ledger, index, done[index])
                if rows is None:
                    raise LoadFailed(f"Partition {index} is prepared but its row count was not recorded.")
                staging.drain(batches)
                return rows
            attempt = uuid.uuid4().hex[:16]
            xid = _xid(run, index, attempt)
            dialect.execute(conn, "SET SESSION innodb_lock_wait_timeout = 2")
            dialect.execute(conn, f"XA START {xid}")
            try:
                earlier = staging.claim(lambda s: dialect.execute(conn, s), lambda s: dialect.query(conn, s),
                                        ledger, index, "`")
            except pymysql_module().MySQLError as exc:
                _rollback(dialect, conn, xid)
                if exc.args[0] != LOCK_WAIT_TIMEOUT or time.monotonic() > give_up:
                    raise
                continue  # another attempt holds the claim: it prepares (then we find it) or fails
            if earlier is not None:  # committed already (only after the run's commit): nothing to do
                _rollback(dialect, conn, xid)
                staging.drain(batches)
                return earlier
            try:
                dialect.execute(conn, "SET SESSION innodb_lock_wait_timeout = 60")
                rows = dialect._write(conn, native, dialect.table(schema, table), iter(batches), cols)
                dialect.execute(conn, staging.record_sql(ledger, index, rows, "`"))
                dialect.execute(conn, f"XA END {xid}")
                with dialect.connect(LoadFailed, table, write=True) as side:
                    dialect.execute(side, f"INSERT INTO {counts_name(ledger)} (part, attempt, `rows`) "
                                          f"VALUES ({int(index)}, '{attempt}', {int(rows)})")
                    side.commit()
                dialect.execute(conn, f"XA PREPARE {xid}")
            except BaseException:
                _rollback(dialect, conn, xid)
                raise
            return rows


def _rollback(dialect: Any, conn: Any, xid: str) -> None:
    for statement in (f"XA END {xid}", f"XA ROLLBACK {xid}"):
        try:
            dialect.execute(conn, statement)
        except Exception:  # noqa: BLE001 - already ended, or the connection is gone (then the server rolls back)
            pass


def commit(dialect: Any, ledger: str, run: str, latest: dict[int, int], label: str) -> None:
    """Server side: every loaded partition prepared with its reported count, the decision recorded, then
    each committed."""
    with dialect.connect(LoadFailed, label, write=True) as conn:
        conn.autocommit(True)
        found = prepared(dialect, conn, run)
        counts = {p: _count(dialect, conn, ledger, p, attempt) for p, attempt in found.items()}
        if counts != latest:
            raise LoadFailed(f"{len(found)} partitions of {sum(c or 0 for c in counts.values())} rows are prepared, "
                             f"but the loads reported {len(latest)} of {sum(latest.values())}.")
        dialect.execute(conn, f"INSERT INTO {ledger} (part, `rows`) VALUES ({DECIDED}, 1)")
        for part, attempt in found.items():
            dialect.execute(conn, f"XA COMMIT {_xid(run, part, attempt)}")
        _drop(dialect, conn, ledger)


def resolve(dialect: Any, ledger: str, run: str, label: str, rounds: int = 10) -> str | None:
    """Abort: roll back the run's prepared partitions, or commit them if the commit had decided (then say
    so), and drop the ledger and the counts. A straggling attempt that prepares meanwhile holds a lock
    on the ledger: the drop waits a moment, then the prepared transactions are resolved again."""
    with dialect.connect(LoadFailed, label, write=True) as conn:
        conn.autocommit(True)
        try:
            decided = bool(dialect.query(conn, f"SELECT 1 FROM {ledger} WHERE part = {DECIDED}"))
        except pymysql_module().MySQLError as exc:
            if exc.args[0] != NO_SUCH_TABLE:
                raise
            decided = False
        resolved = 0
        dialect.execute(conn, "SET SESSION lock_wait_timeout = 5")
        for _ in range(rounds):
            found = prepared(dialect, conn, run)
            for part, attempt in found.items():
                dialect.execute(conn, f"XA {'COMMIT' if decided else 'ROLLBACK'} {_xid(run, part, attempt)}")
            resolved += len(found)
            try:
                _drop(dialect, conn, ledger)
                break
            except pymysql_module().MySQLError as exc:
                if exc.args[0] != LOCK_WAIT_TIMEOUT:
                    raise
    if decided and resolved:
        return f"the commit had been decided: {resolved} remaining partitions were committed"
    return None


def _drop(dialect: Any, conn: Any, ledger: str) -> None:
    dialect.execute(conn, f"DROP TABLE IF EXISTS {counts_name(ledger)}")
    dialect.execute(conn, f"DROP TABLE IF EXISTS {ledger}")
