"""A cleared kept PostgreSQL table rebuilt aside and swapped in (``postgresql/swap.py``), on a real server:
every grant, index, constraint, trigger, comment, owner, option and owned sequence survives; a table
anything depends on (a view, a foreign key from another table, a trigger that fires on INSERT) takes the
staged path instead; a failed run leaves the table exactly as it was."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from opencdm.connectors import get
from tests.connectors import jdbc_data as data

JDBC = get("generic-jdbc-connector")
DATA = data.rows(1500)
EXPECTED = data.checksums(DATA)

# What a swap must keep, read from the catalogs by name (oids and file nodes change, nothing else may).
CATALOG = {
    "owner": "SELECT relowner::regrole::text FROM pg_class WHERE oid = %(t)s::regclass",
    "persistence": "SELECT relpersistence FROM pg_class WHERE oid = %(t)s::regclass",
    "options": "SELECT reloptions FROM pg_class WHERE oid = %(t)s::regclass",
    "replica identity": "SELECT relreplident FROM pg_class WHERE oid = %(t)s::regclass",
    "grants": "SELECT array_agg(a::text ORDER BY a::text) FROM pg_class, aclexplode(relacl) a "
              "WHERE pg_class.oid = %(t)s::regclass",
    "column grants": "SELECT array_agg(attname || ':' || attacl::text ORDER BY attname) FROM pg_attribute "
                     "WHERE attrelid = %(t)s::regclass AND attacl IS NOT NULL",
    "columns": "SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull || ' ' || "
               "coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(col_description(a.attrelid, "
               "a.attnum), '') ORDER BY attnum) FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = "
               "a.attrelid AND d.adnum = a.attnum WHERE attrelid = %(t)s::regclass AND attnum > 0 AND NOT attisdropped",
    "indexes": "SELECT array_agg(c.relname || ' ' || replace(pg_get_indexdef(x.indexrelid), %(t)s, 'T') || ' ' || "
               "coalesce(obj_description(c.oid, 'pg_class'), '') || x.indisreplident::text ORDER BY c.relname) "
               "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %(t)s::regclass",
    "constraints": "SELECT array_agg(conname || ' ' || pg_get_constraintdef(oid) || ' ' || "
                   "coalesce(obj_description(oid, 'pg_constraint'), '') ORDER BY conname) FROM pg_constraint "
                   "WHERE conrelid = %(t)s::regclass",
    "triggers": "SELECT array_agg(tgname || ' ' || replace(pg_get_triggerdef(oid), %(t)s, 'T') || ' ' || "
                "tgenabled::text || ' ' || coalesce(obj_description(oid, 'pg_trigger'), '') ORDER BY tgname) "
                "FROM pg_trigger WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal",
    "comment": "SELECT obj_description(%(t)s::regclass, 'pg_class')",
    "sequence": "SELECT array_agg(s.relname || ' ' || a.attname) FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
                "AND s.relkind = 'S' JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
                "WHERE d.refobjid = %(t)s::regclass AND d.deptype = 'a'",
}


class Env(data.PgDatabase):
    def __init__(self, pg, tmp) -> None:
        super().__init__(pg, tmp, DATA)
        self.sql("CREATE TABLE IF NOT EXISTS ref (k bigint PRIMARY KEY)",
                 "INSERT INTO ref SELECT generate_series(1, 5000)")
        for role in ("swap_owner", "swap_reader", "swap_writer"):
            self.sql(f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")

    def catalog(self, table: str) -> dict:
        return {k: self.one(q, {"t": table}) for k, q in CATALOG.items()}

    def snapshot(self, table: str) -> tuple:
        return (self.one(f"SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"),
                self.one(f"SELECT pg_relation_filenode('{table}')"), self.catalog(table))

    def stages(self) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'opencdm_stage%'")]

    def run(self, table: str, fail_after: int | None = None, clear: bool = True, source: str = "src"):
        """Clear ``table`` (or not) and load ``source`` into it (3 partitions); ``fail_after``: abort after
        that many partitions."""
        extractor = JDBC.extractor(self.link, {"fromJobConfig.schemaName": "public",
                                               "fromJobConfig.tableName": source}, self.ctx)
        loader = JDBC.loader(self.link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": table,
                                         "toJobConfig.tablePreparation": "DO_NOTHING",
                                         "toJobConfig.shouldClearTable": str(clear).lower()}, self.ctx,
                             uuid.uuid4().hex)
        loader.prepare(extractor.schema())
        results = []
        for n, part in enumerate(extractor.partitions(3)):
            if fail_after is not None and n == fail_after:
                loader.abort()
                return loader
            results.append(loader.load(part, extractor.extract(part)))
        loader.commit(results)
        return loader


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory) -> Env:
    return Env(pg, tmp_path_factory.mktemp("swap"))


def rich_table(env: Env) -> str:
    """A kept table with everything a swap must carry over, holding rows the job clears."""
    t = f"kept_{uuid.uuid4().hex[:8]}"
    env.sql(
        f"CREATE TABLE {t} (id bigserial PRIMARY KEY, i integer CHECK (i > -60000), n numeric(12,2) DEFAULT 0, "
        f"s text, v varchar(20), ts timestamp, tz timestamptz, d date, b boolean, "
        f"CONSTRAINT {t}_id_ref FOREIGN KEY (id) REFERENCES ref (k), CONSTRAINT {t}_id_i UNIQUE (id, i)) "
        "WITH (fillfactor = 70)",
        f"CREATE INDEX {t}_lower_s ON {t} (lower(s)) WHERE b",
        f"CREATE UNIQUE INDEX {t}_id_v ON {t} (id) INCLUDE (v)",
        f"CREATE FUNCTION {t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        f"CREATE TRIGGER {t}_on_update BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_touch()",
        f"CREATE TRIGGER {t}_on_delete AFTER DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_touch()",
        f"ALTER TABLE {t} DISABLE TRIGGER {t}_on_delete",
        f"COMMENT ON TABLE {t} IS 'the warehouse copy'",
        f"COMMENT ON COLUMN {t}.s IS 'a text'",
        f"COMMENT ON INDEX {t}_lower_s IS 'lowercase lookups'",
        f"COMMENT ON CONSTRAINT {t}_id_i ON {t} IS 'a pair'",
        f"COMMENT ON CONSTRAINT {t}_i_check ON {t} IS 'a range'",
        f"COMMENT ON TRIGGER {t}_on_update ON {t} IS 'touch'",
        f"ALTER TABLE {t} ALTER COLUMN v SET (n_distinct = 100)",
        f"ALTER TABLE {t} REPLICA IDENTITY USING INDEX {t}_id_v",
        f"INSERT INTO {t} (id, s, v) VALUES (1, 'old', 'x'), (2, 'old', 'y')",
        f"SELECT setval('{t}_id_seq', 12345)",
        f"ALTER TABLE {t} OWNER TO swap_owner",
        f"GRANT SELECT ON {t} TO swap_reader",
        f"GRANT SELECT, INSERT ON {t} TO swap_writer WITH GRANT OPTION",
        f"GRANT UPDATE (s, v) ON {t} TO swap_reader",
        f"GRANT SELECT ON {t} TO PUBLIC",
    )
    return t


def test_swap_keeps_everything_but_the_rows(env):
    t = rich_table(env)
    before = env.catalog(t)
    node = env.one(f"SELECT pg_relation_filenode('{t}')")
    loader = env.run(t)
    assert loader.write_path.startswith("swap:"), loader.write_path
    assert data.checksums(data.pg_rows(env.dsn, t)) == EXPECTED  # the old rows are gone, the new ones exact
    assert env.one(f"SELECT pg_relation_filenode('{t}')") != node  # a new table took the old one's place
    after = env.catalog(t)
    for key in CATALOG:
        assert after[key] == before[key], key
    assert env.one(f"SELECT last_value FROM {t}_id_seq") == 12345  # the serial's sequence, kept and still owned
    assert env.stages() == []


@pytest.mark.parametrize("blocker", ["view", "foreign key", "insert trigger", "rule"])
def test_a_table_others_depend_on_is_never_swapped(env, blocker):
    t = rich_table(env)
    audit = f"{t}_audit"
    statements = {
        "view": [f"CREATE VIEW {t}_v AS SELECT id FROM {t}"],
        "foreign key": [f"CREATE TABLE {t}_child (id bigint REFERENCES {t} (id))"],
        "insert trigger": [f"CREATE TABLE {audit} (n int)",
                           f"CREATE FUNCTION {t}_count() RETURNS trigger LANGUAGE plpgsql AS "
                           f"$$ BEGIN INSERT INTO {audit} VALUES (1); RETURN NEW; END $$",
                           f"CREATE TRIGGER {t}_on_insert AFTER INSERT ON {t} FOR EACH ROW "
                           f"EXECUTE FUNCTION {t}_count()"],
        "rule": [f"CREATE RULE {t}_r AS ON DELETE TO {t} DO INSTEAD NOTHING"],
    }[blocker]
    env.sql(*statements)
    before = env.catalog(t)
    loader = env.run(t)
    assert loader.write_path.startswith("staged:"), loader.write_path
    assert data.checksums(data.pg_rows(env.dsn, t)) == EXPECTED
    assert env.catalog(t) == before
    if blocker == "insert trigger":  # the staged path's INSERT fired it for every row
        assert env.one(f"SELECT count(*) FROM {audit}") == len(DATA)
    assert env.stages() == []


def test_a_swap_that_fails_leaves_the_table_as_it_was(env):
    t = rich_table(env)
    before = env.snapshot(t)
    loader = env.run(t, fail_after=2)
    assert loader.write_path.startswith("swap:")
    assert env.snapshot(t) == before and env.stages() == []


def test_a_table_that_grows_a_dependent_during_the_run_is_not_swapped(env):
    """The commit looks again under its lock: a view created since prepare sends the rows the staged way."""
    t = rich_table(env)
    extractor = JDBC.extractor(env.link, {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src"},
                               env.ctx)
    loader = JDBC.loader(env.link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": t,
                                    "toJobConfig.shouldClearTable": "true"}, env.ctx, uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    assert loader.write_path.startswith("swap:")
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    env.sql(f"CREATE VIEW {t}_late AS SELECT id, s FROM {t}")
    before = env.catalog(t)
    loader.commit(results)
    assert data.checksums(data.pg_rows(env.dsn, t)) == EXPECTED
    assert env.one(f"SELECT count(*) FROM {t}_late") == len(DATA)  # the view still works, on the same table
    assert env.catalog(t) == before and env.stages() == []


def test_appending_to_an_empty_table_swaps_and_to_a_full_one_does_not(env):
    t = rich_table(env)
    env.sql(f"DELETE FROM {t}")
    before = env.catalog(t)
    loader = env.run(t, clear=False)
    assert loader.write_path.startswith("swap:"), loader.write_path
    assert data.checksums(data.pg_rows(env.dsn, t)) == EXPECTED and env.catalog(t) == before
    env.sql("CREATE TABLE IF NOT EXISTS src_more AS SELECT id + 2000 AS id, i, n, s, v, ts, tz, d, b FROM src")
    loader = env.run(t, clear=False, source="src_more")  # the table now has rows: they stay, the new ones join
    assert loader.write_path.startswith("two-phase:"), loader.write_path  # (test_twophase.py)
    assert env.one(f"SELECT count(*) FROM {t}") == 2 * len(DATA) and env.catalog(t) == before
    assert env.stages() == []


def test_rows_that_appear_during_the_run_are_kept(env):
    """Empty at prepare, not at commit (someone inserted meanwhile): the commit appends instead of swapping."""
    t = rich_table(env)
    env.sql(f"DELETE FROM {t}")
    extractor = JDBC.extractor(env.link, {"fromJobConfig.schemaName": "public", "fromJobConfig.tableName": "src"},
                               env.ctx)
    loader = JDBC.loader(env.link, {"toJobConfig.schemaName": "public", "toJobConfig.tableName": t}, env.ctx,
                         uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    assert loader.write_path.startswith("swap:")
    results = [loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)]
    env.sql(f"INSERT INTO {t} (id, s) VALUES (4999, 'meanwhile')")
    loader.commit(results)
    assert env.one(f"SELECT count(*) FROM {t}") == len(DATA) + 1
    assert env.one(f"SELECT s FROM {t} WHERE id = 4999") == "meanwhile"
