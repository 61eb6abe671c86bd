"""``generic-jdbc-connector``: relational databases, one ``Dialect`` per ``linkConfig.databaseType``.

The flow is the same for every dialect. The extractor reads ``SELECT cols FROM table WHERE
(whereClause) AND <key range>``. The loader writes each partition into a stage table named
from the run id, idempotently per partition, and ``commit`` applies ``tablePreparation``, the
clearing options and the move from stage to target in one transaction, so a failed or killed
run leaves the target as it was (see ``JdbcLoader`` and ``opencdm.connectors.jdbc.staging``).
"""

from __future__ import annotations

from opencdm.connectors import config, register
from opencdm.connectors.base import BatchItem, Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.jdbc import batch
from opencdm.connectors.jdbc.dialect import DIALECTS, dialect_for  # noqa: F401 (public)
from opencdm.connectors.jdbc.extract import JdbcExtractor
from opencdm.connectors.jdbc.load import JdbcLoader
from opencdm.connectors.jdbc.options import BEFORE_IMPORT, PREPARATIONS, JdbcFrom, JdbcLink, JdbcTo  # noqa: F401
from opencdm.connectors.jdbc.options import FROM_INPUTS, LINK_INPUTS, TO_INPUTS
from opencdm.errors import InvalidInput


@register
class GenericJdbcConnector(Connector):
    """Relational databases over their native drivers (the CDM name says JDBC; no JVM is involved)."""

    name = "generic-jdbc-connector"
    appends = True
    resumable = True
    link_config, from_config, to_config = JdbcLink, JdbcFrom, JdbcTo
    link_inputs, from_inputs, to_inputs = LINK_INPUTS, FROM_INPUTS, TO_INPUTS
    records_dirty = True
    macro_inputs = frozenset({"fromJobConfig.schemaName", "fromJobConfig.tableName", "fromJobConfig.whereClause",
                              "fromJobConfig.sql", "toJobConfig.schemaName", "toJobConfig.tableName",
                              "toJobConfig.whereClause"})
    #: Tuning inputs a stored password may be kept across (any other change needs the password again).
    unbound_inputs = frozenset({"linkConfig.fetchSize", "linkConfig.commitSize", "linkConfig.usingNative"})

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> None:
        dialect = dialect_for(link, ctx)
        dialect.validate()
        dialect.check()

    def uses_sql(self, job: Inputs) -> bool:
        return config.get_bool(job, "fromJobConfig.useSql")

    def batch_items(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> list[BatchItem]:
        return batch.items(link, job, ctx)

    def batch_job(self, job: Inputs, item: str, direction: str) -> Inputs:
        return batch.sub_job(job, item, direction)

    def dirty_job(self, target: str, create: bool, bucket: str | None = None) -> Inputs:
        if bucket:
            raise InvalidInput("throttlingConfig.obsBucket: a database link has no buckets.", code="Cdm.0014")
        return {"toJobConfig.tableName": target,
                "toJobConfig.tablePreparation": "CREATE_WHEN_NOT_EXIST" if create else "DO_NOTHING"}

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return JdbcExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return JdbcLoader(link, job, ctx, run_id)
