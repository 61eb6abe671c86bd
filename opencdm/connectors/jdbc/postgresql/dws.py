"""GaussDB(DWS): the PostgreSQL protocol and types, plus DWS table options on auto-create.

``toJobConfig.orientation`` (``ROW`` | ``COLUMN``) and ``toJobConfig.isCompress`` become the
``WITH (ORIENTATION = ..., COMPRESSION = ...)`` options of a table the job creates. Without them the
DDL is plain PostgreSQL, which DWS also accepts (row store, its default).
"""

from __future__ import annotations

from opencdm.connectors.jdbc.options import JdbcTo
from opencdm.connectors.jdbc.postgresql import PostgresDialect


class DwsDialect(PostgresDialect):
    # Same name as PostgreSQL on purpose: declared types travel unchanged between the two.
    name = "postgresql"
    two_phase = False  # its prepared transactions are not relied on: appends are staged

    def table_options(self, to: JdbcTo) -> str:
        options = []
        if to.orientation:
            options.append(f"ORIENTATION = {to.orientation}")
        if to.is_compress:
            options.append("COMPRESSION = " + ("MIDDLE" if to.orientation == "COLUMN" else "YES"))
        return f" WITH ({', '.join(options)})" if options else ""

    def swap_reason(self, conn, schema, table, names) -> str | None:
        # DWS tables carry a distribution and storage layout that LIKE and the catalog queries of the
        # PostgreSQL swap do not reproduce faithfully: kept DWS tables take the staged path.
        return "DWS tables are not rebuilt aside (distribution and storage options)"

    def two_phase_reason(self, conn, schema, table, names, fields, partitions) -> str | None:
        return "DWS appends are staged (its prepared transactions are not relied on)"
