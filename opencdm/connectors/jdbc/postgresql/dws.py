"""GaussDB(DWS): the PostgreSQL protocol and types, plus DWS table options on auto-create.

``toJobConfig.orientation`` (``ROW`` | ``COLUMN``) and ``toJobConfig.isCompress`` become the
``WITH (ORIENTATION = ..., COMPRESSION = ...)`` options of a table the job creates. Without them the
DDL is plain PostgreSQL, which DWS also accepts (row store, its default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencdm.connectors import config
from opencdm.connectors.jdbc.postgresql import PostgresDialect

ORIENTATIONS = ("ROW", "COLUMN")


class DwsDialect(PostgresDialect):
    # Same name as PostgreSQL on purpose: declared types travel unchanged between the two.
    name = "postgresql"

    def table_options(self, job: Mapping[str, Any]) -> str:
        options = []
        orientation = config.get_str(job, "toJobConfig.orientation")
        if orientation:
            orientation = orientation.upper()
            if orientation not in ORIENTATIONS:
                raise config.invalid("toJobConfig.orientation", orientation, "ROW or COLUMN")
            options.append(f"ORIENTATION = {orientation}")
        if config.get_bool(job, "toJobConfig.isCompress"):
            options.append("COMPRESSION = " + ("MIDDLE" if orientation == "COLUMN" else "YES"))
        return f" WITH ({', '.join(options)})" if options else ""
