"""SecretBox, AK/SK credentials, password users and tokens, against a real SQLite store."""

from __future__ import annotations

import stat
import string

import pytest

from opencdm.errors import CdmError, Conflict, InvalidInput
from opencdm.store import credentials
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox
from opencdm.store.tables import Base, Credential, Token, User


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/m.db")
    Base.metadata.create_all(store.engine)
    yield store
    store.close()


@pytest.fixture
def box(tmp_path):
    return SecretBox(tmp_path / "keys" / "secret.key")


# --- SecretBox ----------------------------------------------------------------------------------


def test_key_file_created_private(tmp_path):
    key_file = tmp_path / "a" / "b" / "secret.key"
    SecretBox(key_file)
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not [p for p in key_file.parent.iterdir() if p.name != "secret.key"]  # no temp file left behind


def test_round_trip_and_ciphertext(box):
    for text in ["p@ss w0rd", "", "ä€日😀" * 50]:
        token = box.encrypt(text)
        assert token.startswith("enc:v1:")
        assert text not in token[len("enc:v1:") :] or text == ""
        assert box.is_encrypted(token)
        assert box.decrypt(token) == text
    assert box.encrypt("same") != box.encrypt("same")  # random IV


def test_is_encrypted():
    assert not SecretBox.is_encrypted("plain")
    assert not SecretBox.is_encrypted(None)
    assert not SecretBox.is_encrypted(42)
    assert SecretBox.is_encrypted("enc:v1:abc")


def test_key_is_reused(tmp_path):
    key_file = tmp_path / "secret.key"
    token = SecretBox(key_file).encrypt("hello")
    before = key_file.read_bytes()
    assert SecretBox(key_file).decrypt(token) == "hello"
    assert key_file.read_bytes() == before


def test_wrong_key_or_foreign_value(tmp_path, box):
    token = box.encrypt("hello")
    other = SecretBox(tmp_path / "other.key")
    with pytest.raises(CdmError) as info:
        other.decrypt(token)
    assert "hello" not in str(info.value) and token not in str(info.value)
    with pytest.raises(CdmError):
        box.decrypt("hello")
    with pytest.raises(CdmError):
        box.decrypt("enc:v1:not-a-fernet-token")


# --- AK/SK --------------------------------------------------------------------------------------


def test_create_credential_and_secret_for(store, box):
    with store.session() as s:
        ak, sk = credentials.create_credential(s, box, "proj-a", user_name="alice")
    assert len(ak) == 20 and set(ak) <= set(string.ascii_uppercase + string.digits)
    assert len(sk) == 40 and set(sk) <= set(string.ascii_letters + string.digits + "-_")
    with store.session() as s:
        row = s.get(Credential, ak)
        assert row.sk_encrypted != sk and sk not in row.sk_encrypted and box.is_encrypted(row.sk_encrypted)
        assert credentials.secret_for(s, box, ak) == (sk, "proj-a", "alice")
        assert credentials.secret_for(s, box, "NOSUCHAK000000000000") is None


def test_credentials_are_distinct(store, box):
    with store.session() as s:
        pairs = [credentials.create_credential(s, box, "p") for _ in range(20)]
    assert len({ak for ak, _ in pairs}) == 20 and len({sk for _, sk in pairs}) == 20


def test_delete_credential(store, box):
    with store.session() as s:
        ak, _ = credentials.create_credential(s, box, "p")
    with store.session() as s:
        assert credentials.delete_credential(s, ak)
        assert not credentials.delete_credential(s, ak)
        assert credentials.secret_for(s, box, ak) is None


def test_credential_needs_project(store, box):
    with pytest.raises(InvalidInput), store.session() as s:
        credentials.create_credential(s, box, "")


# --- users and passwords ------------------------------------------------------------------------


def test_password_check(store):
    with store.session() as s:
        credentials.create_user(s, "alice", "s3cret!ä", "proj-a")
    with store.session() as s:
        row = s.query(User).filter_by(name="alice").one()
        assert "s3cret" not in row.password_hash and row.password_hash.startswith("scrypt$")
        assert credentials.check_password(s, "alice", "s3cret!ä", "proj-a").name == "alice"
        assert credentials.check_password(s, "alice", "s3cret!ä").project_id == "proj-a"
        assert credentials.check_password(s, "alice", "s3cret!a", "proj-a") is None
        assert credentials.check_password(s, "alice", "", "proj-a") is None
        assert credentials.check_password(s, "alice", "s3cret!ä", "proj-b") is None
        assert credentials.check_password(s, "bob", "s3cret!ä", "proj-a") is None


def test_password_hashes_are_salted(store):
    with store.session() as s:
        credentials.create_user(s, "u1", "same", "p")
        credentials.create_user(s, "u2", "same", "p")
    with store.session() as s:
        hashes = {u.password_hash for u in s.query(User)}
    assert len(hashes) == 2


def test_duplicate_user_conflicts_and_keeps_the_transaction(store):
    with store.session() as s:
        credentials.create_user(s, "alice", "one", "p")
    with store.session() as s:
        with pytest.raises(Conflict):
            credentials.create_user(s, "alice", "two", "p")
        credentials.create_user(s, "bob", "three", "p")  # the session is still usable
    with store.session() as s:
        assert credentials.check_password(s, "alice", "one", "p") is not None
        assert credentials.check_password(s, "bob", "three", "p") is not None


def test_verify_password_rejects_garbage():
    assert not credentials.verify_password("x", "")
    assert not credentials.verify_password("x", "md5$abc")
    assert not credentials.verify_password("x", "scrypt$a$b$c$d$e")
    assert credentials.verify_password("x", credentials.hash_password("x"))


# --- tokens -------------------------------------------------------------------------------------


def _user(store, name="alice", project="proj-a"):
    with store.session() as s:
        return credentials.create_user(s, name, "pw", project)


def test_issue_and_identify(store):
    user = _user(store)
    with store.session() as s:
        token, expires_at = credentials.issue_token(s, user, 3600)
    assert len(token) == 64
    with store.session() as s:
        assert credentials.token_identity(s, token) == ("proj-a", "alice")
        assert credentials.token_identity(s, token + "x") is None
        assert credentials.token_identity(s, "") is None
        stored = s.query(Token).one()
        assert stored.token_hash != token and token not in stored.token_hash and len(stored.token_hash) == 64
        assert stored.expires_at == expires_at


def test_token_ttl_zero_is_expired(store):
    user = _user(store)
    with store.session() as s:
        token, _ = credentials.issue_token(s, user, 0)
    with store.session() as s:
        assert credentials.token_identity(s, token) is None


def test_token_expires(store, monkeypatch):
    user = _user(store)
    clock = [1_700_000_000_000]
    monkeypatch.setattr(credentials, "now_ms", lambda: clock[0])
    with store.session() as s:
        token, expires_at = credentials.issue_token(s, user, 1)
    assert expires_at == clock[0] + 1000
    clock[0] += 999
    with store.session() as s:
        assert credentials.token_identity(s, token) == ("proj-a", "alice")
    clock[0] += 1
    with store.session() as s:
        assert credentials.token_identity(s, token) is None


def test_expired_tokens_are_purged(store, monkeypatch):
    user = _user(store)
    clock = [1_700_000_000_000]
    monkeypatch.setattr(credentials, "now_ms", lambda: clock[0])
    with store.session() as s:
        credentials.issue_token(s, user, 1)
    clock[0] += 5000
    with store.session() as s:
        fresh, _ = credentials.issue_token(s, user, 60)
    with store.session() as s:
        assert s.query(Token).count() == 1
        assert credentials.token_identity(s, fresh) == ("proj-a", "alice")


def test_revoke_token(store):
    user = _user(store)
    with store.session() as s:
        token, _ = credentials.issue_token(s, user, 60)
    with store.session() as s:
        assert credentials.revoke_token(s, token)
        assert credentials.token_identity(s, token) is None
