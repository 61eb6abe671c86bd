"""TO side of ``generic-jdbc-connector``: typed staging, idempotent partition loads, one-transaction commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import DIALECT_KEY, TYPE_KEY, positional
from opencdm.connectors.base import Chunk, ConnectorContext, DirtyRows, Inputs, Loader, LoadResult, Partition
from opencdm.connectors.jdbc import staging
from opencdm.connectors.jdbc.dialect import Column, _label, _missing_table, dialect_for
from opencdm.connectors.jdbc.options import JdbcTo
from opencdm.connectors.jdbc.sqltext import (
    PART_COLUMN, create_table_sql, extend_char_length, match_columns, primary_key_targets, quote_ident, stage_name,
    where_group,
)
from opencdm.errors import InvalidInput, LoadFailed

log = logging.getLogger("opencdm.jdbc")


class JdbcLoader(Loader):
    """TO side: each partition into a stage named from the run id, then one atomic move at commit.

    Dialects with ``typed_stage`` stage with the destination's own column types and a ledger of
    loaded partitions (``opencdm.connectors.jdbc.staging``): when the run owns the target table
    (``DROP_AND_CREATE``, or ``CREATE_WHEN_NOT_EXIST`` on a missing one) the stage is created as the
    final table and ``commit`` renames it, so the rows are written once; otherwise ``commit`` is one
    ``INSERT ... SELECT`` without casts. Other dialects tag stage rows with ``PART_COLUMN``.
    """

    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        super().__init__(link, job, ctx, run_id)
        self.dialect = dialect_for(link, ctx)
        self.options = to = JdbcTo.parse(job, self.dialect.link)
        self.schema_name, self.table_name, self.column_list = to.schema_name, to.table_name, list(to.column_list)
        self.preparation, self.clear, self.delete_where = to.preparation, to.clear, to.delete_where
        self.copy_not_null, self.extend_chars = to.use_nullable, to.extend_chars
        self.stage = stage_name(run_id)
        self.ledger = staging.ledger_name(self.stage)
        self.label = _label(self.schema_name, self.table_name)
        self.table = self.dialect.table(self.schema_name, self.table_name)
        self._fields: pa.Schema | None = None
        self._native = False
        self._shape: int | None = None  # the ledger's MARK: how prepare shaped this run (read once on workers)

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

    def appending(self) -> None:
        self.preparation, self.clear, self.delete_where = "CREATE_WHEN_NOT_EXIST", False, None

    def prepare(self, schema: pa.Schema) -> None:
        targets = self._targets(schema)
        d = self.dialect
        with d.connect(LoadFailed, self.label, write=True) as conn:
            cols = d.columns(conn, self.schema_name, self.table_name)
            if cols is None and self.preparation == "DO_NOTHING":
                raise _missing_table(self.label)
            owned = cols is None or self.preparation == "DROP_AND_CREATE"
            self.write_path = ("owned: the stage is the new table, renamed into place at commit; rows written once"
                               if owned and d.typed_stage else
                               "staged: rows staged by partition, then copied into the target at commit")
            if not owned and positional(schema) and not self.column_list:  # unnamed source columns: in order
                if len(schema) > len(cols):
                    raise InvalidInput(f"The source has {len(schema)} columns, {self.label} only {len(cols)}.",
                                       code="Cdm.0014")
                targets = [c.name for c in cols[:len(schema)]]
            names = targets if owned else match_columns(targets, [c.name for c in cols], self.label)
            twin, self._shape = None, None
            if not d.typed_stage and d.builds_aside:
                self._fields = schema
                return self._prepare_aside(conn, owned, targets, names, schema)
            if not owned and d.typed_stage:
                why = self._why_not_swap(conn, names)
                if why is None:
                    twin = d.twin_sql(conn, self.schema_name, self.table_name, self.stage)
                    self.write_path = "swap: the cleared table is rebuilt aside and swapped in at commit; rows " \
                                      "written once"
                elif (why_not := self._why_not_two_phase(conn, names, schema)) is None:
                    self._shape = staging.TWO_PHASE
                    self.write_path = "two-phase: partitions append straight into the table in prepared " \
                                      "transactions, committed together; rows written once"
                else:
                    self.write_path = (f"staged: rows staged, then moved into the kept table at commit (no swap: "
                                       f"{why}; no two-phase append: {why_not})")
            with d.transaction(conn):
                if self._shape == staging.TWO_PHASE:
                    for sql in staging.ledger_sql(lambda n: d.table(self.schema_name, n), self.stage, self._shape):
                        d.execute(conn, sql)
                    self._native = d.native_types_ok(conn, schema, self.schema_name, self.table_name)
                elif not d.typed_stage:
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
                                                  d.table_options(self.options), twin):
                        d.execute(conn, sql)
                    if deferred:
                        d.defer_primary_key(conn, self.schema_name, self.stage, pk)
                    self._native = d.native_types_ok(conn, schema, self.schema_name, self.stage)
        self._fields = schema

    def _prepare_aside(self, conn: Any, owned: bool, targets: list[str], names: list[str], schema: pa.Schema) -> None:
        """Databases whose DDL commits on its own (MySQL): when the run owns the target, or may rebuild
        a cleared one, partitions write straight into a table built aside (``<stage>_new``) and the
        commit renames it into place; when it appends to a kept table, they write into it in prepared
        transactions (``two_phase``); else the tagged stage."""
        d = self.dialect
        why = ("a resumable run keeps its staging after a failure" if self.resumable_run else
               None if owned else self._why_not_swap(conn, names))
        if why is not None and (why_not := self._why_not_two_phase(conn, names, schema)) is not None:
            self.write_path = (f"staged: rows staged, then moved into the kept table at commit (no swap: {why}; "
                               f"no two-phase append: {why_not})")
            with d.transaction(conn):
                d.create_stage(conn, self.schema_name, self.stage, schema)
            return
        if why is not None:
            self._shape = staging.TWO_PHASE
            self.write_path = "two-phase: partitions append straight into the table in XA transactions, prepared " \
                              "and committed together; rows written once"
            for sql in d.two_phase_tables(d.table(self.schema_name, self.ledger)):
                d.execute(conn, sql)
        else:
            self._shape = staging.OWNED if owned else staging.SWAP
            self.write_path = ("owned: partitions load straight into the new table built aside, renamed into place "
                               "at commit; rows written once" if owned else
                               "swap: the cleared table is rebuilt aside (CREATE TABLE ... LIKE) and renamed into "
                               "place at commit; rows written once")
            aside = d.table(self.schema_name, self._aside)
            d.execute(conn, f"DROP TABLE IF EXISTS {aside}")
            if owned:
                d.execute(conn, create_table_sql(aside, self._final_columns(conn, targets, schema), d.q,
                                                 primary_key_targets(targets, schema), d.table_options(self.options)))
            else:
                d.execute(conn, d.twin_sql(conn, self.schema_name, self.table_name, self._aside))
                d.defer_twin_indexes(conn, self.schema_name, self._aside)
        with d.transaction(conn):
            for sql in staging.ledger_sql(lambda n: d.table(self.schema_name, n), self.stage, self._shape, d.q,
                                          d.ledger_options):
                d.execute(conn, sql)

    def _why_not_swap(self, conn: Any, names: Sequence[str]) -> str | None:
        """None when the kept target may be rebuilt aside and swapped in: it is cleared, or appended to
        while empty (the commit checks again, under its lock), and the dialect's conditions hold."""
        d = self.dialect
        if self.delete_where:
            return "deleteWhere keeps the rows it does not match"
        if not self.clear and not d.transactional_ddl:
            return "the table is not cleared (an empty one could fill during the run, and MySQL cannot keep it " \
                   "locked until the rename)"
        if not self.clear and not d.is_empty(conn, self.table):
            return "the table keeps its rows (not cleared, not empty)"
        return d.swap_reason(conn, self.schema_name, self.table_name, names)

    def _why_not_two_phase(self, conn: Any, names: Sequence[str], fields: pa.Schema) -> str | None:
        if not self.dialect.two_phase:
            return self.dialect.two_phase_reason(conn, self.schema_name, self.table_name, names, fields,
                                                 self.planned_partitions)
        if self.clear or self.delete_where:
            return "the table is cleared first"
        if self.resumable_run:
            return "a resumable run keeps its staging after a failure"
        return self.dialect.two_phase_reason(conn, self.schema_name, self.table_name, names, fields,
                                             self.planned_partitions)

    def _run_shape(self) -> int:
        """How ``prepare`` shaped this run, for the paths that write outside a stage (two-phase, built
        aside): the ledger's MARK, read once on workers; KEPT for everything else."""
        d = self.dialect
        if not (d.two_phase or d.builds_aside):
            return staging.KEPT
        if self._shape is None:
            with d.connect(LoadFailed, self.label, write=True) as conn:
                rows = d.query(conn, f"SELECT {quote_ident('rows', d.q)} FROM {d.table(self.schema_name, self.ledger)} "
                                     f"WHERE part = {staging.MARK}") if d.columns(
                    conn, self.schema_name, self.ledger) is not None else []
            self._shape = int(rows[0][0]) if rows else staging.KEPT
        return self._shape

    def _two_phase(self) -> bool:
        """Worker side: did ``prepare`` choose the two-phase append?"""
        return self.dialect.two_phase and self._run_shape() == staging.TWO_PHASE

    def _built_aside(self) -> bool:
        """Did ``prepare`` choose to write into a table built aside (dialects without transactional DDL)?"""
        return self.dialect.builds_aside and self._run_shape() in (staging.OWNED, staging.SWAP)

    def reopen(self, schema: pa.Schema) -> None:
        """A resumed run: the stage and its ledger (the partitions an earlier attempt finished) are there."""
        self._targets(schema)
        with self.dialect.connect(LoadFailed, self.label, write=True) as conn:
            if self.dialect.columns(conn, self.schema_name, self.stage) is None:
                raise LoadFailed(f"The staging of the run to resume ({self.stage}) is gone; start the job without "
                                 "resume.")
        self._fields = schema

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        if self._two_phase():
            rows = self.dialect.load_prepared(self.schema_name, self.table_name,
                                              self.dialect.table(self.schema_name, self.ledger), self.run_id,
                                              part.index, batches, dirty)
        elif self.dialect.typed_stage:
            rows = self.dialect.load_typed(self.schema_name, self.stage, part.index, batches, dirty)
        elif self._built_aside():
            rows = self.dialect.load_aside(self.schema_name, self._aside, self.dialect.table(self.schema_name,
                                                                                            self.ledger),
                                           part.index, batches)
        else:
            rows = self.dialect.load_stage(self.schema_name, self.stage, part.index, batches)
        return LoadResult(part.index, rows)

    def accepts_native(self, fmt: str) -> bool:
        if fmt == self.dialect.native_format:
            return self._native
        return self.dialect.typed_stage and self.dialect.reads_native(fmt)

    def load_native(self, part: Partition, chunks: Iterable[Chunk], fmt: str) -> LoadResult:
        d = self.dialect
        if self._two_phase():
            return LoadResult(part.index, d.load_native_prepared(self.schema_name, self.table_name,
                                                                 d.table(self.schema_name, self.ledger), self.run_id,
                                                                 part.index, chunks, fmt))
        return LoadResult(part.index, d.load_native(self.schema_name, self.stage, part.index, chunks, fmt))

    def commit(self, results: Sequence[LoadResult]) -> None:
        latest = {r.index: r.rows for r in results}  # a partition reported twice counts once
        d = self.dialect
        if self._two_phase():
            return d.commit_prepared(d.table(self.schema_name, self.ledger), self.run_id, latest, self.label)
        if self._built_aside():
            return self._commit_built_aside(latest)
        if not self.dialect.typed_stage:
            return self._commit_tagged(latest)
        with d.connect(LoadFailed, self.label, write=True) as conn:
            stage_cols = d.columns(conn, self.schema_name, self.stage)
            if stage_cols is None or d.columns(conn, self.schema_name, self.ledger) is None:
                raise LoadFailed(f"Stage table {self.stage} does not exist: the run was aborted or committed.")
            ledger = d.table(self.schema_name, self.ledger)
            shape = self._check_ledger(conn, latest)
            with d.transaction(conn):
                exists = d.columns(conn, self.schema_name, self.table_name) is not None
                if shape == staging.SWAP and exists:
                    d.lock(conn, self.table)  # then nothing can come to depend on it before the swap
                    if self._why_not_swap(conn, [c.name for c in stage_cols]) is None:
                        d.swap(conn, self.schema_name, self.stage, self.table_name)
                        d.execute(conn, f"DROP TABLE {ledger}")
                        return
                if shape == staging.OWNED and (self.preparation == "DROP_AND_CREATE" or not exists):
                    d.build_primary_key(conn, self.schema_name, self.stage)
                    if exists:
                        d.execute(conn, f"DROP TABLE {self.table}")
                    d.rename_table(conn, self.schema_name, self.stage, self.table_name)
                else:
                    self._insert(conn, stage_cols, exists)
                    d.execute(conn, f"DROP TABLE {d.table(self.schema_name, self.stage)}")
                d.execute(conn, f"DROP TABLE {ledger}")

    def _check_ledger(self, conn: Any, latest: dict[int, int]) -> int:
        """The ledger's shape, once it is seen to hold exactly the partitions and counts the loads reported."""
        d = self.dialect
        ledger = d.table(self.schema_name, self.ledger)
        shape, loaded = staging.read(d.query(conn, f"SELECT part, {quote_ident('rows', d.q)} FROM {ledger}"))
        if loaded != latest:
            raise LoadFailed(f"The stage holds {sum(loaded.values())} rows of {len(loaded)} partitions, but the "
                             f"loads reported {sum(latest.values())} rows of {len(latest)}.")
        return shape

    def _commit_built_aside(self, latest: dict[int, int]) -> None:
        """Commit of a table built aside: the ledger checked, then one atomic rename puts it in place. A
        target that came to have dependents (or, for CREATE_WHEN_NOT_EXIST, came to exist) during the run
        is kept instead: cleared if asked and filled from the table built aside, in one transaction."""
        d = self.dialect
        with d.connect(LoadFailed, self.label, write=True) as conn:
            aside_cols = d.columns(conn, self.schema_name, self._aside)
            if aside_cols is None or d.columns(conn, self.schema_name, self.ledger) is None:
                raise LoadFailed(f"Table {self._aside} built aside does not exist: the run was aborted or committed.")
            shape = self._check_ledger(conn, latest)
            exists = d.columns(conn, self.schema_name, self.table_name) is not None
            names = [c.name for c in aside_cols]
            keep = exists and (self.preparation != "DROP_AND_CREATE" if shape == staging.OWNED
                               else self._why_not_swap(conn, names) is not None)
            if keep:
                with d.transaction(conn):
                    self._insert(conn, aside_cols, True, self._aside)
                d.execute(conn, f"DROP TABLE {d.table(self.schema_name, self._aside)}")
            else:
                if shape == staging.SWAP and exists:
                    d.build_twin_indexes(conn, self.schema_name, self._aside, self.table_name)
                d.swap_in(conn, self.schema_name, self._aside, self.table_name, exists)
            d.execute(conn, f"DROP TABLE {d.table(self.schema_name, self.ledger)}")

    def _insert(self, conn: Any, stage_cols: Sequence[Column], exists: bool, source: str | None = None) -> None:
        """Inside the commit transaction: clearing options, then the stage's rows into the target."""
        d = self.dialect
        if not exists:  # the target vanished since prepare: create it as auto-create would
            if self.preparation == "DO_NOTHING":
                raise _missing_table(self.label)
            targets = [c.name for c in stage_cols]
            fields = self._fields or pa.schema(
                [pa.field(c.name, c.arrow, c.nullable, {TYPE_KEY: c.type, DIALECT_KEY: d.name}) for c in stage_cols])
            d.execute(conn, create_table_sql(self.table, self._final_columns(conn, targets, fields), d.q,
                                             primary_key_targets(targets, fields), d.table_options(self.options)))
        by_name = {c.name: c for c in d.columns(conn, self.schema_name, self.table_name)}
        dst = [by_name[n] for n in match_columns([c.name for c in stage_cols], list(by_name), self.label)]
        if self.clear:
            d.clear(conn, self.table)
        elif self.delete_where:
            d.execute(conn, f"DELETE FROM {self.table} WHERE {where_group(self.delete_where)}")
        names = ", ".join(quote_ident(c.name, d.q) for c in dst)
        exprs = ", ".join(quote_ident(s.name, d.q) if s.type == t.type else d.cast(quote_ident(s.name, d.q), t)
                          for s, t in zip(stage_cols, dst))
        d.execute(conn, f"INSERT INTO {self.table} ({names}) SELECT {exprs} FROM "
                        f"{d.table(self.schema_name, source or self.stage)}")

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
            exists = d.columns(conn, self.schema_name, self.table_name) is not None
            if not d.transactional_ddl and (self.preparation == "DROP_AND_CREATE" or not exists):
                return self._commit_aside(conn, stage, data_cols, targets, fields, parts, expected, exists)
            with d.transaction(conn):
                if exists and self.preparation == "DROP_AND_CREATE":
                    d.execute(conn, f"DROP TABLE {self.table}")
                    exists = False
                if not exists:
                    if self.preparation == "DO_NOTHING":
                        raise _missing_table(self.label)
                    columns = self._final_columns(conn, targets, fields)
                    d.execute(conn, create_table_sql(self.table, columns, q, primary_key_targets(targets, fields),
                                                     d.table_options(self.options)))
                by_name = {c.name: c for c in d.columns(conn, self.schema_name, self.table_name)}
                names = match_columns(targets, list(by_name), self.label)
                if self.clear:
                    d.clear(conn, self.table)
                elif self.delete_where:
                    d.execute(conn, f"DELETE FROM {self.table} WHERE {where_group(self.delete_where)}")
                if parts:
                    self._move(conn, stage, data_cols, [by_name[n] for n in names], parts, expected)
                d.execute(conn, f"DROP TABLE {stage}")

    def _commit_aside(self, conn: Any, stage: str, data_cols: Sequence[Column], targets: list[str],
                      fields: pa.Schema, parts: str, expected: int, exists: bool) -> None:
        """Commit for databases whose DDL commits on its own (MySQL): build the new table aside, fill it
        in one transaction, then swap it in with one atomic rename. Until the rename the target is
        untouched; a failure drops the table built aside."""
        d, q = self.dialect, self.dialect.q
        aside_name = self._aside
        aside = d.table(self.schema_name, aside_name)
        d.execute(conn, f"DROP TABLE IF EXISTS {aside}")
        d.execute(conn, create_table_sql(aside, self._final_columns(conn, targets, fields), q,
                                         primary_key_targets(targets, fields), d.table_options(self.options)))
        try:
            by_name = {c.name: c for c in d.columns(conn, self.schema_name, aside_name)}
            names = match_columns(targets, list(by_name), self.label)
            with d.transaction(conn):
                if parts:
                    self._move(conn, stage, data_cols, [by_name[n] for n in names], parts, expected, into=aside)
            d.swap_in(conn, self.schema_name, aside_name, self.table_name, exists)
        except BaseException:
            d.execute(conn, f"DROP TABLE IF EXISTS {aside}")
            raise
        d.execute(conn, f"DROP TABLE {stage}")

    @property
    def _aside(self) -> str:
        return f"{self.stage}_new"

    def _move(self, conn: Any, stage: str, src: Sequence[Column], dst: Sequence[Column], parts: str,
              expected: int, into: str | None = None) -> None:
        d, q = self.dialect, self.dialect.q
        where = f"{PART_COLUMN} IN ({parts})"
        staged = int(d.query(conn, f"SELECT COUNT(*) FROM {stage} WHERE {where}")[0][0])
        if staged != expected:
            raise LoadFailed(f"Stage holds {staged} rows for partitions [{parts}], but the loads reported {expected}.")
        cols = ", ".join(quote_ident(c.name, q) for c in dst)
        exprs = ", ".join(d.cast(quote_ident(s.name, q), t) for s, t in zip(src, dst))
        d.execute(conn, f"INSERT INTO {into or self.table} ({cols}) SELECT {exprs} FROM {stage} WHERE {where}")

    def abort(self) -> None:
        if self.dialect.two_phase:  # prepared partitions first: they hold locks on the ledger
            try:
                note = self.dialect.resolve_prepared(self.dialect.table(self.schema_name, self.ledger), self.run_id,
                                                     self.label)
            except Exception:
                log.exception("run %s on %s: prepared partitions not resolved", self.run_id, self.label)
                note = None
            if note:
                log.warning("run %s on %s: %s", self.run_id, self.label, note)
        self.dialect.drop_stage(self.schema_name, self.stage)
        if not self.dialect.transactional_ddl:
            self.dialect.drop_stage(self.schema_name, self._aside)
            self.dialect.drop_stage(self.schema_name, f"{self.stage}_old")  # a rename-swap cut short
        if self.dialect.typed_stage or self.dialect.builds_aside:
            self.dialect.drop_stage(self.schema_name, self.ledger)
