"""Encryption at rest for secrets kept in the metadata store (link passwords, AK/SK secret keys).

The key lives in a file outside the database (``Settings.key_file``), so a copy of the database
alone reveals no secret. Ciphertexts are AES-256-GCM (``enc:v2:``) and bound to where they are
stored: the *context* (project, link, input; or AK and project) is authenticated associated data,
so a ciphertext copied into another link, input or project does not decrypt. Values a client
sends are always encrypted as given, never taken for ciphertext.

``enc:v1:`` values (Fernet, no context) come from servers before 0.2; ``upgrade`` re-seals them
once at start-up and nothing decrypts them afterwards.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from opencdm.errors import CdmError, SecretUnusable

PREFIX = "enc:v2:"
LEGACY_PREFIX = "enc:v1:"
_SEP = "\x1f"


def link_context(project_id: str, cluster_id: str, link_name: str, input_name: str) -> str:
    return _SEP.join(("link", project_id, cluster_id, link_name, input_name))


def credential_context(ak: str, project_id: str) -> str:
    return _SEP.join(("credential", ak, project_id))


class SecretBox:
    """Encrypts and decrypts short texts with the server's key, each bound to a context string."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        key = _load_or_create_key(self.key_file)
        self._legacy = Fernet(key)
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"opencdm secrets v2").derive(
            base64.urlsafe_b64decode(key))
        self._aead = AESGCM(derived)

    def encrypt(self, text: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, context: str) -> str:
        """The plaintext of ``token`` sealed for ``context``; anything else raises ``CdmError``."""
        if not isinstance(token, str) or not token.startswith(PREFIX):
            raise SecretUnusable("A stored secret is not encrypted with the current scheme: enter it again.")
        try:
            raw = base64.urlsafe_b64decode(token[len(PREFIX):].encode("ascii"))
            return self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeError) as exc:
            # a wrong key, or a ciphertext sealed for another place; never echo either
            raise SecretUnusable("A stored secret cannot be decrypted here (it was sealed for another link or "
                                 "input, or the server's key changed): enter it again.") from exc

    def decrypt_legacy(self, token: str) -> str:
        """An ``enc:v1:`` value; only ``upgrade`` calls this."""
        try:
            return self._legacy.decrypt(token[len(LEGACY_PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise CdmError(f"Cannot decrypt a stored secret with the key in {self.key_file}.") from exc

    @staticmethod
    def is_encrypted(value: object) -> bool:
        return isinstance(value, str) and value.startswith(PREFIX)


def _load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, parents 0700) if it does not exist yet.

    Creation is race-free: the key is written to a private temporary file and hard-linked into
    place, so two servers starting at once both end up with the same key.
    """
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
