"""Finding 9: replays of signed state-changing requests, and where links may connect (egress).

SigV4 and CDM accept a signed request again within its 15-minute window. opencdm remembers the
signatures of state-changing requests in the metadata store, so a replay is refused by every server
of a deployment; a request the server refused (4xx) changed nothing and may be sent again.
"""

from __future__ import annotations

import time

import httpx
import pytest

from opencdm.client import CdmClient
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.jdbc.postgresql import PostgresDialect
from opencdm.errors import InvalidInput
from opencdm.signing import sign
from tests.infra.fake_pg import FakePostgres
from tests.infra.server import make_server
from tests.security.bodies import expect, link, new_cluster

P = "ffff5555ffff5555ffff5555ffff5555"


def signed(client: CdmClient, method: str, path: str, body: bytes) -> tuple[str, dict]:
    """One signed request (URL and headers), to be sent as many times as a test likes."""
    raw_path = f"/v1.1/{P}{path}"
    headers = {"Host": client.endpoint.split("//")[1], "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
               "Content-Type": "application/json;charset=utf-8", "User-Agent": "replay-test", "X-Project-Id": P}
    headers["Authorization"] = sign(method, raw_path, "", headers, body, client.ak, client.sk)
    return raw_path, headers


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, pg):
    """Two API servers on one PostgreSQL metadata store (as behind a load balancer)."""
    url = pg.dsn(pg.create_database())
    first = make_server(tmp_path_factory.mktemp("replay-a"), url)
    second = make_server(tmp_path_factory.mktemp("replay-b"), url)
    first.start()
    second.env["OPENCDM_SECRET_KEY_FILE"] = str(first.data_dir / "secret.key")  # one key per deployment
    second.start()
    client = CdmClient(first.url, *first.credentials(P), P)
    yield first, second, client
    first.stop()
    second.stop()


def test_a_replayed_request_is_refused_by_every_server(two_servers):
    first, second, client = two_servers
    body = b'{"cluster": {"name": "once", "vpcId": "v"}}'
    path, headers = signed(client, "POST", "/clusters", body)
    assert httpx.post(first.url + path, content=body, headers=headers).status_code == 202
    for server in (first, second):
        resp = httpx.post(server.url + path, content=body, headers=headers)
        assert expect(resp, 401, "APIGW.0301")["error_msg"].endswith("sign every request anew")
    names = [c["name"] for c in client.call("GET", "/clusters")["clusters"]]
    assert names.count("once") == 1
    # reads are harmless to repeat
    path, headers = signed(client, "GET", "/clusters", b"")
    assert [httpx.get(s.url + path, headers=headers).status_code for s in (first, second, first)] == [200] * 3


def test_a_refused_request_may_be_retried(two_servers):
    first, _second, client = two_servers
    cid = new_cluster(client, "retry")
    body = b'{"links": [{"name": "l", "connector-name": "nosuch-connector", "link-config-values": {"configs": []}}]}'
    path, headers = signed(client, "POST", f"/clusters/{cid}/cdm/link", body)
    for _ in range(2):  # a 4xx changed nothing: the client may send it again and gets the same answer
        expect(httpx.post(first.url + path, content=body, headers=headers), 400, "Cdm.0102")


def test_egress_allow_list(tmp_path, pg):
    """Links reach only the operator's allowed hosts and networks; nothing is connected otherwise, so
    the answer is the same whether anything listens there or not."""
    fake = FakePostgres()
    server = make_server(tmp_path)
    server.env["OPENCDM_LINK_EGRESS_ALLOW"] = '["192.0.2.0/24", "db.example.com"]'
    server.start()
    try:
        client = CdmClient(server.url, *server.credentials(P), P)
        cid = new_cluster(client, "egress")
        inputs = pg.link_inputs(pg.create_database())
        closed = dict(inputs, **{"linkConfig.port": "1"})
        listening = dict(inputs, **{"linkConfig.port": str(fake.port), "linkConfig.password": "x"})
        messages = {expect(client.request("POST", f"/clusters/{cid}/cdm/link", link("l", i)), 400,
                           "Cdm.0014")["error_msg"] for i in (inputs, closed, listening)}
        assert len(messages) == 1 and "OPENCDM_LINK_EGRESS_ALLOW" in messages.pop()
        assert fake.connections == 0
    finally:
        server.stop()
        fake.close()
    server = make_server(tmp_path / "open")
    server.env["OPENCDM_LINK_EGRESS_ALLOW"] = '["127.0.0.0/8"]'
    server.start()
    try:
        client = CdmClient(server.url, *server.credentials(P), P)
        cid = new_cluster(client, "egress")
        client.call("POST", f"/clusters/{cid}/cdm/link", link("l", dict(inputs, **{"linkConfig.host": "localhost"})))
    finally:
        server.stop()


def test_egress_applies_at_every_connection(pg):
    """A link saved before the operator narrowed the list is refused when it connects, on workers too."""
    inputs = pg.link_inputs(pg.create_database())
    allowed = ConnectorContext(egress=("127.0.0.1/32",))
    with PostgresDialect(inputs, allowed).connect(InvalidInput) as conn:
        assert PostgresDialect(inputs, allowed).query(conn, "SELECT 1") == [(1,)]
    narrowed = ConnectorContext(egress=("10.0.0.0/8",))
    with pytest.raises(InvalidInput, match="OPENCDM_LINK_EGRESS_ALLOW"):
        with PostgresDialect(inputs, narrowed).connect(InvalidInput):
            pass
