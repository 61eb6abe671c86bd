"""``elasticsearch-connector``: Elasticsearch 7/8 and OpenSearch (CSS is either) over their JSON HTTP
API (``client``). It reads with sliced scrolls (``extract``) and writes through a staging index copied
into the target at commit (``load``).
"""

from __future__ import annotations

from opencdm.connectors import register
from opencdm.connectors.base import Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.search.client import SearchClient
from opencdm.connectors.search.extract import EsExtractor
from opencdm.connectors.search.load import EsLoader
from opencdm.connectors.search.options import FROM_INPUTS, LINK_INPUTS, TO_INPUTS, EsFrom, EsLink, EsTo
from opencdm.errors import LinkError


@register
class ElasticsearchConnector(Connector):
    name = "elasticsearch-connector"
    appends = True
    resumable = True
    link_config, from_config, to_config = EsLink, EsFrom, EsTo
    link_inputs, from_inputs, to_inputs = LINK_INPUTS, FROM_INPUTS, TO_INPUTS
    records_dirty = True
    macro_inputs = frozenset({"fromJobConfig.index", "fromJobConfig.queryString", "toJobConfig.index"})

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> str:
        es = EsLink.parse(link)
        with SearchClient(es.hosts, es.https, es.auth, ctx, timeout=10) as client:
            info = client.call("GET", "/", failure=LinkError) or {}
        version = info.get("version") or {}
        if not version.get("number"):
            raise LinkError("The host answered, but not as Elasticsearch or OpenSearch.")
        product = "OpenSearch" if version.get("distribution") == "opensearch" else "Elasticsearch"
        return f"{product} {version['number']}"

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return EsExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return EsLoader(link, job, ctx, run_id)
