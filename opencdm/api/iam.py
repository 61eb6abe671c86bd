"""``POST /v3/auth/tokens``: an IAM-compatible password login that issues ``X-Auth-Token`` tokens;
``DELETE /v3/auth/tokens`` revokes one (Keystone: ``X-Auth-Token`` authenticates, ``X-Subject-Token`` goes).

Only the password method and project scope are supported. Projects have no separate names here,
so ``scope.project.name`` must equal the project id. A body without ``scope`` gets a token for the
user's own project. This route is not authenticated itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from opencdm.errors import AuthError, InvalidInput, NotFound, Throttled
from opencdm.store import credentials
from opencdm.store.db import now_ms
from opencdm.text import has_control

router = APIRouter(tags=["iam"])
#: How long a login waits for a free password-hashing slot before it is told to retry (429).
HASH_WAIT_SECONDS = 2.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class _Named(_Model):
    id: str | None = None
    name: str | None = None


class _PasswordUser(_Model):
    name: str
    password: str
    domain: _Named | None = None


class _Password(_Model):
    user: _PasswordUser


class _Identity(_Model):
    methods: list[str]
    password: _Password | None = None


class _Scope(_Model):
    project: _Named | None = None
    domain: _Named | None = None


class _Auth(_Model):
    identity: _Identity
    scope: _Scope | None = None


class TokenRequest(_Model):
    auth: _Auth


def _iso(ms: int) -> str:
    """IAM's timestamp form, e.g. ``2024-01-02T03:04:05.678000Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(raw: bytes) -> tuple[str, str, str | None]:
    """``(user name, password, requested project or None)`` from the request body."""
    try:
        auth = TokenRequest.model_validate_json(raw or b"{}").auth
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "body"
        raise InvalidInput(f"Invalid request body at {where}: {err['msg']}.") from None
    if "password" not in auth.identity.methods or auth.identity.password is None:
        raise InvalidInput("Only the password identity method is supported.")
    project: str | None = None
    if auth.scope is not None:
        if auth.scope.project is None or not (auth.scope.project.id or auth.scope.project.name):
            raise InvalidInput("Only project-scoped tokens are supported: set auth.scope.project.id.")
        project = auth.scope.project.id or auth.scope.project.name
    user = auth.identity.password.user
    for text in (user.name, user.password, project or ""):
        if has_control(text):
            raise InvalidInput("User names, passwords and project ids cannot contain control characters.")
    return user.name, user.password, project


def _login(state: Any, name: str, password: str, project: str | None) -> tuple[str, int, str, str] | None:
    throttle = state.login
    if not throttle.hashing.acquire(timeout=HASH_WAIT_SECONDS):
        raise Throttled("Too many logins are being checked at once; retry shortly.", retry_after=1)
    try:
        with state.store.session() as session:
            user = credentials.check_password(session, name, password, project)
            if user is None:
                return None
            token, expires_at = credentials.issue_token(session, user, state.settings.token_ttl_seconds)
            return token, expires_at, user.project_id, user.name
    finally:
        throttle.hashing.release()


@router.post("/v3/auth/tokens", status_code=201, response_model=None)
async def create_token(request: Request) -> JSONResponse:
    """Exchange a user name and password for a project-scoped token (returned in ``X-Subject-Token``).

    Failed logins are throttled per user and per client address (429 with ``Retry-After``), and at
    most ``OPENCDM_LOGIN_CONCURRENCY`` password hashes run at once.
    """
    state = request.app.state
    name, password, project = _parse(await request.body())
    client = request.client.host if request.client else "unknown"
    if wait := state.login.wait(name, client):
        raise Throttled("Too many failed logins for this user or from this address; retry later.", retry_after=wait)
    issued_at = now_ms()
    result = await anyio.to_thread.run_sync(_login, state, name, password, project)
    if result is None:
        state.login.failed(name, client)
        raise AuthError("Incorrect IAM authentication information: The username or password is wrong.")
    state.login.succeeded(name)
    token, expires_at, project_id, user_name = result
    body = {
        "token": {
            "expires_at": _iso(expires_at),
            "issued_at": _iso(issued_at),
            "methods": ["password"],
            "project": {"id": project_id, "name": project_id},
            "user": {"name": user_name},
        }
    }
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": token})


def _revoke(store: Any, caller_token: str, subject: str) -> None:
    with store.session() as session:
        identity = credentials.token_identity(session, caller_token)
        if identity is None:
            raise AuthError("Incorrect IAM authentication information: decrypt token fail")
        # A token of another user or project is "not found" too: no oracle for other people's tokens.
        if credentials.token_identity(session, subject) != identity:
            raise NotFound("Could not find the token given in X-Subject-Token.")
        credentials.revoke_token(session, subject)


@router.delete("/v3/auth/tokens", status_code=204, response_model=None,
               responses={"404": {"description": "X-Subject-Token is not a valid token of the caller's user."}})
async def revoke_token(request: Request) -> Response:
    """Revoke the token in ``X-Subject-Token`` (the caller's own, or another of the same user and project),
    authenticated by ``X-Auth-Token``, as Keystone does. Logging out of the console calls this."""
    caller_token = (request.headers.get("x-auth-token") or "").strip()
    subject = (request.headers.get("x-subject-token") or "").strip()
    if not caller_token:
        raise AuthError("Incorrect IAM authentication information: no credentials; send X-Auth-Token")
    if not subject:
        raise InvalidInput("X-Subject-Token cannot be left blank: send the token to revoke.")
    await anyio.to_thread.run_sync(_revoke, request.app.state.store, caller_token, subject)
    return Response(status_code=204)
