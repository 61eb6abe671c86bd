"""``GET /v1.1/{project_id}/connectors`` through a real server: every connector's declared inputs, behind
the same authentication and project scoping as every other route."""

from __future__ import annotations

import httpx
import pytest

from opencdm import connectors
from opencdm.client import CdmClient
from opencdm.connectors.inputs import JOB_INPUTS
from tests.infra.server import make_server

PROJECT_A = "cafecafecafecafecafecafecafecafe"
PROJECT_B = "beefbeefbeefbeefbeefbeefbeefbeef"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("catalog"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(srv):
    c = CdmClient(srv.url, *srv.credentials(PROJECT_A), PROJECT_A)
    yield c
    c.close()


def test_every_registered_connector_with_its_inputs(client):
    resp = client.request("GET", "/connectors")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    names = [c["name"] for c in body["connectors"]]
    assert names == sorted(connectors.names())
    for entry in body["connectors"]:
        connector = connectors.get(entry["name"])
        assert entry["directions"] == sorted(connector.directions)
        for group in ("link", "from", "to"):
            assert entry[group] == [d.to_json() for d in getattr(connector, f"{group}_inputs")]
        assert entry["link"], f"{entry['name']} declares no link inputs"
        for side in ("from", "to"):
            assert bool(entry[side]) == (side in entry["directions"]), (entry["name"], side)
    assert [j["name"] for j in body["job"]] == [d.name for d in JOB_INPUTS]
    assert "throttlingConfig.numExtractors" in {j["name"] for j in body["job"]}


def test_jdbc_link_form(client):
    jdbc = next(c for c in client.call("GET", "/connectors")["connectors"] if c["name"] == "generic-jdbc-connector")
    link = {i["name"]: i for i in jdbc["link"]}
    assert link["linkConfig.password"]["sensitive"] is True
    assert link["linkConfig.host"]["sensitive"] is False
    assert set(link["linkConfig.host"]) == {"name", "type", "required", "sensitive", "values", "default",
                                            "description"}
    kind = link["linkConfig.databaseType"]
    assert kind["type"] == "ENUM" and kind["required"] and "SQLITE" in kind["values"]
    assert link["linkConfig.port"]["type"] == "INTEGER"
    assert not link["linkConfig.host"]["required"] and "SQLITE" in link["linkConfig.host"]["description"]
    assert {i["name"] for i in jdbc["to"] if i["required"]} == {"toJobConfig.tableName"}


def test_unauthenticated_is_401(srv):
    resp = httpx.get(f"{srv.url}/v1.1/{PROJECT_A}/connectors")
    assert resp.status_code == 401, resp.text
    assert resp.json()["error_code"].startswith("APIGW.")


def test_another_projects_path_is_403(srv, client):
    forged = CdmClient(srv.url, client.ak, client.sk, PROJECT_B)  # A's key on B's path
    try:
        resp = forged.request("GET", "/connectors")
    finally:
        forged.close()
    assert resp.status_code == 403 and resp.json()["error_code"] == "Cdm.0032", resp.text
