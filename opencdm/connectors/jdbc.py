"""``generic-jdbc-connector``: relational databases, one ``Dialect`` per ``linkConfig.databaseType``.

The flow is the same for every dialect. The extractor reads ``SELECT cols FROM table WHERE
(whereClause) AND <key range>``. The loader writes each partition into a stage table named
from the run id (rows tagged with the partition index, so a retried partition replaces its
own rows), and ``commit`` applies ``tablePreparation``, the clearing options and the move from
stage to target in one transaction, so a failed or killed run leaves the target as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors import config, register
from opencdm.connectors.base import (
    Connector, ConnectorContext, Extractor, Inputs, LoadResult, Loader, Partition, WholeSource,
)
from opencdm.connectors.postgresql import PostgresDialect
from opencdm.connectors.sql import (
    DIALECT_KEY, PART_COLUMN, PK_KEY, TYPE_KEY, Column, Dialect, create_table_sql, key_partitions,
    match_columns, primary_key_targets, quote_ident, select_sql, stage_name,
)
from opencdm.connectors.sqlite import SqliteDialect
from opencdm.errors import CDM_CODES, ExtractFailed, InvalidInput, LinkRejected, LoadFailed

#: ``linkConfig.databaseType`` values we can serve.
DIALECTS: dict[str, type[Dialect]] = {"POSTGRESQL": PostgresDialect, "SQLITE": SqliteDialect}
PREPARATIONS = ("DO_NOTHING", "CREATE_WHEN_NOT_EXIST", "DROP_AND_CREATE")
BEFORE_IMPORT = ("none", "shouldClearTable", "whereClause")


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
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        super().__init__(link, job, ctx)
        self.dialect = dialect_for(link, ctx)
        config.require(job, "fromJobConfig.tableName")
        self.schema_name = config.get_str(job, "fromJobConfig.schemaName")
        self.table_name = config.get_str(job, "fromJobConfig.tableName")
        self.where = config.get_str(job, "fromJobConfig.whereClause")
        self.column_list = config.get_list(job, "fromJobConfig.columnList")
        self.partition_column = config.get_str(job, "fromJobConfig.partitionColumn")
        self.label = _label(self.schema_name, self.table_name)
        self.table = self.dialect.table(self.schema_name, self.table_name)

    def _all_columns(self, conn: Any) -> list[Column]:
        cols = self.dialect.columns(conn, self.schema_name, self.table_name)
        if cols is None:
            raise _missing_table(self.label)
        return cols

    def _columns(self, conn: Any) -> list[Column]:
        cols = self._all_columns(conn)
        if not self.column_list:
            return cols
        by_name = {c.name: c for c in cols}
        return [by_name[n] for n in match_columns(self.column_list, list(by_name), self.label)]

    def _schema(self, cols: Sequence[Column]) -> pa.Schema:
        return pa.schema([c.field(self.dialect.name) for c in cols])

    def schema(self) -> pa.Schema:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            schema = self._schema(self._columns(conn))
            pk = self.dialect.primary_key(conn, self.schema_name, self.table_name)
        fields = [f.with_metadata({**(f.metadata or {}), PK_KEY: str(pk.index(f.name) + 1).encode()})
                  if f.name in pk else f for f in schema]
        return pa.schema(fields)

    def partitions(self, max_partitions: int) -> list[Partition]:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            by_name = {c.name: c for c in self._all_columns(conn)}
            if self.partition_column:
                key = by_name[match_columns([self.partition_column], list(by_name), self.label)[0]]
            else:
                pk = self.dialect.primary_key(conn, self.schema_name, self.table_name)
                key = by_name[pk[0]] if len(pk) == 1 else None
            if key is None or not pa.types.is_integer(key.arrow) or max_partitions <= 1:
                return [WholeSource(0)]
            col = quote_ident(key.name, self.dialect.q)
            sql, params = select_sql(self.table, [f"MIN({col})", f"MAX({col})"], self.where, WholeSource(0),
                                     self.dialect.q, self.dialect.param)
            lo, hi = self.dialect.query(conn, sql, params)[0]
            if not (isinstance(lo, int) and isinstance(hi, int)):  # SQLite: text in an INTEGER column
                return [WholeSource(0)]
            return key_partitions(key.name, lo, hi, max_partitions, key.nullable)

    def estimate_rows(self) -> int | None:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            sql, params = select_sql(self.table, ["COUNT(*)"], self.where, WholeSource(0), self.dialect.q,
                                     self.dialect.param)
            return int(self.dialect.query(conn, sql, params)[0][0])

    def extract(self, part: Partition) -> Iterator[pa.RecordBatch]:
        with self.dialect.connect(ExtractFailed, self.label) as conn:
            cols = self._columns(conn)
            sql, params = select_sql(self.table, [self.dialect.select_expr(c) for c in cols], self.where, part,
                                     self.dialect.q, self.dialect.param, self.dialect.inline)
            yield from self.dialect.read(conn, sql, params, self._schema(cols))


class JdbcLoader(Loader):
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
        self.stage = stage_name(run_id)
        self.label = _label(self.schema_name, self.table_name)
        self.table = self.dialect.table(self.schema_name, self.table_name)
        self._fields: pa.Schema | None = None

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

    def prepare(self, schema: pa.Schema) -> None:
        targets = self._targets(schema)
        with self.dialect.connect(LoadFailed, self.label, write=True) as conn:
            cols = self.dialect.columns(conn, self.schema_name, self.table_name)
            if cols is None and self.preparation == "DO_NOTHING":
                raise _missing_table(self.label)
            if cols is not None and self.preparation != "DROP_AND_CREATE":
                match_columns(targets, [c.name for c in cols], self.label)
            with self.dialect.transaction(conn):
                self.dialect.create_stage(conn, self.schema_name, self.stage, schema)
        self._fields = schema

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch]) -> LoadResult:
        rows = self.dialect.load_stage(self.schema_name, self.stage, part.index, batches)
        return LoadResult(part.index, rows)

    def commit(self, results: Sequence[LoadResult]) -> None:
        latest = {r.index: r for r in results}  # a partition reported twice counts once
        expected = sum(r.rows for r in latest.values())
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
                    d.execute(conn, create_table_sql(self.table, [
                        (t, d.ddl_type(conn, f), self.copy_not_null and not f.nullable) for t, f in zip(targets, fields)
                    ], q, primary_key_targets(targets, fields)))
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
            if config.get_bool(job, "fromJobConfig.useSql"):
                raise InvalidInput("fromJobConfig.useSql (a custom SQL source) is not supported yet.", code="Cdm.0014")
            config.require(job, "fromJobConfig.tableName")
            for name in ("fromJobConfig.schemaName", "fromJobConfig.tableName"):
                if "*" in (config.get_str(job, name) or ""):
                    raise InvalidInput(f"Wildcards in {name} are not supported yet.", code="Cdm.0014")
        elif direction == "to":
            config.require(job, "toJobConfig.tableName")
            config.get_enum(job, "toJobConfig.tablePreparation", PREPARATIONS)
            config.get_bool(job, "toJobConfig.shouldClearTable")
            config.get_bool(job, "toJobConfig.useNullable")
            if config.get_enum(job, "toJobConfig.beforeImportType", BEFORE_IMPORT) == "whereClause":
                config.require(job, "toJobConfig.whereClause")
        else:
            raise InvalidInput(f"Unknown direction [{direction}]: expected from or to.", code="Cdm.0014")

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return JdbcExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return JdbcLoader(link, job, ctx, run_id)
