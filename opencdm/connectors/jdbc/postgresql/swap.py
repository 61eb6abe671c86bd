"""Filling a kept PostgreSQL table by building its replacement aside and swapping it in.

A job that clears a table it keeps (``shouldClearTable``), or appends to one that is empty, would
otherwise write every row twice: into an unlogged stage, then (``TRUNCATE`` +) ``INSERT ... SELECT``
into the target, maintaining its indexes row by row. When nothing outside the table depends on it,
the stage is instead created as the table's twin (``LIKE`` with defaults, NOT NULLs, CHECKs, generated columns, storage,
compression, statistics targets; logged, no index), the partitions load straight into it, and the
commit — one transaction, the target locked ``ACCESS EXCLUSIVE`` — builds the twin's indexes and
constraints after the rows are in, gives it the target's outgoing foreign keys, triggers, comments,
grants (table and column), owner, storage options and replica identity, hands the sequences the
target's columns own over to it, drops the target and renames the twin, its indexes and constraints
to the old names. Each row is written once, and a failed, stopped or killed run never touched the
target: until the commit it only exists aside.

``reason`` says why a table must not take this path (then the staged path runs, as before): a view,
rule, policy, publication, statistics object, foreign key from another table, or anything else that
depends on the table or its row type (it would be dropped with it, or block the drop); a trigger that
fires on INSERT or TRUNCATE (the staged path fires it, a swap would not); identity columns (a new
table restarts them); partitioned, inherited, typed or foreign tables; or a table the job's user
does not own (only its owner can drop it). The job must also load every column, in table order.
"""

from __future__ import annotations

from typing import Any, Sequence

from opencdm.connectors.jdbc.sqltext import quote_ident
from opencdm.errors import LoadFailed

_TABLE = """
SELECT c.oid, c.relkind, c.relpersistence, c.reltype, c.relreplident, c.relrowsecurity, c.relforcerowsecurity,
       pg_catalog.pg_has_role(c.relowner, 'USAGE'), c.relhassubclass, c.relispartition, c.reloftype <> 0,
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
               AND NOT a.attisdropped AND a.attidentity <> ''),
       pg_catalog.array_to_json(ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
               AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum))::text
FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)"""

# Objects that depend on the table or its row type, other than the table's own parts (its indexes,
# constraints, triggers, column defaults, owned sequences, toast table and types).
_DEPENDENTS = """
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
FROM pg_catalog.pg_depend d
WHERE d.refobjid IN ($1::oid, $2::oid) AND d.deptype IN ('n', 'a')
  AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_type'::regclass)
  AND NOT (d.classid = 'pg_catalog.pg_constraint'::regclass AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.oid = d.objid AND k.conrelid = $1::oid
        AND (k.contype <> 'f' OR k.confrelid <> $1::oid)))
  AND NOT (d.classid = 'pg_catalog.pg_trigger'::regclass AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.oid = d.objid AND t.tgrelid = $1::oid AND NOT t.tgisinternal))
  AND NOT (d.classid = 'pg_catalog.pg_attrdef'::regclass)
  AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_index x WHERE x.indexrelid = d.objid AND x.indrelid = $1::oid))
  AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a' AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_class s WHERE s.oid = d.objid AND s.relkind = 'S'))
  AND NOT (d.classid = 'pg_catalog.pg_type'::regclass)
LIMIT 1"""

_FIRING = """
SELECT t.tgname FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = $1::oid AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND (t.tgtype & (4 | 32)) <> 0 LIMIT 1"""

_CONSTRAINTS = """
SELECT k.conname, k.contype, pg_catalog.pg_get_constraintdef(k.oid), pg_catalog.obj_description(k.oid, 'pg_constraint')
FROM pg_catalog.pg_constraint k WHERE k.conrelid = $1::oid AND k.contype IN ('p', 'u', 'x', 'f') ORDER BY k.oid"""

_INDEXES = """
SELECT i.relname, pg_catalog.pg_get_indexdef(x.indexrelid), pg_catalog.obj_description(x.indexrelid, 'pg_class'),
       x.indisreplident
FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::oid AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = x.indexrelid
                                           AND k.conrelid = $1::oid)
ORDER BY x.indexrelid"""

_TRIGGERS = """
SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled, pg_catalog.obj_description(t.oid, 'pg_trigger')
FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1::oid AND NOT t.tgisinternal ORDER BY t.oid"""

_GRANTS = """
SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END,
       a.is_grantable, NULL::text
FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
WHERE c.oid = $1::oid
UNION ALL
SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END,
       a.is_grantable, pg_catalog.quote_ident(t.attname)
FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) a LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
WHERE t.attrelid = $1::oid AND t.attnum > 0 AND NOT t.attisdropped AND t.attacl IS NOT NULL"""

_MISC = """
SELECT pg_catalog.quote_ident(o.rolname), pg_catalog.obj_description(c.oid, 'pg_class'),
       pg_catalog.array_to_string(c.reloptions, ', '), ts.spcname,
       pg_catalog.array_to_json(ARRAY(SELECT pg_catalog.json_build_array(a.attname,
             pg_catalog.col_description(c.oid, a.attnum), pg_catalog.array_to_string(a.attoptions, ', '))
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum))::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace WHERE c.oid = $1::oid"""

_OWNED_SEQUENCES = """
SELECT s.oid::regclass::text, pg_catalog.quote_ident(a.attname)
FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = $1::oid AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'"""


def reason(dialect: Any, conn: Any, qualified: str, names: Sequence[str]) -> str | None:
    """None when ``qualified`` can be rebuilt aside and swapped in; else why not (for the logs and the
    submission)."""
    import json

    rows = dialect.query(conn, _TABLE, [qualified])
    if not rows:
        return "the table does not exist"
    (oid, kind, _persistence, rowtype, _replident, rls, force_rls, owner, parent, partition, typed, child,
     identity, columns) = rows[0]
    if kind != "r" or parent or partition or child or typed:
        return "it is partitioned, inherited, typed or not a plain table"
    if not owner:
        return "the link's user does not own it (only its owner may drop it)"
    if identity:
        return "it has identity columns (a new table would restart them)"
    if rls or force_rls:
        return "it has row-level security"
    if list(names) != json.loads(columns):
        return "the job does not load every column in table order"
    found = dialect.query(conn, _DEPENDENTS, [oid, rowtype])
    if found:
        return f"{found[0][0]} depends on it"
    firing = dialect.query(conn, _FIRING, [oid])
    if firing:
        return f"trigger {firing[0][0]} fires on INSERT or TRUNCATE (a swap would not fire it)"
    return None


def create_stage_sql(dialect: Any, conn: Any, qualified: str, stage: str) -> str:
    """The twin, empty and without indexes (they are built after the rows are in)."""
    oid, persistence = dialect.query(conn, "SELECT oid, relpersistence FROM pg_catalog.pg_class WHERE oid = "
                                           "pg_catalog.to_regclass($1)", [qualified])[0]
    space = dialect.query(conn, _MISC, [oid])[0][3]
    return (f"CREATE {'UNLOGGED ' if persistence == 'u' else ''}TABLE {stage} (LIKE {qualified} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING STATISTICS "
            "INCLUDING COMMENTS)"
            + (f" TABLESPACE {quote_ident(space)}" if space else ""))


def swap(dialect: Any, conn: Any, schema: str | None, stage_name: str, qualified: str, table_name: str) -> None:
    """Inside the commit transaction, the target locked and ``reason`` None: the twin takes its place."""
    import json

    run = dialect.execute
    stage = dialect.table(schema, stage_name)
    oid, replident, acl_null = dialect.query(conn, "SELECT oid, relreplident, relacl IS NULL FROM pg_catalog.pg_class "
                                                   "WHERE oid = pg_catalog.to_regclass($1)", [qualified])[0]
    shown = dialect.query(conn, "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) "
                                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE c.oid = $1::oid", [oid])[0][0]  # as pg_get_indexdef/-triggerdef print it
    owner, comment, options, _space, columns = dialect.query(conn, _MISC, [oid])[0]
    renames: list[tuple[str, str, str]] = []  # (kind, temporary name, original name)
    for n, (name, kind, definition, note) in enumerate(dialect.query(conn, _CONSTRAINTS, [oid])):
        temporary = name if kind == "f" else f"{stage_name}_c{n}"  # index-backed names are schema-wide
        run(conn, f"ALTER TABLE {stage} ADD CONSTRAINT {quote_ident(temporary)} {definition}")
        if kind != "f":
            renames.append(("constraint", temporary, name))
        if note is not None:
            run(conn, f"COMMENT ON CONSTRAINT {quote_ident(temporary)} ON {stage} IS {dialect.inline(note)}")
    identity_index = None
    for n, (name, definition, note, is_replident) in enumerate(dialect.query(conn, _INDEXES, [oid])):
        temporary = f"{stage_name}_i{n}"
        head, tail = _split(definition, shown)
        unique = "UNIQUE " if head.startswith("CREATE UNIQUE INDEX") else ""
        run(conn, f"CREATE {unique}INDEX {quote_ident(temporary)} ON {stage} {tail}")
        renames.append(("index", temporary, name))
        if note is not None:
            run(conn, f"COMMENT ON INDEX {dialect.table(schema, temporary)} IS {dialect.inline(note)}")
        if is_replident:
            identity_index = name
    for name, definition, enabled, note in dialect.query(conn, _TRIGGERS, [oid]):
        head, tail = _split(definition, shown)
        run(conn, f"{head} ON {stage} {tail}")
        if enabled != "O":
            state = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[enabled]
            run(conn, f"ALTER TABLE {stage} {state} TRIGGER {quote_ident(name)}")
        if note is not None:
            run(conn, f"COMMENT ON TRIGGER {quote_ident(name)} ON {stage} IS {dialect.inline(note)}")
    if comment is not None:
        run(conn, f"COMMENT ON TABLE {stage} IS {dialect.inline(comment)}")
    for name, _note, attoptions in json.loads(columns):  # column comments came with LIKE ... INCLUDING COMMENTS
        if attoptions:
            run(conn, f"ALTER TABLE {stage} ALTER COLUMN {quote_ident(name)} SET ({attoptions})")
    if options:
        run(conn, f"ALTER TABLE {stage} SET ({options})")
    run(conn, f"ALTER TABLE {stage} OWNER TO {owner}")
    _copy_grants(dialect, conn, stage, oid, acl_null, owner)
    for sequence, column in dialect.query(conn, _OWNED_SEQUENCES, [oid]):
        run(conn, f"ALTER SEQUENCE {sequence} OWNED BY {stage}.{column}")
    run(conn, f"DROP TABLE {qualified}")
    run(conn, f"ALTER TABLE {stage} RENAME TO {quote_ident(table_name)}")
    for kind, temporary, original in renames:
        if kind == "constraint":
            run(conn, f"ALTER TABLE {qualified} RENAME CONSTRAINT {quote_ident(temporary)} TO {quote_ident(original)}")
        else:
            run(conn, f"ALTER INDEX {dialect.table(schema, temporary)} RENAME TO {quote_ident(original)}")
    if replident == "f":
        run(conn, f"ALTER TABLE {qualified} REPLICA IDENTITY FULL")
    elif replident == "n":
        run(conn, f"ALTER TABLE {qualified} REPLICA IDENTITY NOTHING")
    elif replident == "i" and identity_index:
        run(conn, f"ALTER TABLE {qualified} REPLICA IDENTITY USING INDEX {quote_ident(identity_index)}")


def _split(definition: str, table: str) -> tuple[str, str]:
    """``CREATE ... ON <table> <rest>`` as (``CREATE ...``, ``<rest>``)."""
    head, found, tail = definition.partition(f" ON {table} ")
    if not found:
        raise LoadFailed(f"Cannot rebuild [{definition}] on the new table: the swap is abandoned, the table is "
                         "unchanged.")
    return head, tail


def _copy_grants(dialect: Any, conn: Any, stage: str, oid: Any, acl_null: bool, owner: str) -> None:
    """Make the twin's privileges (table and columns) exactly the target's: what default privileges gave
    the new table is revoked, then the target's grants are repeated."""
    new = dialect.query(conn, "SELECT oid, relacl IS NULL FROM pg_catalog.pg_class WHERE oid = "
                              "pg_catalog.to_regclass($1)", [stage])[0]
    if acl_null and new[1]:
        return  # both hold the owner's default privileges only
    for _privilege, grantee, _grantable, _column in dialect.query(conn, _GRANTS, [new[0]]):
        dialect.execute(conn, f"REVOKE ALL ON {stage} FROM {grantee}")
    if acl_null:  # the target had the default: the owner's full privileges
        dialect.execute(conn, f"GRANT ALL ON {stage} TO {owner}")
        return
    for privilege, grantee, grantable, column in dialect.query(conn, _GRANTS, [oid]):
        on = f"({column}) ON {stage}" if column else f"ON {stage}"
        dialect.execute(conn, f"GRANT {privilege} {on} TO {grantee}{' WITH GRANT OPTION' if grantable else ''}")
