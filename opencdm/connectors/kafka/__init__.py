"""``kafka-connector`` (Apache Kafka, MRS) and ``dms-kafka-connector`` (DMS: SASL_SSL with user and
password): stream sources read with confluent-kafka (``extract``). Neither writes: CDM's Kafka
connectors are sources, and a job that writes to one is refused."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from opencdm.connectors import register
from opencdm.connectors.base import Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.kafka.extract import KafkaExtractor
from opencdm.connectors.kafka.options import DMS_LINK_INPUTS, FROM_INPUTS, LINK_INPUTS, KafkaFrom, KafkaLink
from opencdm.errors import LinkUnreachable


@register
class KafkaConnector(Connector):
    name = "kafka-connector"
    link_config, from_config = KafkaLink, KafkaFrom
    link_inputs, from_inputs = LINK_INPUTS, FROM_INPUTS
    directions = frozenset({"from"})
    dms = False

    def permanent(self, link: Inputs, job: Inputs) -> bool:
        return KafkaFrom.parse(job, KafkaLink.parse(link, self.dms)).permanent

    def check_job(self, link: Inputs, job: Inputs, direction: str, ctx: ConnectorContext) -> None:
        if direction == "from":
            KafkaFrom.parse(job, KafkaLink.parse(link, self.dms))
        else:
            super().check_job(link, job, direction, ctx)

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> str:
        conf = KafkaLink.parse(link, self.dms).client_config(ctx)
        try:
            meta = AdminClient(conf).list_topics(timeout=5)
        except KafkaException as exc:
            raise LinkUnreachable(f"No broker of linkConfig.brokerList answered: {exc.args[0]}") from None
        return f"Kafka cluster {meta.cluster_id or ''} with {len(meta.brokers)} broker(s)".replace("  ", " ")

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return KafkaExtractor(link, job, ctx, self.dms)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        raise NotImplementedError(f"{self.name} is a source only")


@register
class DmsKafkaConnector(KafkaConnector):
    name = "dms-kafka-connector"
    sensitive_inputs = frozenset({"linkConfig.password"})
    link_inputs = DMS_LINK_INPUTS
    dms = True
