"""The inputs of ``kafka-connector`` and ``dms-kafka-connector`` (spec §10.10, §10.11, §11.11), parsed
once into frozen objects, and the librdkafka configuration they make.

``linkConfig.properties`` passes client settings through, but only those that cannot reach the
server's own files or load code (``ALLOWED_PROPERTIES``): a link is user input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opencdm.connectors import config, egress
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.inputs import boolean, enum, integer, mapping, secret, string
from opencdm.connectors.streams.records import RECORD_INPUTS, RecordFormat
from opencdm.errors import InvalidInput

ALLOWED_PROPERTIES = ("client.id", "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username",
                      "ssl.endpoint.identification.algorithm", "enable.ssl.certificate.verification",
                      "socket.", "fetch.", "receive.message.max.bytes", "message.max.bytes", "request.timeout.ms",
                      "session.timeout.ms", "api.version.request", "broker.version.fallback", "reconnect.backoff",
                      "metadata.max.age.ms", "topic.metadata.refresh.interval.ms", "isolation.level",
                      "client.rack", "connections.max.idle.ms")
STRATEGIES = ("EARLIEST", "LATEST")


@dataclass(frozen=True)
class KafkaLink:
    brokers: tuple[tuple[str, int], ...]
    properties: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sasl_ssl: bool = False

    @classmethod
    def parse(cls, link: Inputs, dms: bool = False) -> KafkaLink:
        config.require(link, "linkConfig.brokerList")
        brokers = config.get_hosts(link, "linkConfig.brokerList", ",")
        if dms:
            config.require(link, "linkConfig.kafkaType")
            config.get_enum(link, "linkConfig.kafkaType", ("Basic", "Platinum"))
            sasl = config.get_bool(link, "linkConfig.isPlatinumInstance")
            if sasl:
                config.require(link, "linkConfig.user", "linkConfig.password")
            return cls(tuple(brokers), (), config.get_str(link, "linkConfig.user"),
                       config.get_secret(link, "linkConfig.password"), sasl)
        config.require(link, "linkConfig.hadoopType")
        kind = config.get_enum(link, "linkConfig.hadoopType", ("Apache Kafka", "MRS"))
        if kind == "MRS" and config.get_str(link, "linkConfig.authType", "Simple") != "Simple":
            raise InvalidInput("linkConfig.authType Kerberos is not supported by opencdm: use Simple.",
                               code="Cdm.0014")
        props = config.get_map(link, "linkConfig.properties")
        for key in props:
            if key == "sasl.password":  # properties are stored and shown as given: a secret goes where it is sealed
                raise InvalidInput("linkConfig.properties cannot hold sasl.password: give it as linkConfig.password, "
                                   "which is stored encrypted and never shown.", code="Cdm.0014")
            if not key.startswith(ALLOWED_PROPERTIES):
                raise InvalidInput(f"linkConfig.properties [{key}] is not a client setting links may set; allowed: "
                                   f"{', '.join(ALLOWED_PROPERTIES)}.", code="Cdm.0014")
        password = config.get_secret(link, "linkConfig.password")
        if password is not None and "sasl.username" not in props:
            raise InvalidInput("linkConfig.password is the SASL password: set sasl.username (and sasl.mechanisms, "
                               "security.protocol) in linkConfig.properties with it.", code="Cdm.0014")
        return cls(tuple(brokers), tuple(sorted(props.items())), password=password)

    def client_config(self, ctx: ConnectorContext) -> dict[str, Any]:
        """librdkafka settings: brokers (checked against the egress allow-list), SASL, passed properties."""
        hosts = [egress.address(h, p, ctx, "linkConfig.brokerList") for h, p in self.brokers]
        conf: dict[str, Any] = {"bootstrap.servers": ",".join(f"{h}:{p}" for h, (_, p) in zip(hosts, self.brokers)),
                                "socket.timeout.ms": 10000, "log_level": 3,
                                # librdkafka waits 1 s after each fetch queue fill by default: a bulk read of a
                                # topic spent most of its time there (1M records: 7.4 s, 1.0 s with 10 ms)
                                "fetch.queue.backoff.ms": 10}
        conf.update(dict(self.properties))
        if self.sasl_ssl:
            conf.update({"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
                         "sasl.username": self.user or "", "sasl.password": self.password or ""})
        elif self.password is not None:  # kafka-connector: the properties name the user and mechanism
            conf["sasl.password"] = self.password
        return conf


@dataclass(frozen=True)
class KafkaFrom:
    topics: tuple[str, ...]
    strategy: str = "EARLIEST"
    permanent: bool = False
    group: str | None = None
    records: RecordFormat = RecordFormat()
    max_poll_records: int = 1000  # records per poll and per batch
    max_poll_interval: float = 10.0  # seconds a cycle reads before it commits

    @classmethod
    def parse(cls, job: Inputs, link: KafkaLink) -> KafkaFrom:
        config.require(job, "fromJobConfig.topicsList")
        topics = tuple(config.get_list(job, "fromJobConfig.topicsList", ","))
        for topic in topics:
            if len(topic) > 249 or not all(c.isalnum() or c in "._-" for c in topic):
                raise config.invalid("fromJobConfig.topicsList", topic, "topic names joined by commas")
        poll = config.get_int(job, "fromJobConfig.maxPollRecords", 1000)
        interval = config.get_int(job, "fromJobConfig.maxPollInterval", 10)
        if not 0 < poll <= 100_000:
            raise config.invalid("fromJobConfig.maxPollRecords", poll, "1 to 100000")
        if not 0 < interval <= 3600:
            raise config.invalid("fromJobConfig.maxPollInterval", interval, "1 to 3600 seconds")
        return cls(topics, config.get_enum(job, "fromJobConfig.kafkaConsumerStrategy", STRATEGIES, "EARLIEST"),
                   config.get_bool(job, "fromJobConfig.isPermanency"), config.get_str(job, "fromJobConfig.groupId"),
                   RecordFormat.parse(job), poll, float(interval))


_BROKERS = string("linkConfig.brokerList", "Brokers as host:port joined by commas.", required=True)
LINK_INPUTS = (
    _BROKERS,
    enum("linkConfig.hadoopType", ("Apache Kafka", "MRS"), "The cluster's kind.", required=True),
    enum("linkConfig.authType", ("Simple",), "MRS: how to authenticate (Kerberos is refused).", default="Simple"),
    mapping("linkConfig.properties", "Client settings, only those in ALLOWED_PROPERTIES (no sasl.password)."),
    secret("linkConfig.password", "SASL password (stored encrypted), with sasl.username in properties."),
)
DMS_LINK_INPUTS = (
    _BROKERS,
    enum("linkConfig.kafkaType", ("Basic", "Platinum"), "The DMS instance's kind.", required=True),
    boolean("linkConfig.isPlatinumInstance", "Connect with SASL_SSL (PLAIN) as user and password."),
    string("linkConfig.user", "SASL user; required when isPlatinumInstance is true."),
    secret("linkConfig.password", "SASL password; required when isPlatinumInstance is true."),
)
FROM_INPUTS = (
    string("fromJobConfig.topicsList", "Topics to read, joined by commas.", required=True),
    enum("fromJobConfig.kafkaConsumerStrategy", STRATEGIES, "Where to start where the group has no committed "
                                                            "offset.", default="EARLIEST"),
    string("fromJobConfig.groupId", "Consumer group: runs start from its committed offsets and commit them."),
    integer("fromJobConfig.maxPollRecords", "Records per poll and per batch, 1 to 100000.", default=1000),
    integer("fromJobConfig.maxPollInterval", "Seconds one cycle reads before it commits, 1 to 3600.", default=10),
    boolean("fromJobConfig.isPermanency", "Keep reading until the run is stopped."),
    *RECORD_INPUTS,
)
