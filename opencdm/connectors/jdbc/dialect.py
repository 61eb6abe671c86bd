"""The ``Dialect`` contract the generic JDBC flow drives, the ``linkConfig.databaseType`` registry,
and the helpers every dialect shares."""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from opencdm.connectors.arrow import DIALECT_KEY, TYPE_KEY
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.jdbc.options import JdbcLink, JdbcTo
from opencdm.connectors.jdbc.sqltext import quote_ident
from opencdm.errors import CDM_CODES, CdmError, ExtractFailed, InvalidInput, LinkRejected, LoadFailed


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
    #: ``linkConfig.jdbcProperties`` this dialect acts on; any other is refused (``dialect_for``) ...
    driver_properties: ClassVar[frozenset[str]] = frozenset()
    #: ... unless its value asks for what the dialect always does (lower case), e.g. useUnicode=true.
    equivalent_properties: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, link: Inputs | JdbcLink, ctx: ConnectorContext) -> None:
        self.link = link if isinstance(link, JdbcLink) else JdbcLink.parse(link)
        self.ctx = ctx

    def validate(self) -> None:
        """No I/O: what the link needs beyond ``JdbcLink.parse`` (SQLite: the file's confinement)."""

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

    def foreign_keys(self, conn: Any) -> list[tuple[tuple[str | None, str], tuple[str | None, str]]]:
        """``(referencing table, referenced table)`` pairs of every foreign key the link can see, as
        ``(schema, name)``; used to order the tables of an entire-database job."""
        return []

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

    def row_bytes(self, conn: Any, schema: str | None, table: str) -> int | None:
        """The table's average stored row size in bytes from the catalog's statistics (None: unknown),
        for ``read`` to size its batches by bytes rather than rows."""
        return None

    @abstractmethod
    def read(self, conn: Any, sql: str, params: Sequence[Any], schema: pa.Schema,
             row_bytes: int | None = None) -> Iterator[pa.RecordBatch]:
        """Stream the query's rows as batches of exactly ``schema``; ``row_bytes``: the average row
        size of the table read, where known (``row_bytes``; dialects that bound batches by bytes
        on their own, or by ``fetchSize`` rows, ignore it)."""

    def create_stage(self, conn: Any, schema: str | None, stage: str, fields: pa.Schema) -> None:
        """(Re)create an empty stage table mirroring ``fields`` plus ``PART_COLUMN``: dialects without
        ``typed_stage`` only."""
        raise NotImplementedError(f"{type(self).__name__} stages with typed_stage")

    def drop_stage(self, schema: str | None, stage: str) -> None:
        """Drop the stage if it exists; idempotent."""
        with self.connect(LoadFailed, stage, write=True) as conn, self.transaction(conn):
            self.execute(conn, f"DROP TABLE IF EXISTS {self.table(schema, stage)}")

    def load_stage(self, schema: str | None, stage: str, index: int, batches: Iterable[pa.RecordBatch]) -> int:
        """In one transaction: delete partition ``index`` from the stage, append ``batches``; rows written
        (dialects without ``typed_stage`` only)."""
        raise NotImplementedError(f"{type(self).__name__} stages with typed_stage")

    @abstractmethod
    def ddl_type(self, conn: Any, f: pa.Field) -> str:
        """Column type to auto-create a target column for ``f`` in the database behind ``conn``."""

    def cast(self, expr: str, col: Column) -> str:
        return f"CAST({expr} AS {col.type})"

    def estimated_rows(self, conn: Any, schema: str | None, table: str) -> int | None:
        """A cheap row-count estimate of a whole table (for progress only); None: count instead."""
        return None

    def table_options(self, to: JdbcTo) -> str:
        """Trailing options of a CREATE TABLE this dialect runs for auto-create (" WITH (...)"), from the TO job."""
        return ""

    def clear_sql(self, table: str) -> str:
        return f"DELETE FROM {table}"

    def clear(self, conn: Any, table: str) -> None:
        """Inside the commit transaction: remove every row of ``table`` (``clear_sql`` by default)."""
        self.execute(conn, self.clear_sql(table))

    # -- typed staging (opencdm.connectors.jdbc.staging) and native streams; a dialect opts in --------

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

    def swap_reason(self, conn: Any, schema: str | None, table: str, names: Sequence[str]) -> str | None:
        """None when a kept ``table`` that is cleared can be rebuilt aside and swapped in at commit
        (each row written once); else why not. Default: this database has no such path."""
        return "this database has no rebuild-and-swap path"

    def twin_sql(self, conn: Any, schema: str | None, table: str, stage: str) -> str:
        """The statement creating ``stage`` as ``table``'s empty twin (when ``swap_reason`` is None)."""
        raise NotImplementedError

    def defer_twin_indexes(self, conn: Any, schema: str | None, twin: str) -> None:
        """``builds_aside``: after creating the twin, drop indexes better built once the rows are in."""

    def build_twin_indexes(self, conn: Any, schema: str | None, twin: str, table: str) -> None:
        """``builds_aside``, at commit before the rename: build what ``defer_twin_indexes`` dropped."""

    def swap(self, conn: Any, schema: str | None, stage: str, table: str) -> None:
        """In the commit transaction, ``table`` locked: the twin ``stage`` takes its place, with its
        indexes, constraints, triggers, comments, grants and owner."""
        raise NotImplementedError

    #: True (dialects without transactional DDL): when a run owns its target, or may rebuild a cleared
    #: one (``swap_reason``, ``twin_sql``), partitions write straight into a table built aside
    #: (``load_aside``) that the commit renames into place (``swap_in``).
    builds_aside: ClassVar[bool] = False
    #: Trailing options of the run's ledger table (MySQL: `` ENGINE=InnoDB``, so it is transactional).
    ledger_options: ClassVar[str] = ""

    def load_aside(self, schema: str | None, table: str, ledger: str, index: int,
                   batches: Iterable[pa.RecordBatch]) -> int:
        """Worker side, one transaction (``builds_aside``): claim partition ``index`` in ``ledger``, write
        ``batches`` into ``table``, record the count; rows written (an earlier attempt's count, drained)."""
        raise NotImplementedError

    #: True: the dialect can append through prepared transactions (``two_phase_reason`` and the rest); only
    #: then does a worker look in the ledger for the shape ``prepare`` chose.
    two_phase: ClassVar[bool] = False

    def two_phase_reason(self, conn: Any, schema: str | None, table: str, names: Sequence[str],
                         fields: Any, partitions: int) -> str | None:
        """None when partitions may append straight into the kept ``table`` in prepared transactions
        (``load_prepared``, ``commit_prepared``, ``resolve_prepared``); else why not."""
        return "this database has no two-phase path"

    def two_phase_tables(self, ledger: str) -> list[str]:
        """Statements creating what a two-phase run keeps next to its ledger besides it; none by default."""
        return []

    def resolve_prepared(self, ledger: str, run: str, label: str) -> str | None:
        """Abort of a two-phase run: roll its prepared partitions back (or forward, when the commit had
        decided; then a sentence saying so)."""
        return None

    def is_empty(self, conn: Any, table: str) -> bool:
        return not self.query(conn, f"SELECT 1 FROM {table} LIMIT 1")

    def lock(self, conn: Any, table: str) -> None:
        """In the commit transaction: nobody else reads or writes ``table`` until it ends."""

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

    def reads_native(self, fmt: str) -> bool:
        """Whether ``load_native`` also takes another connector family's raw format (CSV text, say)
        into a typed stage whose columns follow the source's order."""
        return False

    def load_native(self, schema: str | None, stage: str, index: int, chunks: Iterable[Any], fmt: str) -> int:
        """Like ``load_typed``, from one stream (``base.Chunk`` s) of ``native_format`` or of a
        format ``reads_native`` accepted."""
        raise NotImplementedError



class _Dialects(MutableMapping):
    """``databaseType`` -> ``Dialect`` class, like a dict, except that a built-in's module is imported
    on first lookup: a worker that only moves PostgreSQL never loads the MySQL or SQLite code (nor
    the ~10 MiB of pyarrow.compute behind them)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._entries: dict[str, str | type[Dialect]] = dict(paths)

    def __getitem__(self, kind: str) -> type[Dialect]:
        entry = self._entries[kind]
        if isinstance(entry, str):
            module, _, name = entry.partition(":")
            entry = self._entries[kind] = getattr(importlib.import_module(module), name)
        return entry

    def __setitem__(self, kind: str, cls: type[Dialect]) -> None:
        self._entries[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._entries[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


#: ``linkConfig.databaseType`` values we can serve (``module:class``, imported on first use).
DIALECTS: MutableMapping[str, type[Dialect]] = _Dialects({
    "POSTGRESQL": "opencdm.connectors.jdbc.postgresql:PostgresDialect",
    "DWS": "opencdm.connectors.jdbc.postgresql.dws:DwsDialect",
    "SQLITE": "opencdm.connectors.jdbc.sqlite:SqliteDialect",
    "MYSQL": "opencdm.connectors.jdbc.mysql:MysqlDialect"})
log = logging.getLogger("opencdm.connectors.jdbc")


def dialect_for(link: Inputs | JdbcLink, ctx: ConnectorContext) -> Dialect:
    """The dialect named by ``linkConfig.databaseType``; InvalidInput naming the supported ones."""
    parsed = link if isinstance(link, JdbcLink) else JdbcLink.parse(link)
    dialect = DIALECTS[parsed.database_type]
    for name, value in parsed.properties.items():  # a property no driver acts on would be silently ignored
        if name not in dialect.driver_properties and \
                str(value).strip().lower() not in dialect.equivalent_properties.get(name, ()):
            known = sorted([*dialect.driver_properties,
                            *(f"{k}={'|'.join(v)}" for k, v in dialect.equivalent_properties.items())])
            raise InvalidInput(f"linkConfig.jdbcProperties [{name}] means nothing to opencdm's {parsed.database_type} "
                               f"driver; it understands: {', '.join(known) or 'none'}.", code="Cdm.0014")
    return dialect(parsed, ctx)


def _label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _missing_table(label: str) -> LinkRejected:
    return LinkRejected(CDM_CODES["Cdm.0900"] % label, code="Cdm.0900")
