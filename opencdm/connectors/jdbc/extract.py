"""FROM side of ``generic-jdbc-connector``: tables, wildcards or custom SQL, split into partitions."""

from __future__ import annotations

import copy
import re
from datetime import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import PK_KEY
from opencdm.connectors.base import (
    Chunk, ConnectorContext, DirtyRows, Extractor, Inputs, KeyRange, Partition, WholeSource,
)
from opencdm.connectors.jdbc.dialect import Column, _label, _missing_table, dialect_for, log
from opencdm.connectors.jdbc.options import JdbcFrom
from opencdm.connectors.jdbc.sqltext import (
    derived_table, match_columns, match_tables, quote_ident, range_predicate, select_sql, where_group, wildcard
)
from opencdm.connectors.partitioning import NoRows, TablePart, Window, allocate, key_ranges, plan_cuts, sample_size
from opencdm.errors import ExtractFailed, InvalidInput, LinkRejected


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
        self.options = options = JdbcFrom.parse(job, self.dialect.link)
        self.sql = options.sql
        self.schema_name, self.table_name = options.schema_name, options.table_name
        self.where, self.column_list = options.where, list(options.column_list)
        self.partition_column, self.boundary = options.partition_column, options.boundary
        self.allow_nulls = options.allow_nulls
        self.wildcard = self.sql is None and (wildcard(self.schema_name) or wildcard(self.table_name))
        self.label = "fromJobConfig.sql" if self.sql else _label(self.schema_name, self.table_name)
        self._cols: dict[Ref, list[Column]] | None = None  # wildcard matches and their columns (server side)
        self._counts: list[int] | None = None
        self.check_column = options.check_column
        self._last: str | None = options.last_value  # incremental: read after this value of check_column

    # -- incremental reads (fromJobConfig.checkColumn) ---------------------------------------------
    #
    # A run reads the rows whose check column is above the last value a committed run read (kept by the
    # engine as this source's position) and at most the largest value when the run started; that value
    # becomes the position once the destination committed. A failed run stores nothing: read again.

    def stream_source(self) -> str | None:
        return f"incremental:{self.check_column}" if self.check_column else None

    def resume(self, positions: Mapping[str, Any], own: bool) -> None:
        if positions.get("last") is not None:
            self._last = str(positions["last"])

    def position(self, part: Partition) -> Mapping[str, Any] | None:
        return {"last": part.upper} if isinstance(part, Window) and part.upper is not None else None

    def _window(self, conn: Any, ref: Ref) -> tuple[str, str | None]:
        """This run's window on the check column, as SQL, and the largest value in it (None: no new rows)."""
        d = self.dialect
        cols = self._all_columns(conn, ref)
        name = match_columns([self.check_column], [c.name for c in cols], self._name(ref))[0]
        col = next(c for c in cols if c.name == name)
        t = col.arrow
        if not (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)):
            raise InvalidInput(f"fromJobConfig.checkColumn [{col.name}] must be a number, date or timestamp column, "
                               f"not {col.type}.", code="Cdm.0014")
        q = quote_ident(col.name, d.q)
        after = f"{q} > '{self._last}'" if self._last is not None else f"{q} IS NOT NULL"
        where = f"{where_group(self.where)} AND {after}" if self.where else after
        sql, params = select_sql(self._from(ref), [f"MAX({q})"], where, WholeSource(0), d.q, d.param, d.inline)
        upper = d.query(conn, sql, params)[0][0]
        if upper is None:
            return "1 = 0", None
        text = upper.isoformat(sep=" ") if isinstance(upper, datetime) else str(upper)  # a date: yyyy-mm-dd
        return f"{where} AND {q} <= '{text}'", text

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
        if self.check_column:
            if self.wildcard:
                raise InvalidInput("fromJobConfig.checkColumn reads one table or query, not a pattern.",
                                   code="Cdm.0014")
            with self.dialect.connect(ExtractFailed, self.label) as conn:
                where, upper = self._window(conn, self._refs(conn)[0])
            if upper is None:
                return [Window(0, where, None, NoRows(0))]
            planned = copy.copy(self)
            planned.where, planned.check_column = where, None
            return [Window(p.index, where, upper, p) for p in planned.partitions(max_partitions)]
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
        cond = f"{where_group(self.where)} AND {cond}" if self.where else cond
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

    def _select(self, conn: Any, part: Partition) -> tuple[str, list, pa.Schema, Ref]:
        """The SELECT reading ``part``, its parameters, the schema of its rows and the table read."""
        ref: Ref
        where = self.where
        if isinstance(part, Window):
            where, part = part.where, part.part
        if isinstance(part, TablePart):
            ref, part = (part.schema, part.table), part.part
        elif self.wildcard:
            raise ExtractFailed(f"Partition {part} names no table of [{self.label}].")
        else:
            ref = self._refs(conn)[0]
        cols = self._columns(conn, ref)
        d = self.dialect
        where = "1 = 0" if isinstance(part, NoRows) else where
        sql, params = select_sql(self._from(ref), [d.select_expr(c) for c in cols], where, part, d.q, d.param,
                                 d.inline)
        return sql, params, self._schema(cols), ref

    def extract(self, part: Partition, dirty: DirtyRows | None = None) -> Iterator[pa.RecordBatch]:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            sql, params, schema, ref = self._select(conn, part)
            width = self.dialect.row_bytes(conn, *ref) if ref is not None else None
            yield from self.dialect.read(conn, sql, params, schema, width)

    def native_format(self) -> str | None:
        return self.dialect.native_format

    def native_stream(self, part: Partition) -> Iterator[Chunk]:
        """What ``extract`` reads, through the dialect's raw reader: the same SELECT, undecoded chunks."""
        raw = copy.copy(self)
        raw.dialect = self.dialect.raw_reader()
        with raw.dialect.connect(ExtractFailed, self.label) as conn:
            sql, params, schema, _ = raw._select(conn, part)
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
