"""``dis-connector``: Huawei Cloud DIS streams over DIS's signed data API (``client``), as a source
(``extract``: per-partition cursors, positions kept by the engine) and a destination (``load``:
PutRecords of CSV-like lines, at least once)."""

from __future__ import annotations

from opencdm.connectors import register
from opencdm.connectors.base import Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.dis.client import DisClient
from opencdm.connectors.dis.extract import DisExtractor
from opencdm.connectors.dis.load import DisLoader
from opencdm.connectors.dis.options import FROM_INPUTS, LINK_INPUTS, TO_INPUTS, DisFrom, DisLink, DisTo
from opencdm.errors import LinkError


@register
class DisConnector(Connector):
    name = "dis-connector"
    sensitive_inputs = frozenset({"linkConfig.sk"})
    link_config, from_config, to_config = DisLink, DisFrom, DisTo
    link_inputs, from_inputs, to_inputs = LINK_INPUTS, FROM_INPUTS, TO_INPUTS
    records_dirty = True
    appends = True

    def permanent(self, link: Inputs, job: Inputs) -> bool:
        return DisFrom.parse(job, DisLink.parse(link)).permanent

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> str:
        dis = DisLink.parse(link)
        with DisClient(dis, ctx, timeout=10) as client:  # lists one stream: proves endpoint, AK/SK and project
            answer = client.call("GET", "/streams", {"limit": 1}, failure=LinkError)
        return f"DIS {dis.region}: {answer.get('total_number', 0)} stream(s)"

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return DisExtractor(link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return DisLoader(link, job, ctx, run_id)
