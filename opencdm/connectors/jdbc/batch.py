"""Entire-database jobs (``BATCH_JOB``) from a relational source: which tables, in which order.

The FROM inputs select the tables: ``schemaName`` (one schema; default the link's), and ``tableName``
as names or ``*`` patterns joined by ``&`` (default every table). ``whereClause`` applies to every
table. Inputs that only make sense for one table (custom SQL, ``partitionColumn``, ``columnList``,
``boundaryQuery``) are refused. Tables are ordered so that a table comes after the tables its foreign
keys reference (when those are moved too); a reference cycle is broken at its first table by name.
"""

from __future__ import annotations

from opencdm.connectors import config
from opencdm.connectors.base import BatchItem, ConnectorContext, Inputs
from opencdm.connectors.jdbc.dialect import dialect_for
from opencdm.connectors.jdbc.sqltext import match_tables, wildcard
from opencdm.errors import ExtractFailed, InvalidInput

PER_TABLE_FROM = ("fromJobConfig.useSql", "fromJobConfig.sql", "fromJobConfig.partitionColumn",
                  "fromJobConfig.columnList", "fromJobConfig.boundaryQuery")
PER_TABLE_TO = ("toJobConfig.tableName", "toJobConfig.columnList")


def refuse_per_table(job: Inputs, names: tuple[str, ...]) -> None:
    for name in names:
        if config.given(job, name) and not (name == "fromJobConfig.useSql" and not config.get_bool(job, name)):
            raise InvalidInput(f"{name} does not apply to an entire-database job (BATCH_JOB): every table is "
                               "moved whole, under its own name.", code="Cdm.0014")


def items(link: Inputs, job: Inputs, ctx: ConnectorContext) -> list[BatchItem]:
    refuse_per_table(job, PER_TABLE_FROM)
    schema = config.get_str(job, "fromJobConfig.schemaName")
    if wildcard(schema):
        raise InvalidInput("fromJobConfig.schemaName of a BATCH_JOB names one schema, not a pattern.",
                           code="Cdm.0014")
    patterns = config.get_list(job, "fromJobConfig.tableName") or ["*"]
    dialect = dialect_for(link, ctx)
    with dialect.connect(ExtractFailed, "fromJobConfig.schemaName") as conn:
        schema = schema or dialect.default_schema(conn)
        known = dialect.tables(conn)
        names = sorted({t for p in patterns for _, t in match_tables(known, schema, p)})
        edges = [(c[1], p[1]) for c, p in dialect.foreign_keys(conn)
                 if c[0] == p[0] and (schema is None or c[0] == schema)]
    if not names:
        raise ExtractFailed(f"No table of schema [{schema}] matches fromJobConfig.tableName "
                            f"[{'&'.join(patterns)}].", code="Cdm.0900")
    return ordered(names, edges)


def ordered(names: list[str], edges: list[tuple[str, str]]) -> list[BatchItem]:
    """``names`` with each name's referenced names (``edges`` of (child, parent)) first; ties by name."""
    chosen = set(names)
    parents = {n: sorted({p for c, p in edges if c == n and p in chosen and p != n}) for n in names}
    done: list[str] = []
    left = list(names)
    while left:
        ready = [n for n in left if all(p in done for p in parents[n])]
        if not ready:  # a reference cycle: break it at its first table, which then follows nothing left
            parents[left[0]] = [p for p in parents[left[0]] if p in done]
            ready = [left[0]]
        done += ready
        left = [n for n in left if n not in ready]
    return [BatchItem(n, tuple(parents[n])) for n in done]


def sub_job(job: Inputs, item: str, direction: str) -> Inputs:
    if direction == "from":
        refuse_per_table(job, PER_TABLE_FROM)
        return {**job, "fromJobConfig.tableName": item}
    refuse_per_table(job, PER_TABLE_TO)
    return {**job, "toJobConfig.tableName": item}
