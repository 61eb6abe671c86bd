"""``elasticsearch-connector``: Elasticsearch 7/8 and OpenSearch (CSS is either) over their JSON HTTP
API (``client``). This step reads (``extract``): sliced scrolls, ``columnList`` with CDM's
``name:type`` pairs or the index mapping, ``queryString``, ``splitNestedField``. Writing comes next;
until then the connector is FROM-only and a job that writes to it is refused (Cdm.0061).
"""

from __future__ import annotations

from opencdm.connectors import register
from opencdm.connectors.base import Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.search.client import SearchClient
from opencdm.connectors.search.extract import EsExtractor
from opencdm.connectors.search.options import EsFrom, EsLink
from opencdm.errors import LinkError


@register
class ElasticsearchConnector(Connector):
    name = "elasticsearch-connector"
    link_config, from_config = EsLink, EsFrom
    directions = frozenset({"from"})

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> None:
        es = EsLink.parse(link)
        with SearchClient(es.hosts, es.https, es.auth, ctx, timeout=10) as client:
            info = client.call("GET", "/", failure=LinkError) or {}
        version = info.get("version") or {}
        if not version.get("number"):
            raise LinkError("The host answered, but not as Elasticsearch or OpenSearch.")

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return EsExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        raise NotImplementedError("elasticsearch-connector does not write yet")
