"""Dependencies shared by the routers (Annotated aliases), and the request-id middleware."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from opencdm import logs, metrics
from opencdm.api.auth import Caller, check_project
from opencdm.engine.supervisor import Supervisor
from opencdm.errors import AuthError
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


def get_caller(request: Request, project_id: Annotated[str, Path()]) -> Caller:
    """The caller the request guard authenticated; refused unless its credential belongs to ``project_id``."""
    caller = getattr(request.state, "caller", None)
    if caller is None:  # only when the guard is not installed: fail closed
        raise AuthError("Incorrect IAM authentication information: the request was not authenticated")
    check_project(caller, project_id)
    return caller


StoreDep = Annotated[Store, Depends(get_store)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]
CallerDep = Annotated[Caller, Depends(get_caller)]


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
        logs.bind(request_id=rid)  # this request's task only
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
            took = time.monotonic() - started
            route = scope.get("route")
            metrics.HTTP_SECONDS.labels(scope["method"], getattr(route, "path", None) or "unmatched",
                                        str(status[0])).observe(took)
            log.info("request_id=%s %s %s -> %s in %.1f ms", rid, scope["method"], scope["path"], status[0],
                     1000 * took)
