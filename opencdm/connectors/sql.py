"""Shared SQL for the JDBC dialects: quoting, key-range partitioning, bounded SELECTs, staging, DDL.

Everything here is pure (no I/O) so it can be unit-tested without a database. The
``Dialect`` contract the generic flow in ``opencdm.connectors.jdbc`` drives lives here too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import pyarrow as pa

from opencdm.connectors.base import ConnectorContext, Inputs, KeyRange, Partition, WholeSource
from opencdm.errors import CDM_CODES, CdmError, ExtractFailed, InvalidInput, LoadFailed

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
    """SQL condition selecting ``part``, and its parameters (a ``None`` bound leaves that end open).

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

    conds = []
    if part.lo is not None:
        conds.append(f"{col} >= {bind(part.lo)}")
    if part.hi is not None:
        conds.append(f"{col} {'<=' if part.last else '<'} {bind(part.hi)}")
    return " AND ".join(conds) or f"{col} IS NOT NULL", params


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
        conds.append(where_group(where))
    pred, params = range_predicate(part, q, param, inline)
    if pred:
        conds.append(pred)
    sql = f"SELECT {', '.join(exprs)} FROM {table}"
    return (sql + " WHERE " + " AND ".join(conds) if conds else sql), params


_WORD = re.compile(r"[0-9A-Za-z_\x80-\U0010ffff][0-9A-Za-z_$\x80-\U0010ffff]*")  # a name or a number
_DOLLAR = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][0-9A-Za-z_\x80-\U0010ffff]*)?\$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLOCK = re.compile(r"/\*|\*/")
_LINE_END = {True: re.compile(r"[\r\n]"), False: re.compile(r"\n")}


def sql_code(sql: str, dialect: str = "postgresql") -> str:
    """``sql`` with its string literals, quoted identifiers and comments blanked out (same length), lexed
    as the ``dialect``'s server does (``mysql``, ``sqlite``; any other name: PostgreSQL). ValueError for
    unterminated quotes or comments, control characters, and what servers lex differently by version or
    setting: a backslash right before a closing quote (an escape under MySQL's default sql_mode or in a
    PostgreSQL E'' string, a character otherwise), MySQL ``/*! */`` and nested comments, a PostgreSQL
    ``$`` right after a number, SQLite parameters (``$x(...)`` may hold any text)."""
    my, lite = dialect == "mysql", dialect == "sqlite"
    pg = not (my or lite)
    if m := _CONTROL.search(sql):
        raise ValueError(f"contains the control character U+{ord(m.group(0)):04X}")
    out, i, n = [], 0, len(sql)
    while i < n:
        c, start = sql[i], i
        if c in "'\"`" or c == "[" and lite:
            close, j = "]" if c == "[" else c, i + 1
            slashes = c == "'" and not lite or c == '"' and my  # the server may read backslash escapes
            while True:
                k = sql.find(close, j)
                if k < 0:
                    raise ValueError(f"has an unterminated {c} quote")
                if slashes and (k - j - len(sql[j:k].rstrip("\\"))) % 2:
                    raise ValueError("has a backslash right before a closing quote (an escape or not, depending "
                                     "on server settings)")
                if close == "]" or sql[k + 1:k + 2] != close:
                    break
                j = k + 2  # a doubled quote
            i = k + 1
        elif sql.startswith("/*", i):
            if my and (sql[i + 2:i + 3] == "!" or sql[i + 2:i + 4] == "M!"):
                raise ValueError("has a MySQL executable comment (/*! ... */)")
            depth, i = 1, i + 2
            while depth:  # PostgreSQL nests block comments; MySQL and SQLite end at the first */
                if (m := _BLOCK.search(sql, i)) is None:
                    raise ValueError("has an unterminated /* comment")
                if m.group(0) == "/*" and my:
                    raise ValueError("has a nested /* comment")
                depth += (1 if pg else 0) if m.group(0) == "/*" else -1
                i = m.end() if pg or m.group(0) == "*/" else m.start() + 1
        elif sql.startswith("--", i) and not (my and sql[i + 2:i + 3] not in ("", " ", "\t", "\r", "\n")) \
                or c == "#" and my:  # MySQL: "--" starts a comment only before a blank
            m = _LINE_END[pg].search(sql, i)
            i = m.start() if m else n
        elif c == "$" and pg and (m := _DOLLAR.match(sql, i)):
            if (k := sql.find(m.group(0), m.end())) < 0:
                raise ValueError("has an unterminated $$ quote")
            i = k + len(m.group(0))
        else:
            if m := _WORD.match(sql, i):
                if pg and m.group(0)[0].isdigit() and "$" in m.group(0):
                    raise ValueError(f"has a '$' right after a number ({m.group(0)})")
                i = m.end()
            elif lite and c in "$@:#?":
                raise ValueError(f"has a parameter ({c}...), which SQLite reads with any text after it")
            else:
                i += 1
            out.append(sql[start:i])
            continue
        out.append(" " * (i - start))
    return "".join(out)


def sql_input(sql: str | None, name: str, dialect: str = "postgresql", statement: bool = False) -> str | None:
    """The one check of SQL a user supplies (``whereClause`` of either side, ``sql``, ``boundaryQuery``):
    the text, stripped (None when empty), or InvalidInput (Cdm.0014) naming the input ``name``.

    A condition must be one expression: no ``;``, balanced parentheses, nothing unterminated or lexed
    differently by different servers (``sql_code``), so that wrapped by ``where_group`` it can neither
    end the statement nor leave its parentheses. A ``statement`` must be one SELECT (or WITH ... SELECT);
    trailing ``;`` are removed. Run by ``check_job`` and again where the extractor or loader reads the
    input, so a stored job cannot skip it; the dialects' ``query`` refuses a second statement anyway."""
    text = (sql or "").strip()
    if not text and not statement:
        return None
    try:
        code = sql_code(text, dialect)
    except ValueError as exc:
        raise InvalidInput(f"{name} {exc}.", code="Cdm.0014") from None
    what = "a single SELECT statement" if statement else "a single condition"
    if statement:
        while code.rstrip().endswith(";"):
            code = code.rstrip()[:-1]
        text = text[:len(code)].rstrip()
        m = re.match(r"[\s(]*([A-Za-z]+)", code)
        word = m.group(1).upper() if m else ""
        if word not in ("SELECT", "WITH"):
            raise InvalidInput(f"{name} must be a SELECT statement, not [{word or text[:30]}].", code="Cdm.0014")
    if ";" in code:
        raise InvalidInput(f"{name} must be {what} (it contains ';').", code="Cdm.0014")
    if min(itertools.accumulate((ch == "(") - (ch == ")") for ch in code), default=0) < 0 \
            or code.count("(") != code.count(")"):
        raise InvalidInput(f"{name} must be {what} with balanced parentheses.", code="Cdm.0014")
    return text


def select_statement(sql: str | None, name: str, dialect: str = "postgresql") -> str:
    """``sql`` if it is one ``SELECT`` (or ``WITH ... SELECT``) statement, trailing ``;`` removed
    (``sql_input``). The extractor also only ever runs it as a derived table (``derived_table``), on a
    read-only connection where the dialect offers one, which no data-modifying statement survives."""
    return sql_input(sql, name, dialect, statement=True)


def where_group(condition: str) -> str:
    """A validated condition (``sql_input``) in parentheses; a newline first ends a trailing comment."""
    return f"({condition}\n)" if "--" in condition or "#" in condition else f"({condition})"


def derived_table(sql: str, alias: str = "q") -> str:
    """A validated query as a FROM item; the newline ends any trailing ``--`` comment."""
    return f"({sql}\n) AS {alias}"


def wildcard(pattern: str | None) -> bool:
    return "*" in (pattern or "")


def match_tables(tables: Iterable[tuple[str | None, str]], schema: str | None, table: str,
                 exclude_prefix: str = "opencdm_stage_") -> list[tuple[str | None, str]]:
    """The ``(schema, name)`` pairs matching ``schema``/``table`` patterns (``*``: any run of characters), sorted.

    Case-sensitive first; when nothing matches, case-insensitive (``ORDERS*`` finds ``orders_1``).
    Tables without a schema (SQLite) match any schema pattern; opencdm's own stage tables never match.
    """
    def regex(pattern: str, flags: int) -> re.Pattern:
        return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), flags)

    pool = sorted({(s, t) for s, t in tables if not t.startswith(exclude_prefix)}, key=lambda st: (st[0] or "", st[1]))
    for flags in (0, re.I):
        rs, rt = regex(schema or "*", flags), regex(table, flags)
        hits = [(s, t) for s, t in pool if rt.fullmatch(t) and (s is None or rs.fullmatch(s))]
        if hits:
            return hits
    return []


def sql_literal(value: Any) -> str | None:
    """An SQL literal for a bound of a key range, or None when the value should be a parameter.

    Exact ints and finite floats become numbers; decimals, non-finite floats, dates, times and
    timestamps become quoted text that the database coerces to the compared column's type.
    Strings and bytes return None: quoting them safely is the dialect's business.
    """
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if math.isfinite(value):
            return repr(value)
        text = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        return None
    return f"'{text}'"


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
                     primary_key: Sequence[str] = (), options: str = "") -> str:
    """``CREATE TABLE table (...)`` from ``(name, sql type, not null)`` triples, with an optional primary key
    and trailing table options (``options`` starts with a space)."""
    cols = [f"{quote_ident(n, q)} {t}{' NOT NULL' if nn else ''}".rstrip() for n, t, nn in columns]
    if primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(n, q) for n in primary_key)})")
    return f"CREATE TABLE {table} ({', '.join(cols)}){options}"


_CHAR_TYPE = re.compile(
    r"^\s*((?:national\s+)?(?:var)?char(?:acter)?(?:\s+varying)?|n?varchar2?)\s*\(\s*(\d+)\s*\)", re.I)


def extend_char_length(sql_type: str, factor: int = 3) -> str:
    """``toJobConfig.extendCharLength``: ``varchar(20)`` -> ``varchar(60)``; any other type unchanged."""
    return _CHAR_TYPE.sub(lambda m: f"{m.group(1)}({int(m.group(2)) * factor})", sql_type, count=1)


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


@dataclass(frozen=True)
class Column:
    """One column of a table as the database declares it, with the Arrow type we read it as."""

    name: str
    type: str
    nullable: bool
    arrow: pa.DataType | None  # None: a type the dialect cannot read (``field`` raises Cdm.0921)
    #: SELECT expression reading the column as ``arrow`` (e.g. a cast to text); None: the column itself.
    expr: str | None = None

    def field(self, dialect: str) -> pa.Field:
        if self.arrow is None:  # a type the dialect cannot read: fail before anything moves
            raise ExtractFailed(CDM_CODES["Cdm.0921"] % f"{self.type} (column [{self.name}])", code="Cdm.0921")
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
    def query(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of ``sql``, which must run as one statement: a second one fails the call, unrun."""

    @abstractmethod
    def execute(self, conn: Any, sql: str) -> None:
        """Run ``sql`` as one statement (see ``query``)."""

    def select_expr(self, col: Column) -> str:
        return col.expr or quote_ident(col.name, self.q)

    # -- FROM side beyond one named table (wildcards, custom SQL, sampling); see JdbcExtractor --

    #: SQL call returning a random number, for ``ORDER BY <it> LIMIT n`` samples (MySQL: ``RAND()``).
    random_function: ClassVar[str] = "random()"

    def default_schema(self, conn: Any) -> str | None:
        """The schema an unqualified table name resolves to; None for dialects without schemas."""
        return None

    def tables(self, conn: Any) -> list[tuple[str | None, str]]:
        """Every table and view the link may read, as ``(schema, name)`` (schema None when the
        dialect has none), without system catalogs and without partitions of partitioned tables
        (their parent already returns their rows). Used to resolve ``*`` patterns."""
        raise InvalidInput(f"Table name wildcards are not supported for {self.name}.", code="Cdm.0014")

    def query_columns(self, conn: Any, sql: str) -> list[Column]:
        """The result columns of one validated SELECT ``sql`` (see ``select_statement``), in order,
        without reading its rows (a dialect that must look at values may read a few). Nullable."""
        raise InvalidInput(f"fromJobConfig.useSql is not supported for {self.name}.", code="Cdm.0014")

    def sample_keys(self, conn: Any, source: str, key: str, cond: str, params: Sequence[Any], n: int,
                    table: tuple[str | None, str] | None = None) -> list:
        """About ``n`` values of ``key`` (a quoted column) drawn at random from the rows of ``source``
        (a FROM item) satisfying ``cond`` (which excludes NULL keys), returned sorted by the
        database (``ORDER BY``), so callers never compare values in Python. ``table`` names
        ``source`` when it is a plain table, so a dialect may sample pages instead of scanning.
        Server side; must stay cheap on big tables where the dialect can make it so."""
        sql = (f"SELECT k FROM (SELECT {key} AS k FROM {source} WHERE {cond} ORDER BY {self.random_function} "
               f"LIMIT {int(n)}) s ORDER BY k")
        return [r[0] for r in self.query(conn, sql, params)]

    def physical_key(self, conn: Any, schema: str | None, table: str, n: int) -> tuple[str, list] | None:
        """For a table with no usable key: a hidden column that is never NULL (PostgreSQL ``ctid``,
        SQLite ``rowid``) and up to ``n - 1`` increasing cuts splitting the table into about
        equal pieces of storage; None when the dialect or this table (a view) has none."""
        return None

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

    def estimated_rows(self, conn: Any, schema: str | None, table: str) -> int | None:
        """A cheap row-count estimate of a whole table (for progress only); None: count instead."""
        return None

    def table_options(self, job: Mapping[str, Any]) -> str:
        """Trailing options of a CREATE TABLE this dialect runs for auto-create (" WITH (...)"), from the TO job."""
        return ""

    def clear_sql(self, table: str) -> str:
        return f"DELETE FROM {table}"

    # -- typed staging (opencdm.connectors.staging) and native streams; a dialect opts in --------

    #: True: the dialect implements ``load_typed`` and can drop and rename tables inside a
    #: transaction, so the loader stages with the destination's own types (see ``staging``).
    #: False: the ``PART_COLUMN`` stage of ``create_stage``/``load_stage``.
    typed_stage: ClassVar[bool] = False
    #: ``CREATE <this>TABLE`` for a stage that will not become the target (PostgreSQL ``"UNLOGGED "``).
    scratch_table: ClassVar[str] = ""
    #: The raw format ``raw_reader().read`` yields and ``load_native`` takes; None: batches only.
    native_format: ClassVar[str | None] = None
    #: False when DDL commits on its own (MySQL): a new target is then built aside and renamed in.
    transactional_ddl: ClassVar[bool] = True
    #: True: an owned stage gets its primary key at commit (``build_primary_key``), after the rows
    #: are in, which is faster than maintaining the index during the load.
    deferred_primary_key: ClassVar[bool] = False

    def load_typed(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch],
                   dirty: Any = None) -> int:
        """Worker side, one transaction: claim partition ``index`` in the ledger (``staging.claim``),
        append ``batches`` converted to the stage's column types, record the count; rows written.
        A partition the ledger already holds is drained, not written, and its count returned."""
        raise NotImplementedError

    def kept_constraints(self, conn: Any, schema: str | None, table: str, columns: Sequence[str]
                         ) -> tuple[set[str], list[str]]:
        """The NOT NULL columns among ``columns`` of an existing target, and its CHECK constraints
        that involve only them (as ``CHECK (...)`` clauses), for a kept stage; none by default."""
        return set(), []

    def defer_primary_key(self, conn: Any, schema: str | None, stage: str, columns: Sequence[str]) -> None:
        """Server side, in ``prepare``: remember the stage's primary key (``deferred_primary_key``)."""
        raise NotImplementedError

    def build_primary_key(self, conn: Any, schema: str | None, stage: str) -> None:
        """In the commit transaction, before the stage becomes the target: add the remembered key."""

    def swap_in(self, conn: Any, schema: str | None, new: str, target: str, exists: bool) -> None:
        """Dialects without transactional DDL: make table ``new`` the ``target`` in one atomic step
        (dropping the old ``target`` when ``exists``)."""
        raise NotImplementedError(f"{type(self).__name__} has transactional DDL; swap_in is not used")

    def rename_table(self, conn: Any, schema: str | None, old: str, new: str) -> None:
        """Inside the commit transaction: ``old`` becomes ``new`` (no table named ``new`` exists)."""
        self.execute(conn, f"ALTER TABLE {self.table(schema, old)} RENAME TO {quote_ident(new, self.q)}")

    def native_types_ok(self, conn: Any, fields: pa.Schema, schema: str | None, stage: str) -> bool:
        """Server side: can a ``native_format`` stream of ``fields`` go byte for byte into the stage's
        columns? Only when each source type is the stage column's type and means the same bytes."""
        return False

    def raw_reader(self) -> Dialect:
        """This dialect reading for a native stream: same ``connect``/``query`` contract, but ``read``
        yields ``base.Chunk`` s of ``native_format`` instead of batches (worker side)."""
        raise NotImplementedError

    def load_native(self, schema: str | None, stage: str, index: int, chunks: Iterable[Any]) -> int:
        """Like ``load_typed``, from one ``native_format`` stream (``base.Chunk`` s)."""
        raise NotImplementedError
