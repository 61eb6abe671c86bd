"""Who is calling: SDK-HMAC-SHA256 (AK/SK) signatures and IAM-style ``X-Auth-Token`` tokens.

Authentication runs in two steps so that nobody makes the server read a large body unasked:
``from_headers`` decides everything the headers alone can (the token, or that the AK exists, is
not locked for this address and its ``X-Sdk-Date`` is fresh) before a byte of the body is read;
``from_body`` then checks the signature over the raw path, query and body (``opencdm.signing``)
and refuses a state-changing request whose signature was already used (replay). A request the
server refuses (4xx) changed nothing, so its signature is ``release``d and may be retried; a
signed state-changing request therefore takes effect at most once. Nothing here logs or echoes a
secret key, a signature or a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opencdm.api.limits import FailureGate
from opencdm.errors import AuthError, Forbidden
from opencdm.signing import REQUIRED_SIGNED_HEADERS, SCHEME, check_sdk_date, parse_authorization, verify_signature
from opencdm.store import credentials
from opencdm.store.db import now_ms

log = logging.getLogger(__name__)

_IAM = "Incorrect IAM authentication information: "
#: Methods whose replay would change something; their signatures are remembered for the skew window.
STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. ``method`` is ``"aksk"`` or ``"token"``."""

    project_id: str
    user_name: str
    method: str
    #: The signature of a state-changing AK/SK request, reserved against replays.
    signature: str | None = None


@dataclass(frozen=True)
class PendingSignature:
    """An AK/SK request whose headers passed; the signature over the body is still to check."""

    access: str
    signature: str
    sk: str
    project_id: str
    user_name: str
    client: str

    def __repr__(self) -> str:  # never let the SK reach a log line
        return f"PendingSignature(access={_mask(self.access)})"


def _mask(ak: str) -> str:
    return ak[:4] + "***"


def from_headers(headers: Any, client: str, store: Any, box: Any, settings: Any,
                 lockout: FailureGate) -> Caller | PendingSignature:
    """Step 1, headers only (runs in a worker thread: it may query the store)."""
    authorization = headers.get("authorization")
    if authorization is not None and authorization.lstrip().startswith(SCHEME):
        access, signed, signature = parse_authorization(authorization)
        if any(name not in signed for name in REQUIRED_SIGNED_HEADERS):
            raise AuthError(_IAM + "SignedHeaders must include host and x-sdk-date")
        if wait := lockout.remaining((access, client)):
            raise AuthError(_IAM + f"too many failed signatures for this ak; retry in {int(wait) + 1} s")
        with store.reading() as session:
            found = credentials.secret_for(session, box, access)
        if found is None:
            raise AuthError(_IAM + "Get secretKey failed, ak not exist")
        check_sdk_date(headers.get("x-sdk-date", ""), settings.signature_skew_seconds)
        sk, project_id, user_name = found
        return PendingSignature(access, signature, sk, project_id, user_name, client)
    token = headers.get("x-auth-token")
    if token:
        with store.reading() as session:
            identity = credentials.token_identity(session, token.strip())
        if identity is None:
            raise AuthError(_IAM + "decrypt token fail")
        return Caller(project_id=identity[0], user_name=identity[1], method="token")
    if authorization:
        raise AuthError(_IAM + f"unsupported authorization scheme; use {SCHEME} or X-Auth-Token")
    raise AuthError(_IAM + "no credentials; sign the request with AK/SK or send X-Auth-Token")


def from_body(pending: PendingSignature, method: str, raw_path: bytes, raw_query: bytes, headers: Any, body: bytes,
              store: Any, settings: Any, lockout: FailureGate) -> Caller:
    """Step 2: the signature over exactly what was sent, and no replay of a state-changing request."""
    if not verify_signature(method, raw_path, raw_query, headers, body, pending.sk):
        lockout.failure((pending.access, pending.client))
        log.info("AK/SK signature mismatch for ak %s from %s", _mask(pending.access), pending.client)
        raise AuthError(_IAM + "verify aksk signature fail")
    lockout.success((pending.access, pending.client))
    changing = method.upper() in STATE_CHANGING
    if changing:
        expires = now_ms() + 2 * settings.signature_skew_seconds * 1000  # the date may be skewed either way
        with store.session() as session:
            fresh = credentials.remember_signature(session, pending.signature, expires)
        if not fresh:
            log.info("replayed signature refused for ak %s from %s", _mask(pending.access), pending.client)
            raise AuthError(_IAM + "this signed request was already received; sign every request anew")
    return Caller(project_id=pending.project_id, user_name=pending.user_name, method="aksk",
                  signature=pending.signature if changing else None)


def release(caller: Caller, store: Any) -> None:
    """The request was refused (4xx) and changed nothing: its signature may be sent again (a retry)."""
    if caller.signature:
        with store.session() as session:
            credentials.forget_signature(session, caller.signature)


def check_project(caller: Caller, path_project_id: str) -> None:
    """Refuse (403 ``Forbidden``) a caller whose credential belongs to another project."""
    if caller.project_id != path_project_id:
        raise Forbidden()
