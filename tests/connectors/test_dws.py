"""DWS: the PostgreSQL dialect plus DWS table options on auto-create (checked against a real PostgreSQL)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from opencdm import connectors
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.jdbc.options import JdbcTo
from opencdm.connectors.jdbc.postgresql.dws import DwsDialect
from opencdm.errors import CdmError, InvalidInput

CTX = ConnectorContext()


def dws(pg, db: str) -> dict:
    return {**pg.link_inputs(db), "linkConfig.databaseType": "DWS"}


def test_table_options():
    link = {"linkConfig.databaseType": "DWS", "linkConfig.host": "h", "linkConfig.port": "8000",
            "linkConfig.username": "u", "linkConfig.password": "p"}
    dialect = DwsDialect(link, CTX)

    def to(**inputs) -> JdbcTo:
        return JdbcTo.parse({"toJobConfig.tableName": "t", **inputs}, dialect.link)

    assert dialect.table_options(to()) == ""
    assert dialect.table_options(to(**{"toJobConfig.orientation": "column", "toJobConfig.isCompress": "true"})) \
        == " WITH (ORIENTATION = COLUMN, COMPRESSION = MIDDLE)"
    assert dialect.table_options(to(**{"toJobConfig.isCompress": True})) == " WITH (COMPRESSION = YES)"
    with pytest.raises(InvalidInput):  # refused when the job is created, not when the table is
        to(**{"toJobConfig.orientation": "DIAGONAL"})


def test_dws_table_options_are_refused_elsewhere():
    """On PostgreSQL (or MySQL) a column store or compression would be silently ignored: refused instead."""
    link = {"linkConfig.databaseType": "POSTGRESQL", "linkConfig.host": "h", "linkConfig.port": "5432",
            "linkConfig.username": "u", "linkConfig.password": "p"}
    parsed = DwsDialect(link, CTX).link  # the link as any dialect parses it
    for inputs in ({"toJobConfig.orientation": "COLUMN"}, {"toJobConfig.isCompress": "true"}):
        with pytest.raises(InvalidInput, match="DWS table options") as err:
            JdbcTo.parse({"toJobConfig.tableName": "t", **inputs}, parsed)
        assert err.value.code == "Cdm.0014"
    plain = JdbcTo.parse({"toJobConfig.tableName": "t", "toJobConfig.orientation": "ROW",
                          "toJobConfig.isCompress": "false"}, parsed)  # what every table is: accepted
    assert plain.orientation == "ROW" and not plain.is_compress


def _copy(pg, db: str, table: str, **to):
    jdbc = connectors.get("generic-jdbc-connector")
    extractor = jdbc.extractor(pg.link_inputs(db), {"fromJobConfig.tableName": "src"}, CTX)
    loader = jdbc.loader(dws(pg, db), {"toJobConfig.tableName": table,
                                       "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST", **to}, CTX,
                         uuid.uuid4().hex)
    loader.prepare(extractor.schema())
    try:
        loader.commit([loader.load(p, extractor.extract(p)) for p in extractor.partitions(2)])
    except BaseException:
        loader.abort()
        raise


def test_dws_link_moves_data_and_options_reach_the_ddl(pg):
    db = pg.create_database()
    with psycopg.connect(pg.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE src (id bigint PRIMARY KEY, amount numeric(12,2), note text)")
        conn.execute("INSERT INTO src SELECT g, g / 7.0, 'n' || g FROM generate_series(1, 500) g")
    connectors.get("generic-jdbc-connector").check_link(dws(pg, db), CTX)
    _copy(pg, db, "plain")
    with psycopg.connect(pg.dsn(db)) as conn:
        assert conn.execute("SELECT count(*), sum(amount) FROM plain").fetchone() == \
            conn.execute("SELECT count(*), sum(amount) FROM src").fetchone()
    # PostgreSQL has no column store: it refuses the DWS option, which shows the option is in the DDL
    with pytest.raises(CdmError, match="(?i)orientation"):
        _copy(pg, db, "columnar", **{"toJobConfig.orientation": "COLUMN"})
