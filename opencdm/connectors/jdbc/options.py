"""The inputs of ``generic-jdbc-connector`` parsed once into frozen objects: the link, the FROM job and
the TO job. ``check_link``/``check_job`` at creation and the extractor, loader and dialects at run
time build them with the same ``parse``, so what a link or job was accepted with is what runs.

Nothing here does I/O. Parsing raises ``InvalidInput`` naming the input (``connectors.config``).
"""

from __future__ import annotations

import re

from collections.abc import Mapping
from dataclasses import dataclass, field

from opencdm.connectors import config
from opencdm.connectors.base import Inputs
from opencdm.connectors.inputs import boolean, enum, integer, mapping, secret, string
from opencdm.connectors.jdbc.sqltext import select_statement, sql_input
from opencdm.errors import InvalidInput

PREPARATIONS = ("DO_NOTHING", "CREATE_WHEN_NOT_EXIST", "DROP_AND_CREATE")
BEFORE_IMPORT = ("none", "shouldClearTable", "whereClause")
#: ``databaseType`` values whose links name a file instead of a server.
FILE_DATABASES = frozenset({"SQLITE"})
#: The ``databaseType`` choices forms offer: the dialects ``jdbc.dialect.DIALECTS`` registers.
DATABASE_TYPES = ("POSTGRESQL", "DWS", "MYSQL", "SQLITE")


@dataclass(frozen=True)
class JdbcLink:
    """``linkConfig.*``: where the database is and how to talk to it."""

    database_type: str
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    use_ssl: bool | None = None  # None: not given (MySQL then uses TLS when the server offers it)
    properties: Mapping[str, str] = field(default_factory=dict)  # jdbcProperties
    fetch_size: int | None = None
    commit_size: int | None = None
    using_native: bool = True

    @property
    def dialect_name(self) -> str:
        """The SQL dialect the database speaks (DWS speaks PostgreSQL's)."""
        from opencdm.connectors.jdbc.dialect import DIALECTS

        return DIALECTS[self.database_type].name

    @classmethod
    def parse(cls, link: Inputs) -> JdbcLink:
        """The link; a databaseType without a registered dialect is refused, naming the supported ones."""
        from opencdm.connectors.jdbc.dialect import DIALECTS  # the registry imports this module

        config.require(link, "linkConfig.databaseType")
        kind = config.get_str(link, "linkConfig.databaseType").upper()
        if kind not in DIALECTS:
            supported = tuple(DIALECTS)
            raise InvalidInput(f"Unsupported linkConfig.databaseType [{kind}]. Supported: "
                               f"{', '.join(supported)}.", code="Cdm.0014")
        if kind in FILE_DATABASES:
            config.require(link, "linkConfig.database")
        else:
            config.require_server(link)
        return cls(
            database_type=kind, host=config.get_str(link, "linkConfig.host"),
            port=config.get_int(link, "linkConfig.port"), username=config.get_str(link, "linkConfig.username"),
            password=config.get_secret(link, "linkConfig.password"),
            database=config.get_str(link, "linkConfig.database"),
            use_ssl=config.get_bool(link, "linkConfig.useSSL") if config.given(link, "linkConfig.useSSL") else None,
            properties=config.get_map(link, "linkConfig.jdbcProperties"),
            fetch_size=config.get_int(link, "linkConfig.fetchSize"),
            commit_size=config.get_int(link, "linkConfig.commitSize"),
            using_native=config.get_bool(link, "linkConfig.usingNative", True),
        )


@dataclass(frozen=True)
class JdbcFrom:
    """``fromJobConfig.*``: a table, tables matching ``*`` patterns, or a query (``useSql``)."""

    sql: str | None
    schema_name: str | None
    table_name: str | None
    where: str | None
    column_list: tuple[str, ...]
    partition_column: str | None
    boundary: str | None
    allow_nulls: bool
    #: Incremental reads (opencdm extension, Sqoop's incrementalRead.checkColumn / lastValue): the column
    #: whose largest migrated value is kept per job, and the value to start after before the first run.
    check_column: str | None = None
    last_value: str | None = None

    @classmethod
    def parse(cls, job: Inputs, link: JdbcLink) -> JdbcFrom:
        """User SQL is checked as the link's database reads it (``sql_input``)."""
        dialect = link.dialect_name
        sql = None
        if config.get_bool(job, "fromJobConfig.useSql"):
            config.require(job, "fromJobConfig.sql")
            sql = select_statement(config.get_str(job, "fromJobConfig.sql"), "fromJobConfig.sql", dialect)
        else:
            config.require(job, "fromJobConfig.tableName")
        boundary = config.get_str(job, "fromJobConfig.boundaryQuery")
        last = config.get_str(job, "fromJobConfig.lastValue")
        if last is not None and (not config.given(job, "fromJobConfig.checkColumn")
                                 or not re.fullmatch(r"[0-9A-Za-z :.+\-]{1,64}", last)):
            raise config.invalid("fromJobConfig.lastValue", last, "a number, date or timestamp, with checkColumn")
        return cls(
            sql=sql, schema_name=config.get_str(job, "fromJobConfig.schemaName"),
            table_name=config.get_str(job, "fromJobConfig.tableName"),
            where=sql_input(config.get_str(job, "fromJobConfig.whereClause"), "fromJobConfig.whereClause", dialect),
            column_list=tuple(config.get_list(job, "fromJobConfig.columnList")),
            partition_column=config.get_str(job, "fromJobConfig.partitionColumn"),
            boundary=select_statement(boundary, "fromJobConfig.boundaryQuery", dialect) if boundary else None,
            allow_nulls=config.get_bool(job, "fromJobConfig.allowNullValueInPartitionColumn", True),
            check_column=config.get_str(job, "fromJobConfig.checkColumn"),
            last_value=config.get_str(job, "fromJobConfig.lastValue"),
        )


@dataclass(frozen=True)
class JdbcTo:
    """``toJobConfig.*``: the target table, how to prepare it and what to clear before loading."""

    schema_name: str | None
    table_name: str
    column_list: tuple[str, ...]
    preparation: str
    clear: bool
    delete_where: str | None
    use_nullable: bool
    extend_chars: bool
    orientation: str | None  # DWS table options on auto-create
    is_compress: bool

    @classmethod
    def parse(cls, job: Inputs, link: JdbcLink) -> JdbcTo:
        dialect = link.dialect_name
        config.require(job, "toJobConfig.tableName")
        before = config.get_enum(job, "toJobConfig.beforeImportType", BEFORE_IMPORT, "none")
        if before == "whereClause":
            config.require(job, "toJobConfig.whereClause")
        where = config.get_str(job, "toJobConfig.whereClause")
        orientation = config.get_enum(job, "toJobConfig.orientation", ("ROW", "COLUMN"))
        compress = config.get_bool(job, "toJobConfig.isCompress")
        if link.database_type != "DWS" and (orientation == "COLUMN" or compress):  # ROW is every table's layout
            raise InvalidInput(f"toJobConfig.orientation=COLUMN and toJobConfig.isCompress=true are DWS table "
                               f"options; a {link.database_type} table cannot take them.", code="Cdm.0014")
        return cls(
            schema_name=config.get_str(job, "toJobConfig.schemaName"),
            table_name=config.get_str(job, "toJobConfig.tableName"),
            column_list=tuple(config.get_list(job, "toJobConfig.columnList")),
            preparation=config.get_enum(job, "toJobConfig.tablePreparation", PREPARATIONS, "DO_NOTHING"),
            clear=before == "shouldClearTable" or config.get_bool(job, "toJobConfig.shouldClearTable"),
            delete_where=sql_input(where, "toJobConfig.whereClause", dialect) if before == "whereClause" else None,
            use_nullable=config.get_bool(job, "toJobConfig.useNullable"),
            extend_chars=config.get_bool(job, "toJobConfig.extendCharLength"),
            orientation=orientation,
            is_compress=compress,
        )


_SERVER = "required unless databaseType is SQLITE"
LINK_INPUTS = (
    enum("linkConfig.databaseType", DATABASE_TYPES, "The database's kind; SQLITE (an opencdm extension) is a file.",
         required=True),
    string("linkConfig.host", f"Host name or address of the database server; {_SERVER}."),
    integer("linkConfig.port", f"TCP port of the database server; {_SERVER}."),
    string("linkConfig.database", "Database name; for SQLITE the file's path (required), relative to the "
                                  "project's file root."),
    string("linkConfig.username", f"User to log in as; {_SERVER}."),
    secret("linkConfig.password", f"Password of the user; {_SERVER}."),
    boolean("linkConfig.useSSL", "Connect with TLS; unset: MySQL uses TLS when the server offers it.", default=None),
    mapping("linkConfig.jdbcProperties", "JDBC driver properties our drivers understand (e.g. currentSchema, "
                                         "connectTimeout, tinyInt1isBit); any other is refused, naming them."),
    integer("linkConfig.fetchSize", "Rows per read batch on MySQL and SQLite.", default=65536),
    integer("linkConfig.commitSize", "Rows per INSERT when MySQL writes without usingNative.", default=10000),
    boolean("linkConfig.usingNative", "MySQL writes with LOAD DATA LOCAL INFILE; false: multi-row INSERTs.",
            default=True),
)
FROM_INPUTS = (
    string("fromJobConfig.schemaName", "Schema of the table; default the link's; * wildcards allowed."),
    string("fromJobConfig.tableName", "Table to read, * wildcards allowed (matching tables are read as one); "
                                      "required unless useSql is true."),
    boolean("fromJobConfig.useSql", "Read the result of the query in sql instead of a table."),
    string("fromJobConfig.sql", "One SELECT or WITH statement; required when useSql is true."),
    string("fromJobConfig.whereClause", "A condition the rows read must meet (SQL, without WHERE)."),
    string("fromJobConfig.columnList", "Columns to read, joined by &; default every column."),
    string("fromJobConfig.partitionColumn", "Column the source is split on; default the single-column primary key."),
    string("fromJobConfig.boundaryQuery", "A SELECT giving the partition column's minimum and maximum."),
    boolean("fromJobConfig.allowNullValueInPartitionColumn", "false: rows whose partition column is NULL are "
                                                             "not read.", default=True),
    string("fromJobConfig.checkColumn", "Incremental reads (opencdm extension): a number, date or timestamp "
                                        "column; each run reads the rows above what the last committed run read."),
    string("fromJobConfig.lastValue", "With checkColumn: the value the first run reads above."),
)
TO_INPUTS = (
    string("toJobConfig.schemaName", "Schema of the target table; default the link's."),
    string("toJobConfig.tableName", "The target table.", required=True),
    string("toJobConfig.columnList", "Target columns the source columns go to, by position, joined by &."),
    enum("toJobConfig.tablePreparation", PREPARATIONS, "Whether the table is created (or dropped and created) "
                                                       "first.", default="DO_NOTHING"),
    enum("toJobConfig.beforeImportType", BEFORE_IMPORT, "Rows deleted at commit before the new ones: none, all "
                                                        "(shouldClearTable) or those matching whereClause.",
         default="none"),
    boolean("toJobConfig.shouldClearTable", "Delete the table's rows at commit, before the new ones."),
    string("toJobConfig.whereClause", "Condition of the rows deleted first; required when beforeImportType is "
                                      "whereClause."),
    boolean("toJobConfig.useNullable", "Copy NOT NULL constraints when the table is created."),
    boolean("toJobConfig.extendCharLength", "Triple character lengths when the table is created."),
    enum("toJobConfig.orientation", ("ROW", "COLUMN"), "DWS: the orientation of a table it creates (COLUMN is "
                                                       "refused on other databases)."),
    boolean("toJobConfig.isCompress", "DWS: compress a table it creates (refused on other databases)."),
)
