"""The only code that turns exceptions into HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from opencdm.errors import CdmError, InvalidInput, Throttled

log = logging.getLogger("opencdm.api")


def error_body(code: str, message: str, request_id: str = "") -> dict[str, str]:
    """One body for every error. The SDK reads error_code/error_msg (or code/message); raw CDM clients
    read errCode/externalMessage (spec §7): we send all three pairs."""
    body = {"error_code": code, "error_msg": message, "code": code, "message": message,
            "errCode": code, "externalMessage": message}
    if request_id:
        body["request_id"] = request_id
    return body


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


def response(exc: CdmError, request_id: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    """The HTTP answer to ``exc``: also used by the request guard, before any router runs."""
    headers = dict(headers or {})
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_body(exc.code, exc.message, request_id), status_code=exc.status, headers=headers)


def render(request: Request, exc: CdmError) -> JSONResponse:
    return response(exc, _request_id(request))


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        if err.get("type") == "missing" and not loc:
            return "The request body cannot be left blank."
        if err.get("type") == "missing":
            parts.append(f"{loc} cannot be left blank")
        else:
            parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
    return "Invalid parameter: " + "; ".join(parts) + "."


def _allowed(request: Request) -> list[str]:
    """The methods of every route whose path matches the request's (routers included in the app too)."""
    methods: set[str] = set()
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):  # an included router: look at its own routes
            pending.extend(route.original_router.routes)
        elif getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(CdmError)
    async def _cdm(request: Request, exc: CdmError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request_id=%s %s %s failed: %s", _request_id(request), request.method, request.url.path, exc)
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        code = "Cdm.0238" if errors and all(e.get("type") == "missing" for e in errors) else "Cdm.0014"
        return render(request, InvalidInput(_describe(errors), code=code))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = CdmError(f"No such API: {request.method} {request.url.path}", code="Cdm.0001")
        elif exc.status_code == 405:
            err = CdmError(f"Method {request.method} is not allowed on {request.url.path}.", code="Cdm.0014")
        else:
            err = CdmError(str(exc.detail), code="Cdm.0014")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every route of this path, not only the first one the router tried
            headers["Allow"] = ", ".join(_allowed(request))
        return JSONResponse(error_body(err.code, err.message, _request_id(request)), status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request_id=%s unexpected error on %s %s", _request_id(request), request.method,
                      request.url.path)
        return render(request, CdmError("Internal error.", code="Cdm.0036"))
