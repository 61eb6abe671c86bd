"""HTTP to an Elasticsearch or OpenSearch cluster with httpx (already opencdm's HTTP client): one JSON
API serves Elasticsearch 7/8 and OpenSearch alike, so plain HTTP avoids the official clients' product
checks and version pinning (elasticsearch-py 8 refuses OpenSearch, opensearch-py refuses Elasticsearch 8).

Hosts of ``linkConfig.host`` are tried in turn; a host that does not answer is skipped, an HTTP error
is the cluster's answer and is not retried elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from opencdm.connectors import egress
from opencdm.connectors.base import ConnectorContext
from opencdm.errors import CdmError, ExtractFailed, LinkError, LinkUnreachable


class SearchClient:
    def __init__(self, hosts: Sequence[tuple[str, int]], https: bool, auth: tuple[str, str] | None,
                 ctx: ConnectorContext, timeout: float = 60.0) -> None:
        scheme = "https" if https else "http"
        self.bases = []
        for host, port in hosts:
            address = egress.address(host, port, ctx, "linkConfig.host")
            self.bases.append(f"{scheme}://{f'[{address}]' if ':' in address else address}:{port}")
        # no CA bundle to load for plain http (16-20 ms a client)
        self.http = httpx.Client(auth=auth, timeout=timeout, headers={"content-type": "application/json"},
                                 verify=https)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, path: str, body: Any = None, failure: type[CdmError] = ExtractFailed,
             missing_ok: bool = False, ndjson: bool = False, throttled_ok: bool = False) -> Any:
        """The decoded JSON answer; CDM errors for refused credentials, a missing index, other failures.
        ``None`` for a 404 when ``missing_ok`` and for a 429 when ``throttled_ok``; ``ndjson``: ``body``
        is the bytes of a bulk request."""
        last: Exception | None = None
        content = body if ndjson or body is None else json.dumps(body)
        headers = {"content-type": "application/x-ndjson"} if ndjson else None
        for base in self.bases:
            try:
                resp = self.http.request(method, base + path, content=content, headers=headers)
            except httpx.HTTPError as exc:
                last = exc
                continue
            if resp.status_code in (401, 403):
                raise LinkError(f"The cluster refused the credentials ({resp.status_code}).", code="Cdm.0950")
            if (resp.status_code == 404 and missing_ok) or (resp.status_code == 429 and throttled_ok):
                return None
            if resp.status_code >= 400:
                reason = _reason(resp)
                if resp.status_code == 404:
                    raise failure(f"Not found on the cluster: {reason}")
                raise failure(f"The cluster answered {resp.status_code} to {method} {path.split('?')[0]}: {reason}")
            return resp.json() if resp.content else None
        raise LinkUnreachable(f"No host of linkConfig.host answered: {str(last)[:300]}")


def _reason(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error")
    except ValueError:
        return resp.text[:300]
    if isinstance(err, dict):
        return str(err.get("reason") or err.get("type") or err)[:300]
    return str(err)[:300]
