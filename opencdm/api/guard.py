"""The gate every request passes before a router sees it (an ASGI middleware).

In this order, each step refusing with one CDM error and doing no more work than needed:

1. the target: no encoded ``/`` in a path segment (names cannot hold one, so the router and the
   signature see the same path), no control characters in the path or query;
2. the size: a ``Content-Length`` over the limit is refused (413) before the body is read;
3. for the CDM API (``/v1.1/...``): authentication from the headers alone (token, or an existing,
   unlocked AK with a fresh date), so an anonymous caller never gets its body read;
4. the body, read up to the limit (a chunked body that grows past it is refused, 413);
5. the AK/SK signature over the raw path, query and body, and the replay check (a request the
   app then refuses with a 4xx gives its signature back: it changed nothing and may be retried).

The authenticated ``Caller`` goes to ``request.state.caller`` and the body is replayed to the app
from memory. Errors are rendered by ``api.errors.response``, as every other error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import anyio.to_thread
from starlette.datastructures import Headers

from opencdm import logs
from opencdm.api import auth
from opencdm.api.errors import response
from opencdm.errors import CdmError, InvalidInput, TooLarge
from opencdm.text import has_control

#: Bodies of the unauthenticated login route stay small whatever the API's limit.
LOGIN_BODY_BYTES = 16 << 10
_ENCODED_SLASH = re.compile(rb"%2f", re.I)


def check_target(scope: dict) -> None:
    """400 for a path or query a name rule could never produce (see the module docstring)."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    if _ENCODED_SLASH.search(raw):
        raise InvalidInput("A path segment cannot hold an encoded '/' (%2F): no CDM name contains '/'.")
    if has_control(scope["path"]):  # the path as the server decoded it
        raise InvalidInput("The path cannot hold control characters.")
    if has_control(unquote(scope.get("query_string", b"").decode("latin-1"))):
        raise InvalidInput("The query string cannot hold control characters.")


async def read_body(receive, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it passes ``limit`` bytes (nothing more is read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"The request body is larger than {limit} bytes (OPENCDM_MAX_BODY_BYTES).")


def _replay(body: bytes, receive):
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class Guard:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        try:
            body = await self._admit(scope, receive, state)
        except CdmError as exc:
            rid = scope.get("state", {}).get("request_id", "")
            await response(exc, rid)(scope, receive, send)
            return
        caller = scope.get("state", {}).get("caller")
        if caller is None or not caller.signature:
            await self.app(scope, _replay(body, receive), send)
            return
        status = [500]

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, _replay(body, receive), send_status)
        finally:
            if 400 <= status[0] < 500:
                await anyio.to_thread.run_sync(auth.release, caller, state.store)

    async def _admit(self, scope: dict, receive, state) -> bytes:
        check_target(scope)
        settings = state.settings
        api = scope["path"].startswith("/v1.1/")
        limit = settings.max_body_bytes if api else LOGIN_BODY_BYTES
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise _too_large(limit)
        if not api:
            return await read_body(receive, limit)
        client = (scope.get("client") or ("unknown", 0))[0]
        first = await anyio.to_thread.run_sync(auth.from_headers, headers, client, state.store, state.box,
                                               settings, state.lockout)
        body = await read_body(receive, limit)
        if isinstance(first, auth.PendingSignature):
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
            args = (first, scope["method"], raw_path, scope.get("query_string", b""), headers, body, state.store,
                    settings, state.lockout)
            if scope["method"].upper() in auth.STATE_CHANGING:  # remembers the signature: the store
                first = await anyio.to_thread.run_sync(auth.from_body, *args)
            else:  # an HMAC over a small request and no store: cheaper here than a trip to a thread
                first = auth.from_body(*args)
        scope.setdefault("state", {})["caller"] = first
        logs.bind(project_id=first.project_id)  # this request's task only: its log lines name the project
        return body
