"""DIS's data API over httpx, every request signed with SDK-HMAC-SHA256 (``opencdm.signing``: the scheme
opencdm verifies on its own API and huaweicloudsdkcore signs with). Plain HTTP rather than an official
client: the DIS SDKs pull their own HTTP stacks and threads for what is five JSON calls here, and
signing is already opencdm's own, tested code.

Calls used (``/v2/{project_id}``): DescribeStream, PutRecords, GetCursor, GetRecords.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from opencdm import signing
from opencdm.connectors import egress
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.dis.options import DisLink
from opencdm.errors import CdmError, ExtractFailed, LinkError, LinkUnreachable

NOT_FOUND = ("DIS.4301", "DIS.4302")  # no such stream; no such partition


class DisClient:
    def __init__(self, link: DisLink, ctx: ConnectorContext, timeout: float = 60.0) -> None:
        url = urlsplit(link.endpoint)
        self.host_header = url.netloc
        port = url.port or (443 if url.scheme == "https" else 80)
        address = egress.address(url.hostname or "", port, ctx, "linkConfig.endpoint")
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        self.base = f"{url.scheme}://{netloc}"
        self.link = link
        self.http = httpx.Client(timeout=timeout, headers={"host": self.host_header},
                                 verify=url.scheme == "https")  # no CA bundle to load for plain http

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DisClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
             failure: type[CdmError] = ExtractFailed) -> dict[str, Any]:
        """The decoded JSON answer of ``/v2/{project_id}{path}``; CDM errors naming DIS's error code."""
        raw_path = f"/v2/{self.link.project_id}{path}"
        raw_query = "&".join(f"{quote(str(k), safe='~')}={quote(str(v), safe='~')}"
                             for k, v in (query or {}).items() if v is not None)
        content = b"" if body is None else json.dumps(body).encode()
        headers = {"Host": self.host_header, "X-Sdk-Date": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
                   "Content-Type": "application/json", "X-Project-Id": self.link.project_id}
        headers["Authorization"] = signing.sign(method, raw_path, raw_query, headers, content, self.link.ak,
                                                self.link.sk)
        url = self.base + raw_path + (f"?{raw_query}" if raw_query else "")
        try:
            resp = self.http.request(method, url, content=content or None, headers=headers)
        except httpx.HTTPError as exc:
            raise LinkUnreachable(f"DIS at linkConfig.endpoint did not answer: {str(exc)[:300]}") from None
        if resp.status_code < 400:
            return resp.json() if resp.content else {}
        code, message = _error(resp)
        if resp.status_code in (401, 403, 441) or code.startswith("DIS.41"):  # DIS.41xx: authentication
            raise LinkError(f"DIS refused the AK/SK or project ({code}: {message}).", code="Cdm.0950")
        if code in NOT_FOUND or resp.status_code == 404:
            raise failure(f"DIS: {message} ({code}).")
        raise failure(f"DIS answered {resp.status_code} to {method} {path.split('?')[0]}: {code}: {message}")

    # -- the calls -------------------------------------------------------------------------------

    def describe(self, stream: str, failure: type[CdmError] = ExtractFailed) -> dict[str, Any]:
        return self.call("GET", f"/streams/{quote(stream, safe='')}", failure=failure)

    def put(self, stream: str, records: list[tuple[bytes, str]], failure: type[CdmError]) -> list[dict[str, Any]]:
        """PutRecords of ``(data, partition_key)``; the per-record results, in order."""
        body = {"stream_name": stream, "records": [
            {"data": base64.b64encode(data).decode(), "partition_key": key} for data, key in records]}
        return self.call("POST", "/records", body=body, failure=failure).get("records") or []

    def cursor(self, stream: str, partition: str, kind: str, sequence: str | None = None) -> str:
        answer = self.call("GET", "/cursors", {"stream-name": stream, "partition-id": partition, "cursor-type": kind,
                                               "starting-sequence-number": sequence})
        return answer["partition_cursor"]

    def records(self, cursor: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        answer = self.call("GET", "/records", {"partition-cursor": cursor, "limit": limit})
        return answer.get("records") or [], answer.get("next_partition_cursor")


def _error(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        return str(resp.status_code), resp.text[:300]
    code = body.get("errorCode") or body.get("error_code") or str(resp.status_code)
    return str(code), str(body.get("message") or body.get("error_msg") or body)[:300]
