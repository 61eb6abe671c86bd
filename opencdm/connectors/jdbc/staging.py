"""Typed staging for the JDBC loader: a stage table with the destination's own column types.

A run's stage is created by ``Loader.prepare`` and named from the run id only (``stage_name``), so
``abort`` can drop it after a crash. Two shapes:

* **owned** (``DROP_AND_CREATE``, or ``CREATE_WHEN_NOT_EXIST`` on a missing table): the stage is
  created exactly as the target will be (final DDL, primary key, logged), partitions load straight
  into it, and ``commit`` is one transaction ``DROP TABLE target; ALTER TABLE stage RENAME TO
  target``. The data is written once.
* **kept** (the target exists and stays): the stage has the target's column types and is scratch
  (``UNLOGGED`` on PostgreSQL); ``commit`` is one ``INSERT INTO target SELECT * FROM stage``
  without casts, after the clearing options, in one transaction.

Databases without transactional DDL (MySQL, ``Dialect.builds_aside``) use the ledger without a
typed stage: partitions write into a table built aside (the final table, or the kept target's twin)
that the commit renames into place.

Idempotent loads without a hidden partition column: next to the stage sits a **ledger** table,
``(part, rows)``. A load is one transaction that first *claims* its partition (``INSERT ... ON
CONFLICT DO NOTHING``, then reads the row back), writes its rows, and records their count. So:

* a load that fails or is killed rolls back its rows and its claim together;
* a retry of a partition whose earlier attempt committed finds the count (>= 0) and writes nothing;
* two attempts of one partition running at once (a worker presumed lost still finishing) are
  serialised by the claim's row lock: the second waits, then sees the first one's outcome.

``commit`` checks that the ledger holds exactly the partitions and counts the loads reported.
The ledger row ``MARK`` records which shape ``prepare`` chose. Ledger and stage have the same
persistence, so a database crash that empties an unlogged stage empties its ledger too, and the
check fails the run instead of committing a partial stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opencdm.connectors.jdbc.sqltext import quote_ident

LEDGER_SUFFIX = "_parts"
#: Ledger row recording how ``prepare`` shaped the stage (its ``rows``: one of the shapes below).
MARK = -1
KEPT, OWNED, SWAP, TWO_PHASE = 0, 1, 2, 3  # scratch stage moved in; the final table; the twin; no stage


def ledger_name(stage: str) -> str:
    return stage + LEDGER_SUFFIX


def create_sql(table: Callable[[str], str], q: str, stage: str, columns: Iterable[tuple[str, str, bool]],
               primary_key: Iterable[str], owned: bool, scratch: str = "", checks: Iterable[str] = (),
               options: str = "", twin: str | None = None) -> list[str]:
    """Statements (re)creating the stage and its ledger; ``table(name)`` renders a qualified name.

    ``checks`` are table constraints (``CHECK (...)``) a kept target imposes on the staged columns:
    repeated on the stage, a row the target would refuse fails its load, where dirty-data handling
    can set it aside, and not the commit. ``options`` (e.g. DWS ``WITH (...)``) end an owned stage's
    CREATE TABLE, since that stage becomes the target.
    """
    kind = "" if owned else scratch
    cols = [f"{quote_ident(n, q)} {t}{' NOT NULL' if nn else ''}" for n, t, nn in columns]
    pk = [quote_ident(n, q) for n in primary_key]
    if pk:
        cols.append(f"PRIMARY KEY ({', '.join(pk)})")
    cols.extend(checks)
    ledger = table(ledger_name(stage))
    if twin is not None:  # ``twin``: the statement creating the stage as the target's twin (a swap)
        kind = ""
    shape = SWAP if twin is not None else OWNED if owned else KEPT
    return [
        f"DROP TABLE IF EXISTS {table(stage)}",
        f"DROP TABLE IF EXISTS {ledger}",
        twin or f"CREATE {kind}TABLE {table(stage)} ({', '.join(cols)}){options if owned else ''}",
        f"CREATE {kind}TABLE {ledger} (part INTEGER PRIMARY KEY, rows BIGINT NOT NULL)",
        f"INSERT INTO {ledger} (part, rows) VALUES ({MARK}, {shape})",
    ]


def ledger_sql(table: Callable[[str], str], stage: str, shape: int, q: str = '"', options: str = "") -> list[str]:
    """Statements (re)creating only the ledger (a run that writes into the target itself, or into a
    table built aside); ``q`` quotes ``rows`` (reserved in MySQL 8)."""
    ledger, rows = table(ledger_name(stage)), quote_ident("rows", q)
    return [f"DROP TABLE IF EXISTS {ledger}",
            f"CREATE TABLE {ledger} (part INTEGER PRIMARY KEY, {rows} BIGINT NOT NULL){options}",
            f"INSERT INTO {ledger} (part, {rows}) VALUES ({MARK}, {shape})"]


def claim(execute: Callable[[str], Any], query: Callable[[str], list[tuple]], ledger: str, index: int,
          q: str = '"') -> int | None:
    """Inside the load's transaction: take partition ``index``. None: ours to write; else the row
    count an earlier attempt committed. Blocks while another open attempt holds the claim.
    ``q`` = backtick: MySQL (``INSERT IGNORE``, which waits on an uncommitted claim of the same key)."""
    index, rows = int(index), quote_ident("rows", q)
    if q == "`":
        execute(f"INSERT IGNORE INTO {ledger} (part, {rows}) VALUES ({index}, -1)")
    else:
        execute(f"INSERT INTO {ledger} (part, rows) VALUES ({index}, -1) ON CONFLICT (part) DO NOTHING")
    found = int(query(f"SELECT {rows} FROM {ledger} WHERE part = {index}")[0][0])
    return None if found < 0 else found


def record_sql(ledger: str, index: int, rows: int, q: str = '"') -> str:
    """The statement that ends a load: the partition's row count, in the same transaction as its rows."""
    return f"UPDATE {ledger} SET {quote_ident('rows', q)} = {int(rows)} WHERE part = {int(index)}"


def read(rows: Iterable[tuple]) -> tuple[int, dict[int, int]]:
    """``(shape, {partition: rows})`` from the ledger's rows (shape: KEPT, OWNED or SWAP)."""
    loaded = {int(p): int(r) for p, r in rows}
    return loaded.pop(MARK, KEPT), loaded


def drain(items: Iterable[Any]) -> None:
    """Consume a partition already in the stage, so the engine's counters still see its rows."""
    for _ in items:
        pass
