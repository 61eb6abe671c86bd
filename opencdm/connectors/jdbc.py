"""``generic-jdbc-connector``: relational databases, one ``Dialect`` per ``linkConfig.databaseType``.

The flow is the same for every dialect. The extractor reads ``SELECT cols FROM table WHERE
(whereClause) AND <key range>``. The loader writes each partition into a stage table named
from the run id, idempotently per partition, and ``commit`` applies ``tablePreparation``, the
clearing options and the move from stage to target in one transaction, so a failed or killed
run leaves the target as it was (see ``JdbcLoader`` and ``opencdm.connectors.staging``).
"""

from __future__ import annotations

import copy
import importlib
import logging
import re
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from opencdm.connectors import config, register
from opencdm.connectors import staging
from opencdm.connectors.base import (
    Chunk, Connector, ConnectorContext, DirtyRows, Extractor, Inputs, KeyRange, LoadResult, Loader, Partition,
    WholeSource,
)
from opencdm.connectors.partitioning import NoRows, TablePart, allocate, key_ranges, plan_cuts, sample_size
from opencdm.connectors.sql import (
    DIALECT_KEY, PART_COLUMN, PK_KEY, TYPE_KEY, Column, Dialect, create_table_sql, derived_table, extend_char_length,
    match_columns,
    match_tables, primary_key_targets, quote_ident, range_predicate, select_sql, select_statement, stage_name,
    wildcard,
)
from opencdm.errors import CDM_CODES, ExtractFailed, InvalidInput, LinkRejected, LoadFailed



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
    "POSTGRESQL": "opencdm.connectors.postgresql:PostgresDialect", "DWS": "opencdm.connectors.dws:DwsDialect",
    "SQLITE": "opencdm.connectors.sqlite:SqliteDialect", "MYSQL": "opencdm.connectors.mysql:MysqlDialect"})
PREPARATIONS = ("DO_NOTHING", "CREATE_WHEN_NOT_EXIST", "DROP_AND_CREATE")
BEFORE_IMPORT = ("none", "shouldClearTable", "whereClause")
log = logging.getLogger("opencdm.connectors.jdbc")


def dialect_for(link: Inputs, ctx: ConnectorContext) -> Dialect:
    """The dialect named by ``linkConfig.databaseType``; InvalidInput naming the supported ones."""
    config.require(link, "linkConfig.databaseType")
    kind = config.get_str(link, "linkConfig.databaseType").upper()
    if kind not in DIALECTS:
        raise InvalidInput(
            f"Unsupported linkConfig.databaseType [{kind}]. Supported: {', '.join(DIALECTS)}.", code="Cdm.0014"
        )
    return DIALECTS[kind](link, ctx)


def _label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _missing_table(label: str) -> LinkRejected:
    return LinkRejected(CDM_CODES["Cdm.0900"] % label, code="Cdm.0900")


class JdbcExtractor(Extractor):
    """FROM side: one table, every table matching ``*`` patterns, or a custom query (``useSql``).

    ``partitions`` (server side) cuts the key, ``partitionColumn`` or else a one-column primary
    key, into ranges from its MIN/MAX (or ``boundaryQuery``) and a random sample of it (see
    ``opencdm.connectors.partitioning``), plus an ``IS NULL`` range for a nullable key unless
    ``allowNullValueInPartitionColumn`` is false. A table with no usable key is cut on the
    dialect's physical row address (PostgreSQL ``ctid``, SQLite ``rowid``), else read whole. A
    wildcard source plans every matched table on its own and wraps its ranges in ``TablePart``,
    so workers never resolve the patterns again. A custom query is read as a derived table.
    """

    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        super().__init__(link, job, ctx)
        self.dialect = dialect_for(link, ctx)
        self.sql: str | None = None
        if config.get_bool(job, "fromJobConfig.useSql"):
            config.require(job, "fromJobConfig.sql")
            self.sql = select_statement(config.get_str(job, "fromJobConfig.sql"), "fromJobConfig.sql")
        else:
            config.require(job, "fromJobConfig.tableName")
        self.schema_name = config.get_str(job, "fromJobConfig.schemaName")
        self.table_name = config.get_str(job, "fromJobConfig.tableName")
        self.where = config.get_str(job, "fromJobConfig.whereClause")
        self.column_list = config.get_list(job, "fromJobConfig.columnList")
        self.partition_column = config.get_str(job, "fromJobConfig.partitionColumn")
        boundary = config.get_str(job, "fromJobConfig.boundaryQuery")
        self.boundary = select_statement(boundary, "fromJobConfig.boundaryQuery") if boundary else None
        self.allow_nulls = config.get_bool(job, "fromJobConfig.allowNullValueInPartitionColumn", True)
        self.wildcard = self.sql is None and (wildcard(self.schema_name) or wildcard(self.table_name))
        self.label = "fromJobConfig.sql" if self.sql else _label(self.schema_name, self.table_name)
        self._cols: dict[Ref, list[Column]] | None = None  # wildcard matches and their columns (server side)
        self._counts: list[int] | None = None

    # -- what the source is ----------------------------------------------------------------------

    def _refs(self, conn: Any) -> list[Ref]:
        """The tables read (None: the custom query); a wildcard is resolved once per instance."""
        if self.sql is not None:
            return [None]
        if not self.wildcard:
            return [(self.schema_name, self.table_name)]
        if self._cols is None:
            schema = self.schema_name or self.dialect.default_schema(conn)
            refs = match_tables(self.dialect.tables(conn), schema, self.table_name)
            if not refs:
                raise _missing_table(self.label)
            cols = {ref: self._columns(conn, ref) for ref in refs}
            _same_structure(self.label, cols)
            self._cols = cols
        return list(self._cols)

    def _from(self, ref: Ref) -> str:
        return derived_table(self.sql) if ref is None else self.dialect.table(*ref)

    def _name(self, ref: Ref) -> str:
        return self.label if ref is None else _label(*ref)

    def _all_columns(self, conn: Any, ref: Ref) -> list[Column]:
        if ref is not None:
            cols = self.dialect.columns(conn, *ref)
            if cols is None:
                raise _missing_table(_label(*ref))
            return cols
        cols = self.dialect.query_columns(conn, self.sql)
        names = [c.name for c in cols]
        twice = sorted({n for n in names if names.count(n) > 1})
        if not cols or twice:
            raise InvalidInput(f"fromJobConfig.sql must return columns with distinct names; give "
                               f"{', '.join(twice) or 'its columns'} aliases.", code="Cdm.0014")
        return cols

    def _columns(self, conn: Any, ref: Ref) -> list[Column]:
        cols = self._all_columns(conn, ref)
        if not self.column_list:
            return cols
        by_name = {c.name: c for c in cols}
        return [by_name[n] for n in match_columns(self.column_list, list(by_name), self._name(ref))]

    def _schema(self, cols: Sequence[Column]) -> pa.Schema:
        fields = [c.field(self.dialect.name) for c in cols]
        if self.wildcard:  # NOT NULL in one matched table says nothing about the others
            fields = [f.with_nullable(True) for f in fields]
        return pa.schema(fields)

    def schema(self) -> pa.Schema:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            refs = self._refs(conn)
            schema = self._schema(self._columns(conn, refs[0]))
            # a merged source may repeat key values across tables, so no primary key is claimed
            pk = self.dialect.primary_key(conn, *refs[0]) if refs[0] is not None and not self.wildcard else []
        fields = [f.with_metadata({**(f.metadata or {}), PK_KEY: str(pk.index(f.name) + 1).encode()})
                  if f.name in pk else f for f in schema]
        return pa.schema(fields)

    # -- partitions (server side) ----------------------------------------------------------------

    def partitions(self, max_partitions: int) -> list[Partition]:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            refs = self._refs(conn)
            key = self._key_name(conn, refs[0])
            if len(refs) == 1:
                shares = [max_partitions]
            elif max_partitions <= len(refs):
                shares = [1] * len(refs)
            else:
                shares = allocate(self._count(conn, refs), max_partitions)
            parts: list[Partition] = []
            for ref, n in zip(refs, shares):
                planned = self._plan(conn, ref, key, n)
                if self.wildcard:
                    planned = [TablePart(len(parts) + i, ref[0], ref[1], replace(p, index=len(parts) + i))
                               for i, p in enumerate(planned)]
                parts.extend(planned)
        return parts

    def _key_name(self, conn: Any, ref: Ref) -> str | None:
        names = [c.name for c in self._all_columns(conn, ref)]
        if self.partition_column:
            return match_columns([self.partition_column], names, self._name(ref))[0]
        pk = self.dialect.primary_key(conn, *ref) if ref is not None else []
        return pk[0] if len(pk) == 1 else None

    def _plan(self, conn: Any, ref: Ref, key_name: str | None, n: int) -> list[Partition]:
        """Partitions of one table (or of the query), indexed from 0."""
        d = self.dialect
        key = next((c for c in self._all_columns(conn, ref) if c.name == key_name), None)
        if key is not None and not _splittable(key):
            log.warning("%s: cannot split on column %s of type %s; reading it unsplit", self._name(ref), key.name,
                        key.type)
            if key.nullable and not self.allow_nulls:
                return [KeyRange(0, key.name)]  # IS NOT NULL
            key = None
        if key is None:
            physical = d.physical_key(conn, *ref, n) if ref is not None and n > 1 else None
            return key_ranges(physical[0], physical[1]) if physical else [WholeSource(0)]
        nulls = key.nullable and self.allow_nulls
        if self.boundary:
            rows = d.query(conn, self.boundary)
            if len(rows) != 1 or len(rows[0]) < 2:
                raise InvalidInput("fromJobConfig.boundaryQuery must return one row: the smallest and the largest "
                                   "key to read.", code="Cdm.0014")
            lo, hi = rows[0][0], rows[0][1]
            if lo is None and hi is None:  # as Sqoop: no key range at all, only the NULL keys
                return [KeyRange(0, key.name, nulls=True) if nulls else NoRows(0)]
        elif n <= 1:
            return [WholeSource(0) if nulls or not key.nullable else KeyRange(0, key.name)]
        else:
            col = quote_ident(key.name, d.q)
            sql, params = select_sql(self._from(ref), [f"MIN({col})", f"MAX({col})"], self.where, WholeSource(0),
                                     d.q, d.param, d.inline)
            lo, hi = d.query(conn, sql, params)[0]
            if lo is None or hi is None:  # no row, or only NULL keys
                return [WholeSource(0) if nulls or not key.nullable else KeyRange(0, key.name)]
        ends = (lo, hi) if self.boundary else (None, None)  # MIN/MAX ranges stay open-ended
        if n <= 1:
            return key_ranges(key.name, [], *ends, nulls=nulls)
        cond, params = range_predicate(KeyRange(0, key.name, *ends, last=True), d.q, d.param, d.inline)
        cond = f"({self.where}) AND {cond}" if self.where else cond
        sample = d.sample_keys(conn, self._from(ref), quote_ident(key.name, d.q), cond, params, sample_size(n), ref)
        cuts, method = plan_cuts(lo, hi, sample, n, numeric=_NUMERIC.match(key.type) is not None)
        log.info("%s: %d range(s) on %s between %r and %r (%s cuts, %d keys sampled)", self._name(ref),
                 len(cuts) + 1, key.name, lo, hi, method, len(sample))
        return key_ranges(key.name, cuts, *ends, nulls=nulls)

    def _count(self, conn: Any, refs: Sequence[Ref]) -> list[int]:
        if self._counts is None:
            d = self.dialect
            counts = []
            for ref in refs:
                sql, params = select_sql(self._from(ref), ["COUNT(*)"], self.where, WholeSource(0), d.q, d.param)
                counts.append(int(d.query(conn, sql, params)[0][0]))
            self._counts = counts
        return self._counts

    def estimate_rows(self) -> int | None:
        if self.sql is not None:
            return None  # counting would run the whole query once more
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            refs = self._refs(conn)
            if len(refs) == 1 and refs[0] is not None and not self.where:
                estimate = self.dialect.estimated_rows(conn, *refs[0])
                if estimate is not None:
                    return estimate
            return sum(self._count(conn, refs))

    # -- extract (worker side) -------------------------------------------------------------------

    def _select(self, conn: Any, part: Partition) -> tuple[str, list, pa.Schema]:
        """The SELECT reading ``part``, its parameters, and the schema of its rows."""
        ref: Ref
        if isinstance(part, TablePart):
            ref, part = (part.schema, part.table), part.part
        elif self.wildcard:
            raise ExtractFailed(f"Partition {part} names no table of [{self.label}].")
        else:
            ref = self._refs(conn)[0]
        cols = self._columns(conn, ref)
        d = self.dialect
        where = "1 = 0" if isinstance(part, NoRows) else self.where
        sql, params = select_sql(self._from(ref), [d.select_expr(c) for c in cols], where, part, d.q, d.param,
                                 d.inline)
        return sql, params, self._schema(cols)

    def extract(self, part: Partition) -> Iterator[pa.RecordBatch]:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            sql, params, schema = self._select(conn, part)
            yield from self.dialect.read(conn, sql, params, schema)

    def native_format(self) -> str | None:
        return self.dialect.native_format

    def native_stream(self, part: Partition) -> Iterator[Chunk]:
        """What ``extract`` reads, through the dialect's raw reader: the same SELECT, undecoded chunks."""
        raw = copy.copy(self)
        raw.dialect = self.dialect.raw_reader()
        with raw.dialect.connect(ExtractFailed, self.label) as conn:
            sql, params, schema = raw._select(conn, part)
            yield from raw.dialect.read(conn, sql, params, schema)


#: A table of a source as ``(schema, name)``; None stands for the custom query (``useSql``).
Ref = tuple[str | None, str] | None
_NUMERIC = re.compile(r"\s*(numeric|decimal|number)\b", re.I)


def _splittable(col: Column) -> bool:
    """Whether key ranges on ``col`` are sound: compared as declared (not via a text cast), and ordered."""
    t = col.arrow
    return col.expr is None and not (pa.types.is_boolean(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _same_structure(label: str, cols: dict[Ref, list[Column]]) -> None:
    """LinkRejected (Cdm.0931) unless every matched table has the same column names and types."""
    (first, want), *others = cols.items()
    for ref, got in others:
        for i in range(max(len(want), len(got))):
            a = f"{want[i].name} {want[i].type}" if i < len(want) else "nothing"
            b = f"{got[i].name} {got[i].type}" if i < len(got) else "nothing"
            if a != b:
                raise LinkRejected(
                    f"Tables matched by [{label}] must have the same columns: column {i + 1} is [{b}] in "
                    f"[{_label(*ref)}] but [{a}] in [{_label(*first)}].", code="Cdm.0931")


class JdbcLoader(Loader):
    """TO side: each partition into a stage named from the run id, then one atomic move at commit.

    Dialects with ``typed_stage`` stage with the destination's own column types and a ledger of
    loaded partitions (``opencdm.connectors.staging``): when the run owns the target table
    (``DROP_AND_CREATE``, or ``CREATE_WHEN_NOT_EXIST`` on a missing one) the stage is created as the
    final table and ``commit`` renames it, so the rows are written once; otherwise ``commit`` is one
    ``INSERT ... SELECT`` without casts. Other dialects tag stage rows with ``PART_COLUMN``.
    """

    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        super().__init__(link, job, ctx, run_id)
        self.dialect = dialect_for(link, ctx)
        config.require(job, "toJobConfig.tableName")
        self.schema_name = config.get_str(job, "toJobConfig.schemaName")
        self.table_name = config.get_str(job, "toJobConfig.tableName")
        self.column_list = config.get_list(job, "toJobConfig.columnList")
        self.preparation = config.get_enum(job, "toJobConfig.tablePreparation", PREPARATIONS, "DO_NOTHING")
        before = config.get_enum(job, "toJobConfig.beforeImportType", BEFORE_IMPORT, "none")
        self.clear = before == "shouldClearTable" or config.get_bool(job, "toJobConfig.shouldClearTable")
        self.delete_where = config.get_str(job, "toJobConfig.whereClause") if before == "whereClause" else None
        self.copy_not_null = config.get_bool(job, "toJobConfig.useNullable")
        self.extend_chars = config.get_bool(job, "toJobConfig.extendCharLength")
        self.stage = stage_name(run_id)
        self.ledger = staging.ledger_name(self.stage)
        self.label = _label(self.schema_name, self.table_name)
        self.table = self.dialect.table(self.schema_name, self.table_name)
        self._fields: pa.Schema | None = None
        self._native = False

    def _targets(self, schema: pa.Schema) -> list[str]:
        """Target column per source column: toJobConfig.columnList positionally, else the same names."""
        if len(set(schema.names)) != len(schema.names):
            raise InvalidInput(f"Duplicate source columns: {', '.join(schema.names)}.", code="Cdm.0014")
        if not self.column_list:
            return list(schema.names)
        if len(self.column_list) != len(schema.names):
            raise InvalidInput(
                f"toJobConfig.columnList names {len(self.column_list)} columns but the source has "
                f"{len(schema.names)}: {', '.join(schema.names)}.", code="Cdm.0014")
        return list(self.column_list)

    def _final_columns(self, conn: Any, targets: Sequence[str], fields: pa.Schema) -> list[tuple[str, str, bool]]:
        """``(name, type, not null)`` of an auto-created target: the source's types where they fit."""
        d = self.dialect
        cols = [(t, d.ddl_type(conn, f), self.copy_not_null and not f.nullable) for t, f in zip(targets, fields)]
        return [(t, extend_char_length(ty), nn) for t, ty, nn in cols] if self.extend_chars else cols

    def prepare(self, schema: pa.Schema) -> None:
        targets = self._targets(schema)
        d = self.dialect
        with d.connect(LoadFailed, self.label, write=True) as conn:
            cols = d.columns(conn, self.schema_name, self.table_name)
            if cols is None and self.preparation == "DO_NOTHING":
                raise _missing_table(self.label)
            owned = cols is None or self.preparation == "DROP_AND_CREATE"
            names = targets if owned else match_columns(targets, [c.name for c in cols], self.label)
            with d.transaction(conn):
                if not d.typed_stage:
                    d.create_stage(conn, self.schema_name, self.stage, schema)
                else:
                    checks: list[str] = []
                    if owned:
                        pk = primary_key_targets(targets, schema)
                        stage_cols = [(n, t, nn or n in pk) for n, t, nn in self._final_columns(conn, targets, schema)]
                    else:
                        by_name = {c.name: c for c in cols}
                        not_null, checks = d.kept_constraints(conn, self.schema_name, self.table_name, names)
                        stage_cols, pk = [(n, by_name[n].type, n in not_null) for n in names], []
                    deferred = bool(pk) and d.deferred_primary_key
                    for sql in staging.create_sql(lambda n: d.table(self.schema_name, n), d.q, self.stage, stage_cols,
                                                  [] if deferred else pk, owned, d.scratch_table, checks,
                                                  d.table_options(self.job)):
                        d.execute(conn, sql)
                    if deferred:
                        d.defer_primary_key(conn, self.schema_name, self.stage, pk)
                    self._native = d.native_types_ok(conn, schema, self.schema_name, self.stage)
        self._fields = schema

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        if self.dialect.typed_stage:
            rows = self.dialect.load_typed(self.schema_name, self.stage, part.index, batches, dirty)
        else:
            rows = self.dialect.load_stage(self.schema_name, self.stage, part.index, batches)
        return LoadResult(part.index, rows)

    def accepts_native(self, fmt: str) -> bool:
        return self._native and fmt == self.dialect.native_format

    def load_native(self, part: Partition, chunks: Iterable[Chunk]) -> LoadResult:
        return LoadResult(part.index, self.dialect.load_native(self.schema_name, self.stage, part.index, chunks))

    def commit(self, results: Sequence[LoadResult]) -> None:
        latest = {r.index: r.rows for r in results}  # a partition reported twice counts once
        if not self.dialect.typed_stage:
            return self._commit_tagged(latest)
        d = self.dialect
        with d.connect(LoadFailed, self.label, write=True) as conn:
            stage_cols = d.columns(conn, self.schema_name, self.stage)
            if stage_cols is None or d.columns(conn, self.schema_name, self.ledger) is None:
                raise LoadFailed(f"Stage table {self.stage} does not exist: the run was aborted or committed.")
            ledger = d.table(self.schema_name, self.ledger)
            owned, loaded = staging.read(d.query(conn, f"SELECT part, rows FROM {ledger}"))
            if loaded != latest:
                raise LoadFailed(f"The stage holds {sum(loaded.values())} rows of {len(loaded)} partitions, but the "
                                 f"loads reported {sum(latest.values())} rows of {len(latest)}.")
            with d.transaction(conn):
                exists = d.columns(conn, self.schema_name, self.table_name) is not None
                if owned and (self.preparation == "DROP_AND_CREATE" or not exists):
                    d.build_primary_key(conn, self.schema_name, self.stage)
                    if exists:
                        d.execute(conn, f"DROP TABLE {self.table}")
                    d.rename_table(conn, self.schema_name, self.stage, self.table_name)
                else:
                    self._insert(conn, stage_cols, exists)
                    d.execute(conn, f"DROP TABLE {d.table(self.schema_name, self.stage)}")
                d.execute(conn, f"DROP TABLE {ledger}")

    def _insert(self, conn: Any, stage_cols: Sequence[Column], exists: bool) -> None:
        """Inside the commit transaction: clearing options, then the stage's rows into the target."""
        d = self.dialect
        if not exists:  # the target vanished since prepare: create it as auto-create would
            if self.preparation == "DO_NOTHING":
                raise _missing_table(self.label)
            targets = [c.name for c in stage_cols]
            fields = self._fields or pa.schema(
                [pa.field(c.name, c.arrow, c.nullable, {TYPE_KEY: c.type, DIALECT_KEY: d.name}) for c in stage_cols])
            d.execute(conn, create_table_sql(self.table, self._final_columns(conn, targets, fields), d.q,
                                             primary_key_targets(targets, fields), d.table_options(self.job)))
        by_name = {c.name: c for c in d.columns(conn, self.schema_name, self.table_name)}
        dst = [by_name[n] for n in match_columns([c.name for c in stage_cols], list(by_name), self.label)]
        if self.clear:
            d.execute(conn, d.clear_sql(self.table))
        elif self.delete_where:
            d.execute(conn, f"DELETE FROM {self.table} WHERE {self.delete_where}")
        names = ", ".join(quote_ident(c.name, d.q) for c in dst)
        exprs = ", ".join(quote_ident(s.name, d.q) if s.type == t.type else d.cast(quote_ident(s.name, d.q), t)
                          for s, t in zip(stage_cols, dst))
        d.execute(conn, f"INSERT INTO {self.table} ({names}) SELECT {exprs} FROM {d.table(self.schema_name, self.stage)}")

    def _commit_tagged(self, latest: dict[int, int]) -> None:
        """Commit of a ``PART_COLUMN`` stage (dialects without ``typed_stage``)."""
        expected = sum(latest.values())
        parts = ", ".join(str(int(i)) for i in sorted(latest))
        d, q = self.dialect, self.dialect.q
        stage = d.table(self.schema_name, self.stage)
        with d.connect(LoadFailed, self.label, write=True) as conn:
            stage_cols = d.columns(conn, self.schema_name, self.stage)
            if stage_cols is None:
                raise LoadFailed(f"Stage table {self.stage} does not exist: the run was aborted or committed.")
            data_cols = [c for c in stage_cols if c.name != PART_COLUMN]
            fields = self._fields or pa.schema(
                [pa.field(c.name, c.arrow, c.nullable, {TYPE_KEY: c.type, DIALECT_KEY: d.name}) for c in data_cols])
            targets = self._targets(fields)
            with d.transaction(conn):
                exists = d.columns(conn, self.schema_name, self.table_name) is not None
                if exists and self.preparation == "DROP_AND_CREATE":
                    d.execute(conn, f"DROP TABLE {self.table}")
                    exists = False
                if not exists:
                    if self.preparation == "DO_NOTHING":
                        raise _missing_table(self.label)
                    d.execute(conn, create_table_sql(self.table, self._final_columns(conn, targets, fields), q,
                                                     primary_key_targets(targets, fields), d.table_options(self.job)))
                by_name = {c.name: c for c in d.columns(conn, self.schema_name, self.table_name)}
                names = match_columns(targets, list(by_name), self.label)
                if self.clear:
                    d.execute(conn, d.clear_sql(self.table))
                elif self.delete_where:
                    d.execute(conn, f"DELETE FROM {self.table} WHERE {self.delete_where}")
                if parts:
                    self._move(conn, stage, data_cols, [by_name[n] for n in names], parts, expected)
                d.execute(conn, f"DROP TABLE {stage}")

    def _move(self, conn: Any, stage: str, src: Sequence[Column], dst: Sequence[Column], parts: str,
              expected: int) -> None:
        d, q = self.dialect, self.dialect.q
        where = f"{PART_COLUMN} IN ({parts})"
        staged = int(d.query(conn, f"SELECT COUNT(*) FROM {stage} WHERE {where}")[0][0])
        if staged != expected:
            raise LoadFailed(f"Stage holds {staged} rows for partitions [{parts}], but the loads reported {expected}.")
        cols = ", ".join(quote_ident(c.name, q) for c in dst)
        exprs = ", ".join(d.cast(quote_ident(s.name, q), t) for s, t in zip(src, dst))
        d.execute(conn, f"INSERT INTO {self.table} ({cols}) SELECT {exprs} FROM {stage} WHERE {where}")

    def abort(self) -> None:
        self.dialect.drop_stage(self.schema_name, self.stage)
        if self.dialect.typed_stage:
            self.dialect.drop_stage(self.schema_name, self.ledger)


@register
class GenericJdbcConnector(Connector):
    """Relational databases over their native drivers (the CDM name says JDBC; no JVM is involved)."""

    name = "generic-jdbc-connector"

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> None:
        dialect = dialect_for(link, ctx)
        dialect.validate()
        dialect.check()

    def check_job(self, link: Inputs, job: Inputs, direction: str, ctx: ConnectorContext) -> None:
        dialect_for(link, ctx)
        if direction == "from":
            JdbcExtractor(link, job, ctx)  # parses and checks every fromJobConfig input, no I/O
        elif direction == "to":
            config.require(job, "toJobConfig.tableName")
            config.get_enum(job, "toJobConfig.tablePreparation", PREPARATIONS)
            config.get_bool(job, "toJobConfig.shouldClearTable")
            config.get_bool(job, "toJobConfig.useNullable")
            config.get_bool(job, "toJobConfig.extendCharLength")
            if config.get_enum(job, "toJobConfig.beforeImportType", BEFORE_IMPORT) == "whereClause":
                config.require(job, "toJobConfig.whereClause")
        else:
            raise InvalidInput(f"Unknown direction [{direction}]: expected from or to.", code="Cdm.0014")

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return JdbcExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return JdbcLoader(link, job, ctx, run_id)
