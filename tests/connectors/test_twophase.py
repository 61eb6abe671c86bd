"""Appending to a kept PostgreSQL table that keeps its rows through prepared transactions
(``postgresql/twophase.py``), on a real server with ``max_prepared_transactions=64``: rows written once into
the table itself, invisible until the commit; an abort before the commit's decision leaves the table as it
was and no prepared transaction behind, an abort after it finishes the commit; a retried partition is
not written twice."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from opencdm.connectors import get
from opencdm.connectors.jdbc.postgresql import twophase
from tests.connectors import jdbc_data as data

JDBC = get("generic-jdbc-connector")
DATA = data.rows(1200)
OLD = 300  # rows already in the table, ids above the source's


class Env(data.PgDatabase):
    def __init__(self, pg, tmp) -> None:
        super().__init__(pg, tmp, DATA)

    def table(self) -> str:
        """A kept table with its primary key, an index and ``OLD`` rows of its own."""
        t = f"kept_{uuid.uuid4().hex[:8]}"
        self.sql(data.PG_DDL.format(name=t), f"CREATE INDEX {t}_s ON {t} (s)",
                 f"INSERT INTO {t} (id, s) SELECT 100000 + g, 'old' FROM generate_series(1, {OLD}) g")
        return t

    def snapshot(self, t: str) -> tuple:
        return (self.one(f"SELECT md5(string_agg(x::text, '|' ORDER BY id)) FROM {t} x"),
                self.one(f"SELECT pg_relation_filenode('{t}')"))

    def prepared(self) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'opencdm:%'")]

    def loader(self, t: str, partitions: int = 3, **extra):
        extractor = JDBC.extractor(self.link, {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src"},
                                   self.ctx)
        loader = JDBC.loader(self.link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": t,
                                         "toJobConfig.tablePreparation": "DO_NOTHING", **extra}, self.ctx,
                             uuid.uuid4().hex)
        loader.planned_partitions = partitions
        loader.prepare(extractor.schema())
        return extractor, loader

    def worker(self, loader):
        """The loader as a worker rebuilds it: from the inputs, knowing nothing of what prepare chose."""
        return JDBC.loader(loader.link, loader.job, loader.ctx, loader.run_id)


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory) -> Env:
    return Env(pg, tmp_path_factory.mktemp("twophase"))


@pytest.mark.parametrize("native", [False, True], ids=["arrow", "binary-copy"])
def test_append_writes_once_into_the_table_and_commits_together(env, native):
    t = env.table()
    node = env.one(f"SELECT pg_relation_filenode('{t}')")
    extractor, loader = env.loader(t)
    assert loader.write_path.startswith("two-phase:"), loader.write_path
    fmt = extractor.native_format()
    assert loader.accepts_native(fmt)  # same column types: the binary COPY passthrough, straight into the table
    if native:
        results = [env.worker(loader).load_native(p, extractor.native_stream(p), fmt) for p in extractor.partitions(3)]
    else:
        results = [env.worker(loader).load(p, extractor.extract(p)) for p in extractor.partitions(3)]
    assert len(env.prepared()) == 3
    assert env.one(f"SELECT count(*) FROM {t}") == OLD  # on disk, invisible until the commit
    loader.commit(results)
    assert env.one(f"SELECT count(*) FROM {t}") == OLD + len(DATA)
    assert data.checksums(data.pg_rows(env.dsn, t + " WHERE id < 100000")) == data.checksums(DATA)
    assert env.one(f"SELECT pg_relation_filenode('{t}')") == node  # the same table, appended to
    assert env.prepared() == [] and env.one("SELECT count(*) FROM pg_class WHERE relname LIKE 'opencdm_stage%'") == 0


def test_an_abort_before_the_decision_leaves_the_table_as_it_was(env):
    t = env.table()
    before = env.snapshot(t)
    extractor, loader = env.loader(t)
    parts = extractor.partitions(3)
    for p in parts[:2]:
        env.worker(loader).load(p, extractor.extract(p))
    assert len(env.prepared()) == 2
    loader.abort()
    assert env.prepared() == [] and env.snapshot(t) == before
    assert env.one("SELECT count(*) FROM pg_class WHERE relname LIKE 'opencdm_stage%'") == 0


def test_a_retried_partition_is_found_prepared_and_not_written_again(env):
    t = env.table()
    extractor, loader = env.loader(t)
    results = []
    for p in extractor.partitions(3):
        first = env.worker(loader).load(p, extractor.extract(p))
        again = env.worker(loader).load(p, extractor.extract(p))  # a retry after the first attempt prepared
        assert again.rows == first.rows
        results.append(again)
    assert len(env.prepared()) == 3
    loader.commit(results)
    assert env.one(f"SELECT count(*) FROM {t}") == OLD + len(DATA)


def test_an_abort_after_the_decision_finishes_the_commit(env):
    """A crash between the commit's decision and its last COMMIT PREPARED: recovery commits the rest."""
    t = env.table()
    extractor, loader = env.loader(t)
    for p in extractor.partitions(3):
        env.worker(loader).load(p, extractor.extract(p))
    names = sorted(env.prepared())
    env.sql(f"INSERT INTO public.{loader.ledger} (part, rows) VALUES ({twophase.DECIDED}, 1)",
            f"COMMIT PREPARED '{names[0]}'")  # the commit got this far
    loader.abort()
    assert env.prepared() == [] and env.one(f"SELECT count(*) FROM {t}") == OLD + len(DATA)


def test_when_two_phase_is_not_taken(env):
    t = env.table()
    _, loader = env.loader(t, partitions=1000)
    assert loader.write_path.startswith("staged:") and "more prepared transactions" in loader.write_path
    loader.abort()
    loader = JDBC.loader(env.link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": t}, env.ctx,
                         uuid.uuid4().hex)
    loader.resumable_run = True
    loader.prepare(JDBC.extractor(env.link, {"fromJobConfig.tableName": "src"}, env.ctx).schema())
    assert "resumable" in loader.write_path
    loader.abort()
    _, loader = env.loader(t, **{"toJobConfig.shouldClearTable": "true"})  # cleared: the swap path
    assert loader.write_path.startswith("swap:")
    loader.abort()
    assert env.prepared() == []


def test_an_attempt_that_prepares_during_the_abort_is_rolled_back_too(env):
    """A straggling partition holds the ledger while the abort drops it: the abort waits, resolves again."""
    import threading
    import time

    t = env.table()
    before = env.snapshot(t)
    extractor, loader = env.loader(t)
    parts = extractor.partitions(3)
    env.worker(loader).load(parts[0], extractor.extract(parts[0]))
    gate = threading.Event()

    def slow_batches():  # the straggler: claimed (holding its ledger row) and still writing
        for b in extractor.extract(parts[1]):
            gate.wait(10)
            yield b

    straggler = threading.Thread(target=lambda: env.worker(loader).load(parts[1], slow_batches()), daemon=True)
    straggler.start()
    time.sleep(1.0)  # it has claimed its partition
    threading.Timer(3.0, gate.set).start()  # it prepares while the abort waits to drop the ledger
    loader.abort()
    straggler.join(30)
    assert env.prepared() == [] and env.snapshot(t) == before
    assert env.one("SELECT count(*) FROM pg_class WHERE relname LIKE 'opencdm_stage%'") == 0
