"""SDK-HMAC-SHA256 request signing (spec §15.1), pure functions: the server verifies with them,
clients and connectors (DIS) sign with them.

The recipe, byte for byte what ``huaweicloudsdkcore.signer.Signer`` does::

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders \\n PayloadHash
    StringToSign     = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))

Everything is computed over what arrived on the wire: the raw path, the raw query string and the
exact body bytes. Header values are taken as ASGI hands them over (latin-1 decoded wire bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from opencdm.errors import AuthError

SCHEME = "SDK-HMAC-SHA256"
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
REQUIRED_SIGNED_HEADERS = ("host", "x-sdk-date")
_IAM = "Incorrect IAM authentication information: "
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^`|~0-9a-z-]+")  # RFC 9110 token, lower case, no "_"
_DATE_RE = re.compile(r"\d{8}T\d{6}Z")


# --- canonical forms (pure) ----------------------------------------------------------------------


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_uri(raw_path: str | bytes) -> str:
    """Decode the raw path once, re-encode each ``/`` segment, and make sure it ends with ``/``.

    A ``%2F`` inside a segment therefore becomes a literal ``/``, as the SDK signs it.
    """
    path = _text(raw_path).partition("?")[0]
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def parse_query(raw_query: str | bytes) -> list[tuple[str, str]]:
    """Percent-decoded ``(key, value)`` pairs in received order. ``+`` stays ``+`` (never a space)."""
    pairs = []
    for part in _text(raw_query).split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def canonical_query(raw_query: str | bytes) -> str:
    """Pairs sorted by key then value, each re-encoded with ``quote(safe='~')``, joined by ``&``."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(parse_query(raw_query)))


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """``(access, signed_headers, signature)`` from an ``SDK-HMAC-SHA256`` Authorization value."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != SCHEME:
        raise AuthError(_IAM + f"authorization scheme must be {SCHEME}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep or key in fields:
            raise AuthError(_IAM + "malformed Authorization header")
        fields[key] = val.strip()
    access, signed, signature = fields.get("Access"), fields.get("SignedHeaders"), fields.get("Signature")
    if not access or not signed or signature is None or set(fields) != {"Access", "SignedHeaders", "Signature"}:
        raise AuthError(_IAM + "Authorization needs Access, SignedHeaders and Signature")
    names = signed.split(";")
    if not all(_HEADER_NAME_RE.fullmatch(name) for name in names) or len(set(names)) != len(names):
        raise AuthError(_IAM + "malformed SignedHeaders")
    if not _SIGNATURE_RE.fullmatch(signature):
        raise AuthError(_IAM + "malformed Signature")
    return access, names, signature.lower()


def _lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        out.setdefault(name.lower(), value)  # first occurrence wins, as in Starlette's Headers.get
    return out


def _header_bytes(value: str) -> bytes:
    """A received header value, trimmed, as the UTF-8 bytes the client signed."""
    try:
        raw = value.encode("latin-1")  # ASGI servers decode wire bytes as latin-1
    except UnicodeEncodeError:
        return value.strip().encode("utf-8")  # already real text (a hand-built mapping)
    try:
        return raw.decode("utf-8").strip().encode("utf-8")
    except UnicodeDecodeError:
        return raw.strip()


def payload_hashes(body: bytes | str | None, content_sha256: str | None) -> list[str]:
    """The payload hashes a valid signer may have used for this body.

    The SDK hashes the body (empty body: the empty-string hash) and uses the literal
    ``UNSIGNED-PAYLOAD`` when it sent ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` with a body. The APIG
    signers use the literal even for an empty body, so both are accepted there.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    unsigned = (content_sha256 or "").strip() == UNSIGNED_PAYLOAD
    if not body:
        return [EMPTY_HASH, UNSIGNED_PAYLOAD] if unsigned else [EMPTY_HASH]
    return [UNSIGNED_PAYLOAD] if unsigned else [hashlib.sha256(body).hexdigest()]


def canonical_request(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> bytes:
    """The canonical request as bytes; ``KeyError`` if a signed header is missing from ``headers``."""
    low = _lower_headers(headers)
    canon_headers = b"".join(name.encode() + b":" + _header_bytes(low[name]) + b"\n" for name in signed_headers)
    head = f"{method.upper()}\n{canonical_uri(raw_path)}\n{canonical_query(raw_query)}\n".encode()
    return head + canon_headers + f"\n{';'.join(signed_headers)}\n{payload_hash}".encode()


def string_to_sign(sdk_date: str, creq: bytes) -> bytes:
    return f"{SCHEME}\n{sdk_date}\n{hashlib.sha256(creq).hexdigest()}".encode()


def compute_signature(sk: str, sdk_date: str, creq: bytes) -> str:
    return hmac.new(sk.encode("utf-8"), string_to_sign(sdk_date, creq), hashlib.sha256).hexdigest()


def sign(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes | str | None,
    ak: str,
    sk: str,
    signed_headers: list[str] | None = None,
) -> str:
    """An Authorization value for a request, for tests and tools.

    By default every given header whose name has no ``_`` is signed, as the SDK does. ``headers``
    must contain ``X-Sdk-Date`` (and ``Host``, for a signature the server will accept).
    """
    low = _lower_headers(headers)
    names = signed_headers or sorted(name for name in low if "_" not in name and name != "authorization")
    creq = canonical_request(
        method, raw_path, raw_query, low, names, payload_hashes(body, low.get("x-sdk-content-sha256"))[0]
    )
    signature = compute_signature(sk, low["x-sdk-date"], creq)
    return f"{SCHEME} Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"


def verify_signature(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str | None,
    sk: str,
) -> bool:
    """True when the request's ``Authorization`` signature is valid for ``sk`` (spec §15.1).

    Refuses (False) a malformed header, SignedHeaders without ``host`` and ``x-sdk-date``, or a
    signed header absent from the request. Does not check the date's freshness: ``authenticate`` does.
    """
    low = _lower_headers(headers)
    try:
        _access, signed, signature = parse_authorization(low.get("authorization", ""))
    except AuthError:
        return False
    if any(name not in signed for name in REQUIRED_SIGNED_HEADERS) or any(name not in low for name in signed):
        return False
    sdk_date = low["x-sdk-date"].strip()
    ok = False
    for payload_hash in payload_hashes(body, low.get("x-sdk-content-sha256")):
        creq = canonical_request(method, raw_path, raw_query, low, signed, payload_hash)
        ok |= hmac.compare_digest(compute_signature(sk, sdk_date, creq), signature)
    return ok


def check_sdk_date(sdk_date: str, skew_seconds: float, now: float | None = None) -> None:
    """Raise ``AuthError`` unless ``sdk_date`` is ``YYYYMMDDTHHMMSSZ`` within ±``skew_seconds`` of now."""
    sdk_date = sdk_date.strip()
    try:
        if not _DATE_RE.fullmatch(sdk_date):
            raise ValueError(sdk_date)
        signed_at = datetime.strptime(sdk_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(_IAM + "X-Sdk-Date must be in the form YYYYMMDDTHHMMSSZ") from None
    now = time.time() if now is None else now
    if abs(now - signed_at.timestamp()) > skew_seconds:
        server = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        raise AuthError(
            _IAM + f"signature expired, signature time:{sdk_date}, server time:{server}", code="APIGW.0303"
        )
