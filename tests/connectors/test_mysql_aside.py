"""MySQL/MariaDB targets written once: a table built aside and renamed into place (real MariaDB).

A run that owns its target (``DROP_AND_CREATE``, a missing table) or clears one that nothing depends
on loads its partitions straight into ``<stage>_new`` and the commit swaps it in with one atomic
``RENAME TABLE``; anything else keeps the tagged stage. Either way a failure leaves the target as it was.
"""

from __future__ import annotations

import uuid

import pytest

from opencdm.connectors.base import LoadResult
from opencdm.errors import LoadFailed
from tests.connectors import jdbc_data as data
from tests.connectors.test_mysql import EXPECTED, JDBC, _table, from_job, make_env, to_job

CLEAR = {"toJobConfig.shouldClearTable": "true"}
DDL = ("CREATE TABLE {t} (id bigint PRIMARY KEY COMMENT 'the key', i int, n decimal(12,2), s text, v varchar(20), "
       "ts datetime(6), tz timestamp(6) NULL, d date, b boolean, KEY by_v (v), KEY by_i_d (i, d)) "
       "ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_bin COMMENT='kept orders'")


@pytest.fixture(scope="module")
def env(mariadb, pg, tmp_path_factory):
    return make_env(mariadb, pg, tmp_path_factory.mktemp("aside"))


def start(env, table: str, prep: str = "DO_NOTHING", **extra):
    extractor = JDBC.extractor(env.link(), from_job(env), env.ctx)
    loader = JDBC.loader(env.link(), to_job(env, table, prep, **extra), env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    return extractor, loader


def run(env, table: str, prep: str = "DO_NOTHING", **extra) -> str:
    extractor, loader = start(env, table, prep, **extra)
    loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(3)])
    return loader.write_path


def kept(env, table: str) -> None:
    env.sql(DDL.format(t=table), f"INSERT INTO {table} (id, s) VALUES (-1, 'old'), (-2, 'older')")


def shape(env, table: str) -> str:
    return env.sql(f"SHOW CREATE TABLE {table}")[0][1]


def test_drop_and_create_loads_once_into_the_table_built_aside(env):
    table = _table()
    env.sql(f"CREATE TABLE {table} (x int)", f"INSERT INTO {table} VALUES (7)")
    extractor, loader = start(env, table, "DROP_AND_CREATE")
    assert loader.write_path.startswith("owned:"), loader.write_path
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(3)]
    aside = env.sql(f"SELECT COUNT(*) FROM {loader._aside}")[0][0]
    assert aside == len(data.rows()) and env.sql(f"SELECT x FROM {table}") == [(7,)]  # rows in once; target as it was
    assert [n for (n,) in env.stages()] and not any(n == loader.stage for (n,) in env.stages())  # no tagged stage
    loader.commit(results)
    assert data.checksums(env.rows("my", table)) == EXPECTED and env.stages() == []


def test_a_cleared_table_is_rebuilt_aside_keeping_its_definition_and_grants(env):
    table = _table()
    kept(env, table)
    user = f"reader_{uuid.uuid4().hex[:6]}"
    env.my.sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'x'", f"GRANT SELECT ON `{env.db}`.`{table}` TO '{user}'@'%'",
               f"GRANT UPDATE (s) ON `{env.db}`.`{table}` TO '{user}'@'%'")
    grants = env.my.sql(f"SHOW GRANTS FOR '{user}'@'%'")
    before = shape(env, table)
    extractor, loader = start(env, table, **CLEAR)
    assert loader.write_path.startswith("swap:")
    aside = shape(env, loader._aside)
    assert "KEY `by_v`" not in aside and "KEY `by_i_d`" not in aside  # built after the rows are in
    loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(3)])
    assert data.checksums(env.rows("my", table)) == EXPECTED
    assert shape(env, table) == before  # indexes, comments, charset, engine: all as they were
    assert env.my.sql(f"SHOW GRANTS FOR '{user}'@'%'") == grants and f"`{table}`" in grants
    assert env.stages() == []


BLOCKERS = {
    "trigger": ("CREATE TRIGGER {t}_t BEFORE INSERT ON {t} FOR EACH ROW SET NEW.i = NEW.i", "triggers"),
    "referenced": ("CREATE TABLE {t}_child (id bigint, FOREIGN KEY (id) REFERENCES {t} (id)) ENGINE=InnoDB",
                   "foreign key of another table"),
    "references": ("ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (i) REFERENCES {t}_parent (k)",
                   "foreign keys, which"),
    "view": ("CREATE VIEW {t}_v AS SELECT id, s FROM {t}", "a view names it"),
    "myisam": ("ALTER TABLE {t} ENGINE=MyISAM", "not an InnoDB table"),
}


@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
def test_a_table_with_dependents_is_never_swapped(env, blocker):
    table = _table()
    kept(env, table)
    if blocker == "references":
        env.sql(f"CREATE TABLE {table}_parent (k int PRIMARY KEY) ENGINE=InnoDB",
                f"INSERT INTO {table}_parent SELECT DISTINCT i FROM src WHERE i IS NOT NULL",
                f"UPDATE {table} SET i = NULL")
    statement, why = BLOCKERS[blocker]
    env.sql(statement.format(t=table))
    before = shape(env, table)
    path = run(env, table, **CLEAR)
    assert path.startswith("staged:") and why in path, path
    assert data.checksums(env.rows("my", table)) == EXPECTED and shape(env, table) == before
    assert env.stages() == []


def xa_prepared(env) -> list:
    return [r for r in env.sql("XA RECOVER") if b"opencdm:" in bytes(r[3])]


def test_an_append_writes_once_into_the_table_in_xa_transactions_committed_together(env):
    table = _table()
    kept(env, table)
    before = env.rows("my", table)
    extractor, loader = start(env, table)
    assert loader.write_path.startswith("two-phase:"), loader.write_path
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(3)]
    assert len(xa_prepared(env)) == 3 and env.rows("my", table) == before  # on disk, invisible
    loader.commit(results)
    assert len(env.rows("my", table)) == len(data.rows()) + 2 and xa_prepared(env) == [] and env.stages() == []


def test_an_abort_before_the_decision_rolls_every_partition_back(env):
    table = _table()
    kept(env, table)
    before = env.rows("my", table)
    extractor, loader = start(env, table)
    parts = extractor.partitions(3)
    loader.load(parts[0], extractor.extract(parts[0]))
    with pytest.raises(LoadFailed, match="loads reported"):
        loader.commit([LoadResult(parts[0].index, 1)])  # a count the prepared partition does not have
    loader.abort()
    assert env.rows("my", table) == before and xa_prepared(env) == [] and env.stages() == []


def test_a_retried_partition_is_found_prepared_and_not_written_again(env):
    table = _table()
    kept(env, table)
    extractor, loader = start(env, table)
    parts = extractor.partitions(2)
    results = [loader.load(p, extractor.extract(p)) for p in parts]
    retry = JDBC.loader(env.link(), to_job(env, table), env.ctx, loader.run_id)  # a worker of the same run
    assert retry.load(parts[0], extractor.extract(parts[0])) == results[0]
    loader.commit(results + [results[0]])
    assert len(env.rows("my", table)) == len(data.rows()) + 2 and xa_prepared(env) == []


def test_an_abort_after_the_decision_commits_the_rest(env):
    table = _table()
    kept(env, table)
    extractor, loader = start(env, table)
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    ledger = f"`{env.db}`.`{loader.ledger}`"
    env.sql(f"INSERT INTO {ledger} (part, `rows`) VALUES (-2, 1)")  # the commit decided, then died
    loader.abort()
    assert len(env.rows("my", table)) == sum(r.rows for r in results) + 2 and xa_prepared(env) == []
    assert env.stages() == []


@pytest.mark.parametrize("obstacle", ["myisam", "column order"])
def test_an_append_that_cannot_be_prepared_is_staged(env, obstacle):
    table = _table()
    kept(env, table)
    if obstacle == "myisam":
        env.sql(f"ALTER TABLE {table} ENGINE=MyISAM")
    else:
        env.sql(f"ALTER TABLE {table} MODIFY s text AFTER b")
    path = run(env, table)
    assert path.startswith("staged:") and ("InnoDB" in path or "table order" in path), path
    assert len(env.rows("my", table)) == len(data.rows()) + 2 and env.stages() == []


@pytest.mark.parametrize("prep", ["DROP_AND_CREATE", "DO_NOTHING"])
def test_a_load_that_fails_midway_leaves_the_target_and_nothing_else(env, prep):
    table = _table()
    kept(env, table)
    before = env.rows("my", table)
    extractor, loader = start(env, table, prep, **CLEAR)
    assert loader.write_path.startswith(("owned:", "swap:")), loader.write_path
    parts = extractor.partitions(2)
    loader.load(parts[0], extractor.extract(parts[0]))
    first = list(extractor.extract(parts[1]))

    def dies_midway():
        yield first[0].slice(0, 5)
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        loader.load(parts[1], dies_midway())
    with pytest.raises(LoadFailed, match="loads reported"):
        loader.commit([LoadResult(parts[0].index, 1)])  # the ledger disagrees: nothing is renamed in
    assert env.rows("my", table) == before
    loader.abort()
    assert env.rows("my", table) == before and env.stages() == []


def test_a_table_that_grows_a_dependent_during_the_run_is_kept_and_refilled(env):
    table = _table()
    kept(env, table)
    extractor, loader = start(env, table, **CLEAR)
    assert loader.write_path.startswith("swap:")
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    env.sql(f"CREATE VIEW {table}_late AS SELECT id FROM {table}")
    loader.commit(results)
    assert data.checksums(env.rows("my", table)) == EXPECTED
    assert env.sql(f"SELECT COUNT(*) FROM {table}_late")[0][0] == len(data.rows())
    assert env.stages() == []
