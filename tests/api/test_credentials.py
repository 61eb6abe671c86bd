"""SecretBox, AK/SK credentials, password users and tokens, against a real SQLite store."""

from __future__ import annotations

import stat
import string

import pytest

from opencdm.errors import CdmError, Conflict, InvalidInput
from opencdm.store import credentials, secrets
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


CTX = "link\x1fp\x1fc\x1fl\x1flinkConfig.password"


def test_round_trip_and_ciphertext(box):
    for text in ["p@ss w0rd", "", "ä€日😀" * 50]:
        token = box.encrypt(text, CTX)
        assert token.startswith("enc:v2:")
        assert text not in token[len("enc:v2:") :] or text == ""
        assert box.is_encrypted(token)
        assert box.decrypt(token, CTX) == text
    assert box.encrypt("same", CTX) != box.encrypt("same", CTX)  # random nonce


def test_ciphertext_is_bound_to_its_place(box):
    """A ciphertext copied to another project, link or input does not decrypt (finding 2)."""
    token = box.encrypt("hunter2", secrets.link_context("p1", "c1", "pg", "linkConfig.password"))
    for elsewhere in (secrets.link_context("p2", "c1", "pg", "linkConfig.password"),
                      secrets.link_context("p1", "c2", "pg", "linkConfig.password"),
                      secrets.link_context("p1", "c1", "pg2", "linkConfig.password"),
                      secrets.link_context("p1", "c1", "pg", "linkConfig.host"),
                      secrets.credential_context("AK", "p1")):
        with pytest.raises(CdmError) as info:
            box.decrypt(token, elsewhere)
        assert "hunter2" not in str(info.value) and token not in str(info.value)
    assert box.decrypt(token, secrets.link_context("p1", "c1", "pg", "linkConfig.password")) == "hunter2"


def test_is_encrypted():
    assert not SecretBox.is_encrypted("plain")
    assert not SecretBox.is_encrypted(None)
    assert not SecretBox.is_encrypted(42)
    assert SecretBox.is_encrypted("enc:v2:abc")
    assert not SecretBox.is_encrypted("enc:v1:abc")  # legacy values are only read by the upgrade


def test_key_is_reused(tmp_path):
    key_file = tmp_path / "secret.key"
    token = SecretBox(key_file).encrypt("hello", CTX)
    before = key_file.read_bytes()
    assert SecretBox(key_file).decrypt(token, CTX) == "hello"
    assert key_file.read_bytes() == before


def test_wrong_key_or_foreign_value(tmp_path, box):
    token = box.encrypt("hello", CTX)
    other = SecretBox(tmp_path / "other.key")
    with pytest.raises(CdmError) as info:
        other.decrypt(token, CTX)
    assert "hello" not in str(info.value) and token not in str(info.value)
    with pytest.raises(CdmError):
        box.decrypt("hello", CTX)
    with pytest.raises(CdmError):
        box.decrypt("enc:v2:not-a-token", CTX)
    with pytest.raises(CdmError):
        box.decrypt(box._legacy.encrypt(b"old").decode(), CTX)


def test_legacy_secrets_are_resealed_and_copies_dropped(tmp_path, store, box):
    """enc:v1: values of an older server are bound to their place once; a v1 value found in two
    places was copied by an attacker (finding 1 + 2) and is dropped instead of re-sealed."""
    from collections import Counter

    from opencdm.store import links
    from opencdm.store.tables import Cluster, Link

    legacy = lambda text: "enc:v1:" + box._legacy.encrypt(text.encode()).decode()  # noqa: E731
    victim_sk = legacy("victim-sk")
    with store.session() as s:
        s.add(Credential(ak="AKVICTIM", sk_encrypted=victim_sk, project_id="pb", user_name="u", created=0))
        s.add(Cluster(id="c1", project_id="pa", name="c", status="200", flavor_id="f", created=0, updated=0,
                      settings={}))
        other_key = "enc:v1:" + SecretBox(tmp_path / "other.key")._legacy.encrypt(b"x").decode()
        for name, value in (("own", legacy("own-pw")), ("stolen", victim_sk), ("rekeyed", other_key)):
            s.add(Link(project_id="pa", cluster_id="c1", name=name, connector_name="generic-jdbc-connector",
                       config={"configs": [{"name": "linkConfig", "inputs": [
                           {"name": "linkConfig.password", "value": value},
                           {"name": "linkConfig.host", "value": legacy("not-a-secret")}]}]},
                       enabled=True, creation_user="u", creation_date=0, update_user="u", update_date=0))
    sensitive = frozenset({"linkConfig.password"})
    with store.session() as s:
        taken = Counter(credentials.legacy_values(s) + links.legacy_values(s))
        assert credentials.upgrade_legacy_secrets(s, box) == 1
        assert links.upgrade_legacy_secrets(s, box, lambda _: sensitive, taken) == 1  # "rekeyed": dropped
    with store.session() as s:
        assert credentials.secret_for(s, box, "AKVICTIM")[0] == "victim-sk"
        own = links.unsealed_inputs(links.get(s, "pa", "c1", "own"), box, sensitive)
        stolen = links.unsealed_inputs(links.get(s, "pa", "c1", "stolen"), box, sensitive)
    assert own["linkConfig.password"] == "own-pw"
    assert stolen["linkConfig.password"] is None  # the copy of project B's SK is gone
    with store.session() as s:
        assert links.unsealed_inputs(links.get(s, "pa", "c1", "rekeyed"), box, sensitive)["linkConfig.password"] is None
    assert own["linkConfig.host"].startswith("enc:v1:")  # never decrypted: not a secret input


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
