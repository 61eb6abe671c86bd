"""Dependencies shared by the routers (Annotated aliases), plus the two small ASGI middlewares."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Path, Request

from opencdm.api.auth import Caller, authenticate, check_project
from opencdm.engine.supervisor import Supervisor
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox

log = logging.getLogger("opencdm.api")


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_box(request: Request) -> SecretBox:
    return request.app.state.box


def get_supervisor(request: Request) -> Supervisor:
    return request.app.state.supervisor


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_caller(request: Request, project_id: Annotated[str, Path()]) -> Caller:
    """Authenticate the request, and refuse it unless the credential belongs to ``project_id``."""
    state = request.app.state
    caller = await authenticate(request, state.store, state.box, state.settings, lockout=state.lockout)
    check_project(caller, project_id)
    request.state.caller = caller
    return caller


StoreDep = Annotated[Store, Depends(get_store)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def name_param(value: str) -> str:
    """Undo the escaping done by ``SlashSafePaths`` on a path parameter."""
    return unquote(value)


class SlashSafePaths:
    """Let resource names contain ``/``: the SDK sends ``job 1/ä`` as ``job%201%2F%C3%A4``.

    Starlette routes on the decoded path, where that ``/`` would split the name. We rebuild the path
    from the raw one, decoding each segment and re-escaping only ``%`` and ``/``; routers decode
    names with ``name_param``. ``raw_path`` stays untouched, so signatures are checked on the bytes sent.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            raw = scope["raw_path"].decode("latin-1")
            segments = [unquote(seg).replace("%", "%25").replace("/", "%2F") for seg in raw.split("/")]
            scope = dict(scope, path="/".join(segments))
        await self.app(scope, receive, send)


class RequestIds:
    """Give every request an id (or keep the caller's X-Request-Id), echo it, log one line per call."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.monotonic()
        status = [0]

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("request_id=%s %s %s -> %s in %.1f ms", rid, scope["method"], scope["path"], status[0],
                     1000 * (time.monotonic() - started))
