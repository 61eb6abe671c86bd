"""Bad links of the search and stream connectors fail the link check with a CDM error naming the cause:
nothing listening, refused credentials, settings a link may not pass to a client."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.errors import CdmError
from tests.infra.postgres import free_port

CTX = ConnectorContext()


class _Refuses(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a secured cluster turning the credentials down
        body = b'{"error":{"type":"security_exception","reason":"unable to authenticate user [u]"},"status":401}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_elasticsearch_wrong_password_is_named():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(CdmError) as err:
            get("elasticsearch-connector").check_link({
                "linkConfig.host": f"127.0.0.1:{server.server_port}", "linkConfig.linkType": "CSS",
                "linkConfig.safemode": "true", "linkConfig.user": "u", "linkConfig.password": "wrong"}, CTX)
        assert err.value.code == "Cdm.0950" and "credentials" in str(err.value)
    finally:
        server.shutdown()


def test_kafka_unreachable_broker_and_unsafe_properties():
    kafka = get("kafka-connector")
    link = {"linkConfig.brokerList": f"127.0.0.1:{free_port()}", "linkConfig.hadoopType": "Apache Kafka"}
    with pytest.raises(CdmError) as err:
        kafka.check_link(link, CTX)
    assert err.value.code == "Cdm.0901" and "No broker" in str(err.value)
    for key in ("plugin.library.paths", "ssl.ca.location", "sasl.kerberos.kinit.cmd"):
        with pytest.raises(CdmError, match=key):
            kafka.check_link(dict(link, **{"linkConfig.properties": {key: "/tmp/x"}}), CTX)
    with pytest.raises(CdmError, match="linkConfig.user"):  # a DMS SASL_SSL link needs its user and password
        get("dms-kafka-connector").check_link({"linkConfig.brokerList": "127.0.0.1:9093", "linkConfig.kafkaType":
                                               "Platinum", "linkConfig.isPlatinumInstance": "true"}, CTX)


def test_kafka_sasl_password_is_a_sealed_input_not_a_property():
    from opencdm.connectors.kafka.options import KafkaLink

    link = {"linkConfig.brokerList": "127.0.0.1:9092", "linkConfig.hadoopType": "Apache Kafka"}
    with pytest.raises(CdmError, match="linkConfig.password") as err:  # properties are stored and shown as given
        get("kafka-connector").check_link(dict(link, **{"linkConfig.properties": {"sasl.password": "pw"}}), CTX)
    assert err.value.code == "Cdm.0014"
    with pytest.raises(CdmError, match="sasl.username"):  # a password nobody would use is refused, not ignored
        KafkaLink.parse(dict(link, **{"linkConfig.password": "pw-123"}))
    sasl = {"sasl.username": "u", "sasl.mechanisms": "PLAIN", "security.protocol": "SASL_PLAINTEXT"}
    parsed = KafkaLink.parse(dict(link, **{"linkConfig.properties": sasl, "linkConfig.password": "pw-123"}))
    conf = parsed.client_config(CTX)
    assert conf["sasl.password"] == "pw-123" and conf["sasl.username"] == "u" and "pw-123" not in repr(parsed)
    assert "linkConfig.password" in get("kafka-connector").sensitive_inputs


def test_dis_unreachable_endpoint_is_named():
    with pytest.raises(CdmError) as err:
        get("dis-connector").check_link({"linkConfig.region": "r", "linkConfig.endpoint": f"http://127.0.0.1:{free_port()}",
                                         "linkConfig.ak": "a", "linkConfig.sk": "s", "linkConfig.projectId": "p"}, CTX)
    assert err.value.code == "Cdm.0901" and "did not answer" in str(err.value)
