"""Authentication and tenancy through a real server: every forgery is refused, projects never mix."""

from __future__ import annotations

import time

import httpx
import pytest

from opencdm.signing import sign
from opencdm.client import CdmClient
from tests.infra.server import make_server

PROJECT_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
PROJECT_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("auth"))
    server.env["OPENCDM_TOKEN_TTL_SECONDS"] = "3"
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def a(srv):
    ak, sk = srv.credentials(PROJECT_A)
    return CdmClient(srv.url, ak, sk, PROJECT_A)


@pytest.fixture(scope="module")
def b(srv):
    ak, sk = srv.credentials(PROJECT_B)
    return CdmClient(srv.url, ak, sk, PROJECT_B)


def _signed(client: CdmClient, method: str, path: str, query: str = "", body: bytes = b"") -> dict:
    """Headers of a correctly signed request, so a test can tamper with one thing."""
    headers = {"Host": client.endpoint.split("//")[1], "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
               "Content-Type": "application/json;charset=utf-8", "User-Agent": "t", "X-Project-Id": client.project_id}
    headers["Authorization"] = sign(method, path, query, headers, body, client.ak, client.sk)
    return headers


def _send(client, method, path, query, body, headers):
    url = client.endpoint + path + (f"?{query}" if query else "")
    return httpx.request(method, url, content=body, headers=headers)


def test_signed_request_is_accepted(a):
    path = f"/v1.1/{PROJECT_A}/clusters"
    resp = _send(a, "GET", path, "", b"", _signed(a, "GET", path))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("tamper", ["body", "header", "path", "query", "method"])
def test_tampered_requests_are_refused(srv, tamper):
    ak, sk = srv.credentials(PROJECT_A)  # a fresh key per case: five failures would lock a shared one
    client = CdmClient(srv.url, ak, sk, PROJECT_A)
    path = f"/v1.1/{PROJECT_A}/clusters"
    body = b'{"cluster": {"name": "x1", "vpcId": "v"}}'
    headers = _signed(client, "POST", path, "a=1", body)
    method, query = "POST", "a=1"
    if tamper == "body":
        body = body.replace(b"x1", b"x2")
    elif tamper == "header":
        headers["User-Agent"] = "evil"
    elif tamper == "path":
        path = f"/v1.1/{PROJECT_A}/clusters/job"
    elif tamper == "query":
        query = "a=2"
    else:  # sign a GET of a cluster, send a DELETE of it
        path = f"/v1.1/{PROJECT_A}/clusters/some-id"
        body = b""
        headers = _signed(client, "GET", path, "a=1", body)
        method = "DELETE"
    resp = _send(client, method, path, query, body, headers)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error_code"] == "APIGW.0301"
    assert client.request("GET", "/clusters").status_code == 200  # the key itself still works


def test_stale_sdk_date_is_refused(a):
    path = f"/v1.1/{PROJECT_A}/clusters"
    headers = {"Host": a.endpoint.split("//")[1], "User-Agent": "t",
               "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 16 * 60))}
    headers["Authorization"] = sign("GET", path, "", headers, b"", a.ak, a.sk)
    resp = _send(a, "GET", path, "", b"", headers)
    assert resp.status_code == 401 and resp.json()["error_code"] == "APIGW.0303"


def test_unknown_ak_and_no_credentials_are_refused(srv, a):
    ghost = CdmClient(srv.url, "NOSUCHAK000000000000", "x" * 40, PROJECT_A)
    resp = ghost.request("GET", "/clusters")
    assert resp.status_code == 401 and "ak not exist" in resp.json()["error_msg"]
    resp = httpx.get(f"{srv.url}/v1.1/{PROJECT_A}/clusters")
    assert resp.status_code == 401
    assert set(resp.json()) >= {"error_code", "error_msg", "code", "message", "errCode", "externalMessage"}


def test_projects_never_mix(a, b):
    cid = a.call("POST", "/clusters", {"cluster": {"name": "mine", "vpcId": "v"}})["id"]
    # B's key on A's project path: forbidden, whatever the resource
    forged = CdmClient(b.endpoint, b.ak, b.sk, PROJECT_A)
    resp = forged.request("GET", "/clusters")
    assert resp.status_code == 403 and resp.json()["error_code"] == "Cdm.0032"
    # B on its own path asking for A's cluster: it does not exist for B
    resp = b.request("GET", f"/clusters/{cid}")
    assert resp.status_code == 404
    assert b.call("GET", "/clusters") == {"clusters": []}
    resp = b.request("DELETE", f"/clusters/{cid}", {"keep_last_manual_backup": 0})
    assert resp.status_code == 404
    assert a.call("GET", f"/clusters/{cid}")["name"] == "mine"


def test_token_auth_works_and_expires(srv):
    srv.cli("user", "create", "--name", "alice", "--password", "s3cret-pw!", "--project-id", PROJECT_A)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "password": "s3cret-pw!", "domain": {"name": "alice"}}}},
        "scope": {"project": {"id": PROJECT_A}}}}
    resp = httpx.post(f"{srv.url}/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    token = resp.headers["X-Subject-Token"]
    assert "s3cret-pw!" not in resp.text
    ok = httpx.get(f"{srv.url}/v1.1/{PROJECT_A}/clusters", headers={"X-Auth-Token": token})
    assert ok.status_code == 200
    other = httpx.get(f"{srv.url}/v1.1/{PROJECT_B}/clusters", headers={"X-Auth-Token": token})
    assert other.status_code == 403
    body["auth"]["identity"]["password"]["user"]["password"] = "wrong"
    assert httpx.post(f"{srv.url}/v3/auth/tokens", json=body).status_code == 401
    time.sleep(3.5)  # the server under test issues 3-second tokens
    expired = httpx.get(f"{srv.url}/v1.1/{PROJECT_A}/clusters", headers={"X-Auth-Token": token})
    assert expired.status_code == 401
