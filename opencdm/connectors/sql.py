"""Shared SQL for the JDBC dialects: quoting, key-range partitioning, bounded SELECTs, staging, DDL.

Everything here is pure (no I/O) so it can be unit-tested without a database. The
``Dialect`` contract the generic flow in ``opencdm.connectors.jdbc`` drives lives here too.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from opencdm.connectors.base import ConnectorContext, Inputs, KeyRange, Partition, WholeSource
from opencdm.errors import CdmError, InvalidInput, LoadFailed

#: Hidden stage column tagging each row with the index of the partition that wrote it.
PART_COLUMN = "_opencdm_part"
#: Field metadata: the source's declared column type, and the dialect that declared it.
TYPE_KEY, DIALECT_KEY = b"opencdm.type", b"opencdm.dialect"
#: Field metadata: the column's 1-based position in the source's primary key (kept on auto-create).
PK_KEY = b"opencdm.pk"


def quote_ident(name: str, q: str = '"') -> str:
    """``name`` as a quoted identifier; embedded quote characters are doubled."""
    return q + name.replace(q, q + q) + q


def split_range(lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    """Split the inclusive integer range [lo, hi] into at most ``n`` contiguous, non-empty pieces.

    Each piece is ``(start, stop)`` meaning ``start <= key < stop``, except the last, which is
    ``start <= key <= stop``. Pieces differ in width by at most one.
    """
    if hi < lo:
        raise ValueError(f"empty range [{lo}, {hi}]")
    n = max(1, min(n, hi - lo + 1))
    width = hi - lo + 1
    bounds = [lo + (width * i) // n for i in range(n)] + [hi]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def key_partitions(column: str, lo: Any, hi: Any, max_partitions: int, nullable: bool) -> list[Partition]:
    """Partitions covering every row once, given the key's min/max (None when it has no non-null value).

    Up to ``max_partitions`` key ranges, plus one ``IS NULL`` partition when the key is nullable.
    """
    if lo is None or hi is None or max_partitions <= 1:
        return [WholeSource(0)]
    parts: list[Partition] = []
    pieces = split_range(int(lo), int(hi), max_partitions)
    for i, (start, stop) in enumerate(pieces):
        parts.append(KeyRange(i, column, start, stop, last=i == len(pieces) - 1))
    if nullable:
        parts.append(KeyRange(len(parts), column, nulls=True))
    return parts


def _no_inline(value: Any) -> str | None:
    return None


def range_predicate(
    part: Partition, q: str, param: Callable[[int], str], inline: Callable[[Any], str | None] = _no_inline,
) -> tuple[str, list]:
    """SQL condition selecting ``part``, and its parameters.

    ``param(i)`` renders the i-th placeholder. ``inline(value)`` may instead return a literal for
    a value of a type that cannot carry SQL (a dialect uses it for plain ``int`` bounds, because
    PostgreSQL's binary ``COPY (query) TO STDOUT`` cannot take parameters).
    """
    if not isinstance(part, KeyRange):
        return "", []
    col = quote_ident(part.column, q)
    if part.nulls:
        return f"{col} IS NULL", []
    params: list = []

    def bind(value: Any) -> str:
        literal = inline(value)
        if literal is not None:
            return literal
        params.append(value)
        return param(len(params))

    op = "<=" if part.last else "<"
    return f"{col} >= {bind(part.lo)} AND {col} {op} {bind(part.hi)}", params


def int_literal(value: Any) -> str | None:
    """A literal for an exact ``int`` (never a bool, str or anything user-shaped); else None."""
    return str(value) if type(value) is int else None


def select_sql(
    table: str, exprs: Sequence[str], where: str | None, part: Partition, q: str,
    param: Callable[[int], str], inline: Callable[[Any], str | None] = _no_inline,
) -> tuple[str, list]:
    """``SELECT exprs FROM table WHERE (where) AND <part's range>`` and its parameters."""
    conds: list[str] = []
    if where:
        conds.append(f"({where})")
    pred, params = range_predicate(part, q, param, inline)
    if pred:
        conds.append(pred)
    sql = f"SELECT {', '.join(exprs)} FROM {table}"
    return (sql + " WHERE " + " AND ".join(conds) if conds else sql), params


def stage_name(run_id: str) -> str:
    """Stage table name derived only from ``run_id`` (so ``abort`` works after a crash); <= 63 chars."""
    safe = re.sub(r"[^a-z0-9_]", "_", run_id.lower())
    if len(safe) > 40 or safe != run_id:
        safe = safe[:30] + "_" + hashlib.sha1(run_id.encode()).hexdigest()[:10]
    return f"opencdm_stage_{safe}"


def match_columns(wanted: Sequence[str], available: Sequence[str], table: str) -> list[str]:
    """Resolve ``wanted`` names against a table's columns: exact match first, then case-insensitive."""
    out = []
    for name in wanted:
        if name in available:
            out.append(name)
            continue
        hits = [a for a in available if a.lower() == name.lower()]
        if len(hits) != 1:
            raise InvalidInput(f"Column [{name}] does not exist in table [{table}].", code="Cdm.0014")
        out.append(hits[0])
    return out


def plain_type(t: pa.DataType) -> pa.DataType:
    """Storage type for extension types; dictionaries decoded; nulls as strings."""
    if isinstance(t, pa.ExtensionType):
        return plain_type(t.storage_type)
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_null(t):
        return pa.string()
    return t


def plain_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """``arr`` as ``target``: unwrap extension storage, then cast when the types still differ."""
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    return arr if arr.type == target else arr.cast(target)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema`` (names, types and field metadata)."""
    cols = [plain_array(batch.column(i), f.type) for i, f in enumerate(schema)]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def field_type(f: pa.Field) -> str | None:
    meta = f.metadata or {}
    return meta[TYPE_KEY].decode() if TYPE_KEY in meta else None


def field_dialect(f: pa.Field) -> str | None:
    meta = f.metadata or {}
    return meta[DIALECT_KEY].decode() if DIALECT_KEY in meta else None


def create_table_sql(table: str, columns: Iterable[tuple[str, str, bool]], q: str,
                     primary_key: Sequence[str] = ()) -> str:
    """``CREATE TABLE table (...)`` from ``(name, sql type, not null)`` triples, with an optional primary key."""
    cols = [f"{quote_ident(n, q)} {t}{' NOT NULL' if nn else ''}".rstrip() for n, t, nn in columns]
    if primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(n, q) for n in primary_key)})")
    return f"CREATE TABLE {table} ({', '.join(cols)})"


def primary_key_targets(targets: Sequence[str], fields: pa.Schema) -> list[str]:
    """Target names of the source's primary-key columns in key order; empty unless all of them are mapped."""
    marked = [(int((f.metadata or {})[PK_KEY]), t) for t, f in zip(targets, fields) if PK_KEY in (f.metadata or {})]
    total = {int((f.metadata or {}).get(PK_KEY, 0)) for f in fields} - {0}
    return [t for _, t in sorted(marked)] if marked and len(marked) == len(total) else []


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

    def reader(self, schema: pa.Schema) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(schema, iter(self))

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


def with_part(batch: pa.RecordBatch, index: int) -> pa.RecordBatch:
    """``batch`` plus the ``PART_COLUMN`` holding ``index`` on every row."""
    part = pa.nulls(batch.num_rows, pa.int32()).fill_null(index)
    return pa.RecordBatch.from_arrays([*batch.columns, part], names=[*batch.schema.names, PART_COLUMN])


@dataclass(frozen=True)
class Column:
    """One column of a table as the database declares it, with the Arrow type we read it as."""

    name: str
    type: str
    nullable: bool
    arrow: pa.DataType
    #: SELECT expression reading the column as ``arrow`` (e.g. a cast to text); None: the column itself.
    expr: str | None = None

    def field(self, dialect: str) -> pa.Field:
        meta = {TYPE_KEY: self.type.encode(), DIALECT_KEY: dialect.encode()}
        return pa.field(self.name, self.arrow, self.nullable, metadata=meta)


class Dialect(ABC):
    """What the generic JDBC flow (``opencdm.connectors.jdbc``) needs from one database type.

    One instance per link and side; holds inputs only and opens connections per call. Every
    driver exception is translated into the ``opencdm.errors`` tree inside ``connect``.
    """

    name: ClassVar[str]
    q: ClassVar[str] = '"'

    def __init__(self, link: Inputs, ctx: ConnectorContext) -> None:
        self.link = link
        self.ctx = ctx

    @abstractmethod
    def validate(self) -> None:
        """No I/O: raise InvalidInput for missing or malformed link inputs."""

    @abstractmethod
    def check(self) -> None:
        """Connect and authenticate, or raise a LinkError."""

    @abstractmethod
    def connect(self, failure: type[CdmError], table: str | None = None, write: bool = False
                ) -> AbstractContextManager[Any]:
        """A connection; driver errors in the block become ``failure`` (or a LinkError)."""

    @abstractmethod
    def transaction(self, conn: Any) -> AbstractContextManager[None]:
        """Commit at the end of the block, roll back on error."""

    @abstractmethod
    def param(self, i: int) -> str: ...

    def inline(self, value: Any) -> str | None:
        """Literal for a bound value the dialect prefers inlined (see ``range_predicate``); else None."""
        return None

    def table(self, schema: str | None, name: str) -> str:
        return f"{quote_ident(schema, self.q)}.{quote_ident(name, self.q)}" if schema else quote_ident(name, self.q)

    @abstractmethod
    def columns(self, conn: Any, schema: str | None, table: str) -> list[Column] | None:
        """The table's columns in order, or None when the table does not exist."""

    @abstractmethod
    def primary_key(self, conn: Any, schema: str | None, table: str) -> list[str]: ...

    @abstractmethod
    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def execute(self, conn: Any, sql: str) -> None: ...

    def select_expr(self, col: Column) -> str:
        return col.expr or quote_ident(col.name, self.q)

    @abstractmethod
    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """Stream the query's rows as batches of exactly ``schema``."""

    @abstractmethod
    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        """(Re)create an empty stage table mirroring ``fields`` plus ``PART_COLUMN``."""

    def drop_stage(self, schema: str | None, stage: str) -> None:
        """Drop the stage if it exists; idempotent."""
        with self.connect(LoadFailed, stage, write=True) as conn, self.transaction(conn):
            self.execute(conn, f"DROP TABLE IF EXISTS {self.table(schema, stage)}")

    @abstractmethod
    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        """In one transaction: delete partition ``index`` from the stage, append ``batches``; rows written."""

    @abstractmethod
    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        """Column type to auto-create a target column for ``f`` in the database behind ``conn``."""

    def cast(self, expr: str, col: Column) -> str:
        return f"CAST({expr} AS {col.type})"

    def clear_sql(self, table: str) -> str:
        return f"DELETE FROM {table}"
