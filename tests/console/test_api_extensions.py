"""The API routes the console needed: token revocation, the link list, and reading a run's dirty rows."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from opencdm.client import CdmClient
from tests.console.conftest import PASSWORD, PROJECT, USER, Env

OTHER = "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e"


def token(url: str, user: str = USER, password: str = PASSWORD, project: str = PROJECT) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password}}},
                     "scope": {"project": {"id": project}}}}
    resp = httpx.post(f"{url}/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def works(url: str, tok: str, project: str = PROJECT) -> int:
    return httpx.get(f"{url}/v1.1/{project}/clusters", headers={"X-Auth-Token": tok}).status_code


def revoke(url: str, auth: str | None, subject: str | None) -> httpx.Response:
    headers = {k: v for k, v in (("X-Auth-Token", auth), ("X-Subject-Token", subject)) if v is not None}
    return httpx.delete(f"{url}/v3/auth/tokens", headers=headers)


@pytest.fixture(scope="module")
def stranger(console_env: Env) -> str:
    """A user of another project; returns one of its tokens."""
    console_env.server.cli("user", "create", "--name", "stranger", "--password", "stranger-pw-123",
                           "--project-id", OTHER)
    return token(console_env.server.url, "stranger", "stranger-pw-123", OTHER)


def test_revoking_tokens(console_env: Env, stranger: str):
    url = console_env.server.url
    a, b = token(url), token(url)
    theirs = stranger
    assert revoke(url, None, b).status_code == 401
    assert revoke(url, "not-a-token", b).status_code == 401
    assert revoke(url, a, None).status_code == 400
    assert revoke(url, a, "not-a-token").status_code == 404
    assert revoke(url, a, theirs).status_code == 404  # another user's token: not found, and still valid
    assert works(url, theirs, OTHER) == 200
    resp = revoke(url, a, b)  # another token of the same user (Keystone: revoke any of one's own)
    assert resp.status_code == 204 and resp.content == b""
    assert works(url, b) == 401 and works(url, a) == 200
    assert revoke(url, a, a).status_code == 204  # logging out
    assert works(url, a) == 401
    assert revoke(url, a, a).status_code == 401  # gone for good


def test_listing_links_masks_secrets(console_env: Env, stranger: str):
    env = console_env
    cid = env.client.call("POST", "/clusters", {"cluster": {"name": "listing", "vpcId": "v"}})["id"]
    inputs = env.pg.link_inputs(env.src_db)
    for name in ("b_link", "a_link"):
        env.client.call("POST", f"/clusters/{cid}/cdm/link", {"links": [{
            "name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {"configs": [
                {"name": "linkConfig", "inputs": [{"name": k, "value": v} for k, v in inputs.items()]}]}}]})
    tok = token(env.server.url)
    resp = httpx.get(f"{env.server.url}/v1.1/{PROJECT}/clusters/{cid}/cdm/link", headers={"X-Auth-Token": tok})
    assert resp.status_code == 200
    found = resp.json()["links"]
    assert [link["name"] for link in found] == ["a_link", "b_link"]
    assert inputs["linkConfig.password"] not in resp.text and "******" in resp.text
    assert httpx.get(f"{env.server.url}/v1.1/{PROJECT}/clusters/{cid}/cdm/link").status_code == 401
    other = token(env.server.url, "stranger", "stranger-pw-123", OTHER)
    resp = httpx.get(f"{env.server.url}/v1.1/{PROJECT}/clusters/{cid}/cdm/link", headers={"X-Auth-Token": other})
    assert resp.status_code == 403
    resp = httpx.get(f"{env.server.url}/v1.1/{OTHER}/clusters/{cid}/cdm/link", headers={"X-Auth-Token": other})
    assert resp.status_code == 404  # another project's cluster does not exist for this one
    assert env.client.request("GET", "/clusters/nope/cdm/link").status_code == 404


def _job(name: str, **throttling: str) -> dict:
    def group(g: str, **inputs: str) -> dict:
        return {"configs": [{"name": g, "inputs": [{"name": f"{g}.{k}", "value": v} for k, v in inputs.items()]}]}

    return {"jobs": [{"name": name, "from-connector-name": "generic-jdbc-connector", "from-link-name": "src",
                      "to-link-name": "dst", "from-config-values": group("fromJobConfig", schemaName="public",
                                                                          tableName="raw"),
                      "to-config-values": group("toJobConfig", schemaName="public", tableName="clean_api",
                                                tablePreparation="DO_NOTHING", shouldClearTable="true"),
                      "driver-config-values": group("throttlingConfig", numExtractors="2", **throttling)}]}


@pytest.fixture(scope="module")
def dirty_run(console_env: Env) -> tuple[Env, str, int]:
    env = console_env
    cid = env.client.call("POST", "/clusters", {"cluster": {"name": "dirty", "vpcId": "v"}})["id"]
    deadline = time.monotonic() + 60
    while env.client.call("GET", f"/clusters/{cid}")["status"] != "200":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for name, db in (("src", env.src_db), ("dst", env.dst_db)):
        env.client.call("POST", f"/clusters/{cid}/cdm/link", {"links": [{
            "name": name, "connector-name": "generic-jdbc-connector", "link-config-values": {"configs": [
                {"name": "linkConfig", "inputs": [{"name": k, "value": v}
                                                  for k, v in env.pg.link_inputs(db).items()]}]}}]})
    env.client.call("POST", f"/clusters/{cid}/cdm/job", _job("bad_rows", recordDirtyData="true"))
    sid = env.client.call("PUT", f"/clusters/{cid}/cdm/job/bad_rows/start")["submissions"][0]["submission-id"]
    deadline = time.monotonic() + 90
    while (sub := env.client.call("GET", f"/clusters/{cid}/cdm/job/bad_rows/status")["submissions"][0])[
            "status"] not in ("SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert sub["status"] == "SUCCEEDED", sub
    return env, cid, sid


def test_dirty_rows_are_read_back(dirty_run, stranger: str):
    env, cid, sid = dirty_run
    path = f"/clusters/{cid}/cdm/job/bad_rows/dirty-data"
    doc = env.client.call("GET", path, query={"submission-id": sid})
    assert doc["total"] == 2 and doc["truncated"] is False and doc["submission-id"] == sid
    rows = sorted(doc["dirty-data"], key=lambda r: r["row"]["id"])
    assert [r["row"] for r in rows] == [{"id": 7, "qty": "x7", "note": "n7"}, {"id": 70, "qty": "x70", "note": "n70"}]
    assert all("invalid input syntax for type integer" in r["reason"] and r["recorded-at"] for r in rows)
    one = env.client.call("GET", path, query={"submission-id": sid, "limit": 1})
    assert len(one["dirty-data"]) == 1 and one["truncated"] is True
    # project-scoped and authenticated like every route
    url = f"{env.server.url}/v1.1/{PROJECT}{path}?submission-id={sid}"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-Auth-Token": token(env.server.url)}).status_code == 200
    assert httpx.get(url, headers={"X-Auth-Token": stranger}).status_code == 403
    elsewhere = CdmClient(env.server.url, *env.server.credentials(OTHER), OTHER)
    assert elsewhere.request("GET", path, query={"submission-id": sid}).status_code == 404
    for query, status in (({"submission-id": sid + 1000}, 404), ({"submission-id": 0}, 400), ({}, 400),
                          ({"submission-id": sid, "limit": 5000}, 400)):
        assert env.client.request("GET", path, query=query).status_code == status, query
    assert env.client.request("GET", f"/clusters/{cid}/cdm/job/nope/dirty-data",
                              query={"submission-id": sid}).status_code == 404


def test_dirty_files_cannot_lead_out_of_the_project_root(dirty_run, tmp_path: Path):
    env, cid, sid = dirty_run
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text('{"row_json": "{\\"secret\\": \\"outside-the-root\\"}", "reason": "x", "partition": 0}\n')
    folder = env.server.data_dir / "projects" / PROJECT / "dirty" / "bad_rows" / str(sid)
    assert sorted(p.name for p in folder.iterdir())  # the run wrote its files here
    link = folder / "part-99999.jsonl"
    link.symlink_to(outside)
    try:
        resp = env.client.request("GET", f"/clusters/{cid}/cdm/job/bad_rows/dirty-data",
                                  query={"submission-id": sid, "limit": 1000})
        assert resp.status_code == 400 and "outside-the-root" not in resp.text
        assert "outside this project's file root" in resp.json()["error_msg"]
    finally:
        link.unlink()
    # a job cannot name a folder outside the root either: refused when it is created
    resp = env.client.request("POST", f"/clusters/{cid}/cdm/job", _job(
        "escape", recordDirtyData="true", dirtyDataDirectory="../../.."))
    assert resp.status_code == 400


def test_dirty_rows_through_a_link_are_refused_clearly(dirty_run):
    env, cid, sid = dirty_run
    env.client.call("POST", f"/clusters/{cid}/cdm/job", _job("to_link", recordDirtyData="true", writeToLink="dst"))
    resp = env.client.request("GET", f"/clusters/{cid}/cdm/job/to_link/dirty-data", query={"submission-id": sid})
    assert resp.status_code == 400
    body = resp.json()
    assert body["error_code"] == "Cdm.0014" and "throttlingConfig.writeToLink" in body["error_msg"]
