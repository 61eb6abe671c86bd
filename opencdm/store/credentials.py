"""Who may call the API: AK/SK credentials, password users and the tokens they are issued.

Functions take an open ``Session`` first and never commit; ``Store.session()`` does. Secrets never
leave this module in the clear except as return values: SKs are stored encrypted with the
``SecretBox``, passwords as salted scrypt hashes, tokens as their SHA-256 only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import string

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opencdm.errors import CdmError, Conflict, InvalidInput
from opencdm.settings import PROJECT_ID
from opencdm.store.db import now_ms
from opencdm.store.secrets import LEGACY_PREFIX, SecretBox, credential_context
from opencdm.store.tables import Credential, SeenSignature, Token, User
from opencdm.text import has_control

log = logging.getLogger("opencdm.store")
_AK_ALPHABET = string.ascii_uppercase + string.digits
# scrypt cost: 16 MiB and roughly 50 ms per check; stored with each hash so it can be raised later.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


# --- AK/SK ---------------------------------------------------------------------------------------


def check_project_id(project_id: str) -> None:
    """A project id names the project's file root: letters, digits, ``-`` and ``_`` (IAM ids are 32 hex)."""
    if not PROJECT_ID.fullmatch(project_id or ""):
        raise InvalidInput(f"Invalid project_id {project_id!r}: 1-64 letters, digits, '-' or '_', starting with a "
                           "letter or digit.")


def create_credential(session: Session, box: SecretBox, project_id: str, user_name: str = "cdm") -> tuple[str, str]:
    """Create an AK/SK pair for ``project_id``; returns ``(ak, sk)``. The SK is shown only this once."""
    check_project_id(project_id)
    ak = "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))
    sk = secrets.token_urlsafe(30)  # 40 url-safe characters
    session.add(Credential(ak=ak, sk_encrypted=box.encrypt(sk, credential_context(ak, project_id)),
                           project_id=project_id, user_name=user_name, created=now_ms()))
    session.flush()
    return ak, sk


def secret_for(session: Session, box: SecretBox, ak: str) -> tuple[str, str, str] | None:
    """``(sk, project_id, user_name)`` of an AK, or None when the AK does not exist."""
    row = session.get(Credential, ak)
    if row is None:
        return None
    return box.decrypt(row.sk_encrypted, credential_context(ak, row.project_id)), row.project_id, row.user_name


def upgrade_legacy_secrets(session: Session, box: SecretBox) -> int:
    """Re-seal ``enc:v1:`` SKs for their own AK and project; returns how many."""
    count = 0
    for row in session.scalars(select(Credential).where(Credential.sk_encrypted.startswith(LEGACY_PREFIX))):
        try:
            sk = box.decrypt_legacy(row.sk_encrypted)
        except CdmError:  # sealed with another key: the AK cannot authenticate either way
            log.warning("credential %s***: its SK does not decrypt with this key; create a new one", row.ak[:4])
            continue
        row.sk_encrypted = box.encrypt(sk, credential_context(row.ak, row.project_id))
        count += 1
    return count


def legacy_values(session: Session) -> list[str]:
    return list(session.scalars(select(Credential.sk_encrypted).where(
        Credential.sk_encrypted.startswith(LEGACY_PREFIX))))


def delete_credential(session: Session, ak: str) -> bool:
    """Revoke an AK; True if it existed."""
    return session.execute(delete(Credential).where(Credential.ak == ak)).rowcount > 0


# --- users and passwords -------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "scrypt${}${}${}${}${}".format(_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _b64(salt), _b64(digest))


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` value."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so an unknown name costs as much as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def create_user(session: Session, name: str, password: str, project_id: str) -> User:
    """Create a password user of ``project_id``; a taken name raises ``Conflict``."""
    if not name or not password:
        raise InvalidInput("User name and password cannot be left blank.")
    if has_control(name):
        raise InvalidInput("A user name cannot contain control characters.")
    check_project_id(project_id)
    user = User(name=name, password_hash=hash_password(password), project_id=project_id, created=now_ms())
    try:
        with session.begin_nested():  # a savepoint, so a taken name leaves the caller's transaction usable
            session.add(user)
    except IntegrityError as exc:
        raise Conflict(f"User {name} already exists.") from exc
    return user


def check_password(session: Session, name: str, password: str, project_id: str | None = None) -> User | None:
    """The user if ``name``/``password`` match (and the user belongs to ``project_id`` when given)."""
    user = session.scalar(select(User).where(User.name == name))
    ok = verify_password(password, user.password_hash if user is not None else _dummy_hash())
    if user is None or not ok:
        return None
    if project_id is not None and not hmac.compare_digest(user.project_id.encode(), project_id.encode()):
        return None
    return user


# --- tokens --------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, ttl_seconds: int) -> tuple[str, int]:
    """A new X-Auth-Token for ``user``; returns ``(token, expires_at_ms)``. Only its hash is stored."""
    now = now_ms()
    # Housekeeping: expired tokens are useless, so drop them whenever a new one is issued.
    session.execute(delete(Token).where(Token.expires_at <= now))
    token = secrets.token_urlsafe(48)
    expires_at = now + int(ttl_seconds * 1000)
    session.add(
        Token(token_hash=_token_hash(token), user_name=user.name, project_id=user.project_id, expires_at=expires_at)
    )
    session.flush()
    return token, expires_at


def token_identity(session: Session, token: str) -> tuple[str, str] | None:
    """``(project_id, user_name)`` of a valid token; None when unknown or expired."""
    if not token:
        return None
    row = session.get(Token, _token_hash(token))
    if row is None or row.expires_at <= now_ms():
        return None
    return row.project_id, row.user_name


def remember_signature(session: Session, signature: str, expires_at: int) -> bool:
    """Record a used request signature; False when it was already recorded (a replay)."""
    if secrets.randbelow(50) == 0:  # housekeeping now and then: expired signatures can no longer be replayed
        session.execute(delete(SeenSignature).where(SeenSignature.expires_at <= now_ms()))
    try:
        with session.begin_nested():
            session.add(SeenSignature(signature=signature.lower(), expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def forget_signature(session: Session, signature: str) -> None:
    session.execute(delete(SeenSignature).where(SeenSignature.signature == signature.lower()))


def revoke_token(session: Session, token: str) -> bool:
    """Forget a token; True if it existed."""
    return session.execute(delete(Token).where(Token.token_hash == _token_hash(token))).rowcount > 0
