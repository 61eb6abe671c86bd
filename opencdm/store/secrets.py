"""Encryption at rest for secrets kept in the metadata store (link passwords, AK/SK secret keys).

The Fernet key lives in a file outside the database (``Settings.key_file``), so a copy of the
database alone reveals no secret. Ciphertexts carry the prefix ``enc:v1:`` so stored values are
recognisable and a future key scheme can get its own prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from opencdm.errors import CdmError

PREFIX = "enc:v1:"


class SecretBox:
    """Encrypts and decrypts short texts with the server's Fernet key."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        self._fernet = Fernet(_load_or_create_key(self.key_file))

    def encrypt(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``; a value that is not ours or a wrong key raises ``CdmError`` (500)."""
        if not self.is_encrypted(token):
            raise CdmError("Stored secret is not encrypted with a known scheme.")
        try:
            return self._fernet.decrypt(token[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            # Usually the key file was replaced; never include the ciphertext or the key in the message.
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
