"""SDK-HMAC-SHA256 verification (spec §15.1-15.2): fixed vectors, tampering, and the SDK's own signer."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from opencdm.api.limits import FailureGate
from opencdm.signing import (
    EMPTY_HASH,
    canonical_query,
    canonical_request,
    canonical_uri,
    check_sdk_date,
    parse_authorization,
    parse_query,
    sign,
    verify_signature,
)
from opencdm.errors import AuthError

AK = "HPUAEXAMPLEAK0000001"
SK = "exampleSecretKey0123456789abcdefEXAMPLE"
PROJECT = "0123456789abcdef0123456789abcdef"
SIGNED = "content-type;host;user-agent;x-project-id;x-sdk-date"
V1_SIG = "cdf07a55e904f10983bb6b3d131a75d6d256d9596b5985e5864887459422c790"
V2_SIG = "4bd68ffc7220a50ca2e80363800a9aa905d798ac46a87d2de2ce83684b9b3560"
V2_BODY = (
    b'{"links": [{"name": "l1", "connector-name": "obs-connector", "link-config-values": {"configs": '
    b'[{"name": "linkConfig", "inputs": [{"name": "linkConfig.server", "value": "obs.example.com"}]}]}}]}'
)


def _headers(content_type: str, signature: str) -> dict[str, str]:
    return {
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Sdk-Date": "20240101T000000Z",
        "X-Project-Id": PROJECT,
        "Host": "127.0.0.1:8080",
        "Content-Type": content_type,
        "Authorization": f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED}, Signature={signature}",
    }


V1 = dict(
    method="GET",
    raw_path=f"/v1.1/{PROJECT}/clusters/c1/cdm/job/all",
    raw_query="filter=a%20b&jobType=NORMAL_JOB&page_no=1&page_size=10",
    headers=_headers("application/json", V1_SIG),
    body=b"",
)
V2 = dict(
    method="POST",
    raw_path=f"/v1.1/{PROJECT}/clusters/c1/cdm/link",
    raw_query="validate=true",
    headers=_headers("application/json;charset=utf-8", V2_SIG),
    body=V2_BODY,
)


@pytest.mark.parametrize("vector", [V1, V2], ids=["V1", "V2"])
def test_vectors_verify(vector):
    assert verify_signature(**vector, sk=SK)


@pytest.mark.parametrize("vector", [V1, V2], ids=["V1", "V2"])
def test_vectors_wrong_key(vector):
    assert not verify_signature(**vector, sk=SK[:-1] + "F")


def test_v1_body_none_is_empty():
    assert verify_signature(**{**V1, "body": None}, sk=SK)


def test_sign_reproduces_vectors():
    for vector, sig in ((V1, V1_SIG), (V2, V2_SIG)):
        headers = {k: v for k, v in vector["headers"].items() if k != "Authorization"}
        value = sign(vector["method"], vector["raw_path"], vector["raw_query"], headers, vector["body"], AK, SK)
        assert value == f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED}, Signature={sig}"


def _with_header(vector, name, value):
    headers = {k: v for k, v in vector["headers"].items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return {**vector, "headers": headers}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: {**v, "method": "PUT"},
        lambda v: {**v, "raw_path": v["raw_path"].replace("c1", "c2")},
        lambda v: {**v, "raw_path": v["raw_path"] + "x"},
        lambda v: {**v, "raw_query": v["raw_query"] + "&x=1"},
        lambda v: {**v, "raw_query": v["raw_query"].replace("true", "false")},
        lambda v: {**v, "body": v["body"] + b" "},
        lambda v: {**v, "body": v["body"].replace(b"l1", b"l2")},
        lambda v: _with_header(v, "Host", "127.0.0.1:8081"),
        lambda v: _with_header(v, "X-Project-Id", "f" * 32),
        lambda v: _with_header(v, "User-Agent", "curl/8"),
        lambda v: _with_header(v, "X-Sdk-Date", "20240101T000001Z"),
        lambda v: _with_header(v, "Content-Type", "application/json"),
        lambda v: _with_header(v, "X-Project-Id", None),  # a signed header went missing
        lambda v: _with_header(v, "X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"),  # claims an unsigned body
        lambda v: _with_header(v, "Authorization", v["headers"]["Authorization"].replace("Signature=4", "Signature=5")),
        lambda v: _with_header(v, "Authorization", v["headers"]["Authorization"].replace(";x-project-id", "")),
        lambda v: _with_header(v, "Authorization", None),
    ],
    ids=[
        "method", "path", "path-suffix", "query-added", "query-value", "body-space", "body-value", "host",
        "project-header", "user-agent", "date", "content-type", "missing-header", "unsigned-payload",
        "signature", "signed-headers", "no-authorization",
    ],
)
def test_tampering_is_refused(tamper):
    assert verify_signature(**V2, sk=SK)
    assert not verify_signature(**tamper(V2), sk=SK)


def test_unsigned_headers_may_change():
    extra = {**V2["headers"], "Accept": "*/*", "Content-Length": str(len(V2_BODY)), "Connection": "keep-alive"}
    assert verify_signature(**{**V2, "headers": extra}, sk=SK)


def test_header_names_are_case_insensitive_and_values_trimmed():
    headers = {k.upper() if k != "Authorization" else k: f"  {v} " for k, v in V2["headers"].items()}
    assert verify_signature(**{**V2, "headers": headers}, sk=SK)


@pytest.mark.parametrize("required", ["host", "x-sdk-date"])
def test_required_signed_headers(required):
    """A signature that does not cover host and x-sdk-date is refused even when it is correct."""
    headers = {k: v for k, v in V2["headers"].items() if k != "Authorization"}
    value = sign("POST", V2["raw_path"], V2["raw_query"], headers, V2_BODY, AK, SK)
    assert verify_signature(**{**V2, "headers": {**headers, "Authorization": value}}, sk=SK)
    names = [name for name in SIGNED.split(";") if name != required]  # the header is still sent, just not signed
    value = sign("POST", V2["raw_path"], V2["raw_query"], headers, V2_BODY, AK, SK, signed_headers=names)
    assert required not in parse_authorization(value)[1]
    assert not verify_signature(**{**V2, "headers": {**headers, "Authorization": value}}, sk=SK)


# --- §15.2 special characters -------------------------------------------------------------------

SPECIAL_PATH = "/v1.1/p1/clusters/c%201/cdm/job/a%2Bb%252Fc~d%2Ae"
SPECIAL_QUERY = "filter=x%26y%3Dz%2B%C3%A4%2F~&page_no=2"


def test_special_characters_canonical_forms():
    assert canonical_uri(SPECIAL_PATH) == "/v1.1/p1/clusters/c%201/cdm/job/a%2Bb%252Fc~d%2Ae/"
    assert canonical_uri(SPECIAL_PATH.encode()) == "/v1.1/p1/clusters/c%201/cdm/job/a%2Bb%252Fc~d%2Ae/"
    assert canonical_query(SPECIAL_QUERY) == SPECIAL_QUERY
    assert canonical_query(SPECIAL_QUERY.encode()) == SPECIAL_QUERY


def test_slash_in_job_name_is_signed_as_literal_slash():
    assert canonical_uri("/v1.1/p/clusters/c/cdm/job/job%201%2F%C3%A4") == "/v1.1/p/clusters/c/cdm/job/job%201/%C3%A4/"


def test_canonical_uri_edge_cases():
    assert canonical_uri("/") == "/"
    assert canonical_uri("/v1.1/p/clusters/") == "/v1.1/p/clusters/"
    assert canonical_uri("/v1.1/p/clusters?x=1") == "/v1.1/p/clusters/"


def test_query_plus_is_not_a_space():
    assert parse_query("a=x+y&b=x%20y&c&d=") == [("a", "x+y"), ("b", "x y"), ("c", ""), ("d", "")]
    assert canonical_query("a=x+y") == "a=x%2By"
    assert canonical_query("b=2&a=2&a=1&c=%7e") == "a=1&a=2&b=2&c=~"
    assert canonical_query("") == ""


def test_special_request_signed_by_sdk_verifies():
    """The §15.2 call, signed by the SDK, verifies over exactly the captured request line."""
    req = _sdk_request(
        "GET",
        "/v1.1/{project_id}/clusters/{cluster_id}/cdm/job/{job_name}",
        {"project_id": "p1", "cluster_id": "c 1", "job_name": "a+b%2Fc~d*e"},
        [("filter", "x&y=z+ä/~"), ("page_no", 2)],
        None,
    )
    path, _, query = req.uri.partition("?")
    assert f"{path}?{query}" == f"{SPECIAL_PATH}?{SPECIAL_QUERY}"
    assert verify_signature("GET", path, query, req.header_params, b"", sk=SK)


# --- the real SDK signer ------------------------------------------------------------------------


def _sdk_request(method, template, path_params, query, body, content_type="application/json;charset=utf-8", extra=None):
    """Build and sign a request as ``huaweicloudsdkcore.client`` does (path params ``quote(v, safe='')``)."""
    path = template
    for key, value in path_params.items():
        path = path.replace("{%s}" % key, quote(str(value), safe=""))
    headers = {
        "User-Agent": "huaweicloud-usdk-python/3.0; os/Linux#6#x86_64 python/3.11.7 impl/CPython; app/x",
        "Content-Type": content_type,
        "X-Project-Id": "p1",
        **(extra or {}),
    }
    req = SdkRequest(
        method=method,
        schema="http",
        host="127.0.0.1:8080",
        resource_path=path,
        query_params=list(query),
        header_params=headers,
        body=body,
    )
    return Signer(BasicCredentials(AK, SK, "p1")).sign(req)


def _wire(req):
    """What a server receives: raw path, raw query, headers (latin-1 decoded) and body bytes."""
    path, _, query = req.uri.partition("?")
    body = req.body if isinstance(req.body, bytes) else (req.body or b"")
    return dict(method=req.method, raw_path=path, raw_query=query, headers=dict(req.header_params), body=body)


_ALPHABET = "abcXYZ019 -_.~*+/%&=?#ä€日😀'\"!$@:;,()[]{}"


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(n))


def _random_requests(count: int):
    rng = random.Random(20240101)
    for i in range(count):
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        job = _random_text(rng, rng.randint(1, 12))
        keys = ["filter", "page_no", "jobType", "a+b", "k y"]
        query = [(rng.choice(keys), _random_text(rng, rng.randint(0, 8))) for _ in range(rng.randint(0, 4))]
        body = None
        if method in ("POST", "PUT") or rng.random() < 0.2:
            body = ('{"jobs": [{"name": %s}]}' % repr(job)).encode("utf-8")
        yield pytest.param(method, job, query, body, id=f"r{i}-{method}")


@pytest.mark.parametrize("method,job,query,body", list(_random_requests(40)))
def test_sdk_signed_requests_verify(method, job, query, body):
    template = "/v1.1/{project_id}/clusters/{cluster_id}/cdm/job/{job_name}"
    req = _sdk_request(method, template, {"project_id": "p1", "cluster_id": "c1", "job_name": job}, query, body)
    wire = _wire(req)
    assert verify_signature(**wire, sk=SK)
    # A one-byte change anywhere the signature covers is refused.
    changes = [
        {**wire, "raw_path": wire["raw_path"][:-1] + ("Z" if wire["raw_path"][-1] != "Z" else "Y")},
        {**wire, "raw_query": wire["raw_query"] + "x"},
        {**wire, "method": "PATCH"},
        {**wire, "headers": {**wire["headers"], "X-Project-Id": "p2"}},
    ]
    if wire["body"]:
        changes.append({**wire, "body": wire["body"][:-1] + b"]"})
    else:
        changes.append({**wire, "body": b"{}"})
    for changed in changes:
        assert not verify_signature(**changed, sk=SK)


def test_sdk_unsigned_payload():
    """Non-JSON content types make the SDK sign the literal UNSIGNED-PAYLOAD instead of the body hash."""
    req = _sdk_request(
        "POST", "/v1.1/{project_id}/upload", {"project_id": "p1"}, [], b"\x00\x01binary", "application/octet-stream"
    )
    wire = _wire(req)
    assert wire["headers"]["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert "x-sdk-content-sha256" in parse_authorization(wire["headers"]["Authorization"])[1]
    assert verify_signature(**wire, sk=SK)
    assert verify_signature(**{**wire, "body": b"other"}, sk=SK)  # by definition the body is not covered


def test_sdk_non_ascii_header_value():
    """The SDK sends header values as UTF-8 bytes; ASGI hands them over latin-1 decoded."""
    extra = {"X-Language": "zh-cn ä"}
    req = _sdk_request("GET", "/v1.1/{project_id}/clusters", {"project_id": "p1"}, [], None, extra=extra)
    wire = _wire(req)
    assert wire["headers"]["X-Language"] == "zh-cn ä".encode().decode("latin-1")
    assert verify_signature(**wire, sk=SK)


def test_sdk_security_token_and_preset_auth_token_are_signed():
    req = _sdk_request(
        "GET", "/v1.1/{project_id}/clusters", {"project_id": "p1"}, [], None,
        extra={"X-Security-Token": "tmp-token", "X-Auth-Token": "iam-token"},
    )
    wire = _wire(req)
    signed = parse_authorization(wire["headers"]["Authorization"])[1]
    assert {"x-security-token", "x-auth-token", "host", "x-sdk-date", "user-agent"} <= set(signed)
    assert verify_signature(**wire, sk=SK)
    assert not verify_signature(**{**wire, "headers": {**wire["headers"], "X-Auth-Token": "other"}}, sk=SK)


def test_canonical_request_layout():
    creq = canonical_request("get", "/a", "", {"Host": "h", "X-Sdk-Date": "d"}, ["host", "x-sdk-date"], EMPTY_HASH)
    assert creq == f"GET\n/a/\n\nhost:h\nx-sdk-date:d\n\nhost;x-sdk-date\n{EMPTY_HASH}".encode()


# --- Authorization parsing and dates ------------------------------------------------------------


def test_parse_authorization():
    access, names, sig = parse_authorization(V1["headers"]["Authorization"])
    assert (access, names, sig) == (AK, SIGNED.split(";"), V1_SIG)
    # Separators without spaces and an upper-case signature are tolerated.
    compact = f"SDK-HMAC-SHA256 Access={AK},SignedHeaders=host;x-sdk-date,Signature={V1_SIG.upper()}"
    assert parse_authorization(compact)[2] == V1_SIG


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        f"SDK-HMAC-SHA256X Access={AK}, SignedHeaders=host, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host",
        f"SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=Host;x-sdk-date, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;;x-sdk-date, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;host, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature=xyz",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature={V1_SIG}, Extra=1",
        f"SDK-HMAC-SHA256 Access={AK}, Access=B, SignedHeaders=host, Signature={V1_SIG}",
        f"SDK-HMAC-SHA256 Access={AK} SignedHeaders=host Signature={V1_SIG}",
    ],
)
def test_parse_authorization_rejects(value):
    with pytest.raises(AuthError) as info:
        parse_authorization(value)
    assert info.value.status == 401 and info.value.code == "APIGW.0301"


def test_sdk_date_window():
    now = 1704067200.0  # 2024-01-01T00:00:00Z
    check_sdk_date("20240101T000000Z", 900, now=now)
    check_sdk_date("20240101T001500Z", 900, now=now)
    check_sdk_date("20231231T234500Z", 900, now=now)
    for stale in ("20240101T001501Z", "20231231T234459Z"):
        with pytest.raises(AuthError) as info:
            check_sdk_date(stale, 900, now=now)
        assert info.value.code == "APIGW.0303" and "signature expired" in info.value.message
    for bad in ("2024-01-01T00:00:00Z", "20240101T000000", "20241301T000000Z", "", "20240101t000000z"):
        with pytest.raises(AuthError) as info:
            check_sdk_date(bad, 900, now=now)
        assert info.value.code == "APIGW.0301"


def test_ak_lockout():
    clock = [1000.0]
    lockout = FailureGate(limit=5, seconds=300, clock=lambda: clock[0])
    for _ in range(4):
        lockout.failure("AK1")
    assert lockout.remaining("AK1") == 0
    lockout.success("AK1")  # a success resets the count
    for _ in range(4):
        lockout.failure("AK1")
    assert lockout.remaining("AK1") == 0
    lockout.failure("AK1")
    assert lockout.remaining("AK1") == 300 and lockout.remaining("AK2") == 0
    clock[0] += 299
    assert lockout.remaining("AK1") == 1
    clock[0] += 1
    assert lockout.remaining("AK1") == 0
    lockout.failure("AK1")  # counting starts afresh after the lock ran out
    assert lockout.remaining("AK1") == 0
    off = FailureGate(limit=0, seconds=300)
    for _ in range(10):
        off.failure("AK1")
    assert off.remaining("AK1") == 0
