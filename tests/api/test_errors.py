"""Every client mistake is a clear 4xx CDM error with the pinned body shape: never a 500."""

from __future__ import annotations

import httpx
import pytest

from opencdm.client import CdmClient
from tests.infra.server import make_server

PROJECT = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
ERROR_KEYS = {"error_code", "error_msg", "code", "message", "errCode", "externalMessage"}


@pytest.fixture(scope="module")
def api(tmp_path_factory, pg):
    server = make_server(tmp_path_factory.mktemp("errors"))
    server.start()
    ak, sk = server.credentials(PROJECT)
    client = CdmClient(server.url, ak, sk, PROJECT)
    cid = client.call("POST", "/clusters", {"cluster": {"name": "errs", "vpcId": "v"}})["id"]
    db = pg.create_database()
    inputs = [{"name": k, "value": v} for k, v in pg.link_inputs(db).items()]
    for name in ("l1", "l2"):
        client.call("POST", f"/clusters/{cid}/cdm/link", {"links": [{
            "name": name, "connector-name": "generic-jdbc-connector",
            "link-config-values": {"configs": [{"name": "linkConfig", "inputs": inputs}]}}]})
    yield client, cid, pg, db
    server.stop()


def job(name="j1", **over):
    body = {"name": name, "from-connector-name": "generic-jdbc-connector", "to-connector-name": "generic-jdbc-connector",
            "from-link-name": "l1", "to-link-name": "l2",
            "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
                {"name": "fromJobConfig.tableName", "value": "t"}]}]},
            "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
                {"name": "toJobConfig.tableName", "value": "t2"},
                {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"}]}]},
            "driver-config-values": {"configs": [{"name": "jarConfig", "inputs": {}}]}}
    body.update(over)
    return body


def expect(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert ERROR_KEYS <= set(body), body
    assert body["error_code"] == body["code"] == body["errCode"]
    assert body["error_msg"] == body["message"] == body["externalMessage"]
    assert resp.headers.get("X-Request-Id")
    if code:
        assert body["error_code"] == code, body
    return body


def test_malformed_json(api):
    client, cid, *_ = api
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", b'{"jobs": [}'), 400, "Cdm.0014")
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", b""), 400)


def test_wrong_types_and_missing_fields(api):
    client, cid, *_ = api
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": "nope"}), 400, "Cdm.0014")
    body = job()
    del body["to-link-name"]
    msg = expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [body]}), 400, "Cdm.0238")["error_msg"]
    assert "to-link-name" in msg
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(name="x" * 241)]}), 400)


def test_unknown_connector_and_config_group(api):
    client, cid, *_ = api
    msg = expect(client.request("POST", f"/clusters/{cid}/cdm/job",
                                {"jobs": [job(**{"from-connector-name": "nosuch-connector"})]}), 400, "Cdm.0102")
    assert "generic-jdbc-connector" in msg["error_msg"]
    bad = job()
    bad["from-config-values"]["configs"][0]["name"] = "fromJobConfg"
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [bad]}), 400, "Cdm.0089")


def test_missing_resources(api):
    client, cid, *_ = api
    expect(client.request("GET", "/clusters/no-such-cluster"), 404)
    expect(client.request("GET", f"/clusters/{cid}/cdm/job/nosuch"), 404, "Cdm.0100")
    expect(client.request("GET", f"/clusters/{cid}/cdm/link/nosuch"), 404, "Cdm.0101")
    expect(client.request("PUT", f"/clusters/{cid}/cdm/job/nosuch/start"), 404, "Cdm.0100")
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job(**{"from-link-name": "ghost"})]}),
           404, "Cdm.0101")


def test_duplicates_and_in_use(api):
    client, cid, *_ = api
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("dup")]})
    expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("dup")]}), 400, "Cdm.0104")
    link = client.call("GET", f"/clusters/{cid}/cdm/link/l1")["links"][0]
    expect(client.request("POST", f"/clusters/{cid}/cdm/link", {"links": [link]}), 400, "Cdm.0315")
    expect(client.request("DELETE", f"/clusters/{cid}/cdm/link/l1"), 400, "Cdm.0321")
    expect(client.request("PUT", f"/clusters/{cid}/cdm/job/dup/stop"), 400, "Cdm.0053")


def test_random_cluster_without_running_cluster_creates_nothing(api):
    client, cid, *_ = api
    body = {"jobs": [job("never")], "clusters": ["ghost-1", "ghost-2"]}
    msg = expect(client.request("POST", "/clusters/job", body), 400, "Cdm.0037")["error_msg"]
    assert "ghost-1" in msg
    # a failure half-way (second job invalid) leaves no job behind either
    body = {"jobs": [job("first_ok"), job("second_bad", **{"to-link-name": "ghost"})], "clusters": [cid]}
    expect(client.request("POST", "/clusters/job", body), 404, "Cdm.0101")
    expect(client.request("GET", f"/clusters/{cid}/cdm/job/first_ok"), 404, "Cdm.0100")


def test_link_that_cannot_connect_is_reported(api):
    client, cid, pg, db = api
    inputs = [{"name": k, "value": v} for k, v in pg.link_inputs(db).items()]
    for item in inputs:
        if item["name"] == "linkConfig.password":
            item["value"] = "wrong-password"
    resp = client.request("POST", f"/clusters/{cid}/cdm/link", {"links": [{
        "name": "badpw", "connector-name": "generic-jdbc-connector",
        "link-config-values": {"configs": [{"name": "linkConfig", "inputs": inputs}]}}]})
    body = expect(resp, 400)
    assert body["validation-result"][0]["linkConfig"][0]["status"] == "ERROR"
    assert "wrong-password" not in resp.text
    expect(client.request("GET", f"/clusters/{cid}/cdm/link/badpw"), 404, "Cdm.0101")


def test_empty_inputs_object_is_accepted_and_returned_as_list(api):
    client, cid, *_ = api
    body = job("shape", extra_field={"kept": True})
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [body]})
    got = client.call("GET", f"/clusters/{cid}/cdm/job/shape")["jobs"][0]
    assert got["driver-config-values"]["configs"][0]["inputs"] == []
    assert got["extra_field"] == {"kept": True}
    raw = client.request("GET", f"/clusters/{cid}/cdm/job/shape/status")
    assert '"status":"NEVER_EXECUTED"' in raw.text


def test_unknown_route_is_a_cdm_error(api):
    client, *_ = api
    expect(client.request("GET", "/no/such/route"), 404)
