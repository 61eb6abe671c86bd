"""CDM request bodies and small client helpers shared by the security tests."""

from __future__ import annotations

import time

import httpx

from opencdm.client import CdmClient

ERROR_KEYS = {"error_code", "error_msg", "code", "message", "errCode", "externalMessage"}


def link(name: str, inputs: dict, connector: str = "generic-jdbc-connector") -> dict:
    return {"links": [{"name": name, "connector-name": connector, "link-config-values": {"configs": [
        {"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}]}


def sqlite_link(name: str, database) -> dict:
    return link(name, {"linkConfig.databaseType": "SQLITE", "linkConfig.database": database})


def job(name, src: str = "src", dst: str = "dst", table: str = "t", target: str = "t_copy", from_extra=None,
        to_extra=None, driver=None) -> dict:
    body = {"name": name, "from-connector-name": "generic-jdbc-connector",
            "to-connector-name": "generic-jdbc-connector", "from-link-name": src, "to-link-name": dst,
            "from-config-values": {"configs": [{"name": "fromJobConfig", "inputs": [
                {"name": "fromJobConfig.tableName", "value": table},
                *({"name": f"fromJobConfig.{k}", "value": v} for k, v in (from_extra or {}).items())]}]},
            "to-config-values": {"configs": [{"name": "toJobConfig", "inputs": [
                {"name": "toJobConfig.tableName", "value": target},
                {"name": "toJobConfig.tablePreparation", "value": "CREATE_WHEN_NOT_EXIST"},
                *({"name": f"toJobConfig.{k}", "value": v} for k, v in (to_extra or {}).items())]}]},
            "driver-config-values": {"configs": [{"name": "throttlingConfig", "inputs": [
                {"name": f"throttlingConfig.{k}", "value": v} for k, v in (driver or {}).items()]}]}}
    if name is None:
        del body["name"]
    return body


def expect(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    """A CDM error answer: the status, the six keys, the code."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert ERROR_KEYS <= set(body), body
    if code:
        assert body["error_code"] == code, body
    return body


def new_cluster(client: CdmClient, name: str) -> str:
    cid = client.call("POST", "/clusters", {"cluster": {"name": name, "vpcId": "v"}})["id"]
    deadline = time.monotonic() + 60
    while client.call("GET", f"/clusters/{cid}")["status"] != "200":
        assert time.monotonic() < deadline, "cluster did not come up"
        time.sleep(0.05)
    return cid


def run(client: CdmClient, cid: str, name: str, timeout: float = 120) -> dict:
    client.call("PUT", f"/clusters/{cid}/cdm/job/{name}/start")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sub = client.call("GET", f"/clusters/{cid}/cdm/job/{name}/status")["submissions"][0]
        if sub["status"] in ("SUCCEEDED", "FAILED"):
            return sub
        time.sleep(0.1)
    raise AssertionError(f"job {name} did not finish")
