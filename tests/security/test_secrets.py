"""Finding 2: a stored secret never goes to a host the attacker picks.

Reproduced as found: ``PUT .../cdm/link/pg`` with ``linkConfig.password="******"`` (keep the stored
secret) and the port of a fake PostgreSQL made the server send the stored password there; and a
value that looked encrypted (``enc:v1:...``) was stored as given and decrypted on use, so another
project's encrypted secret came out in plaintext the same way. The fake server here asks for the
password in clear text and records what it gets.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from opencdm.client import CdmClient
from tests.infra.fake_pg import FakePostgres
from tests.infra.server import make_server
from tests.security.bodies import expect, link, new_cluster

A = "aaaa1111aaaa1111aaaa1111aaaa1111"
B = "bbbb1111bbbb1111bbbb1111bbbb1111"


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg):
    server = make_server(tmp_path_factory.mktemp("secrets"))
    server.start()
    a = CdmClient(server.url, *server.credentials(A), A)
    b = CdmClient(server.url, *server.credentials(B), B)
    ca, cb = new_cluster(a, "ca"), new_cluster(b, "cb")
    db = pg.create_database()
    a.call("POST", f"/clusters/{ca}/cdm/link", link("pg", pg.link_inputs(db)))
    b.call("POST", f"/clusters/{cb}/cdm/link", link("pg", pg.link_inputs(db)))
    fake = FakePostgres()
    yield server, a, b, ca, cb, pg, db, fake
    fake.close()
    server.stop()


def _stored(server, project: str, name: str, input_name: str) -> str:
    """What the metadata store holds for an input (the leak finding 1 allowed, done by hand here)."""
    with sqlite3.connect(server.data_dir / "opencdm.db") as conn:
        rows = conn.execute("SELECT config FROM links WHERE project_id = ? AND name = ?", (project, name)).fetchall()
    (config,) = rows[0]
    return next(i["value"] for c in json.loads(config)["configs"] for i in c["inputs"] if i["name"] == input_name)


def test_kept_password_is_not_sent_to_a_new_host_or_port(world):
    server, a, _b, ca, _cb, pg, db, fake = world
    inputs = dict(pg.link_inputs(db), **{"linkConfig.password": "******"})
    for change in ({"linkConfig.port": str(fake.port)}, {"linkConfig.host": "localhost"},
                   {"linkConfig.username": "postgres"}, {"linkConfig.database": "postgres"},
                   {"linkConfig.jdbcProperties": '{"sslmode": "disable"}'}):
        body = expect(a.request("PUT", f"/clusters/{ca}/cdm/link/pg", link("pg", {**inputs, **change})), 400,
                      "Cdm.0014")
        assert "must be entered again" in body["error_msg"] and next(iter(change)) in body["error_msg"]
    assert fake.connections == 0 and fake.passwords == []
    # changing a tuning input keeps the secret; so does sending the same place back
    a.call("PUT", f"/clusters/{ca}/cdm/link/pg", link("pg", {**inputs, "linkConfig.fetchSize": "5000"}))
    a.call("PUT", f"/clusters/{ca}/cdm/link/pg", link("pg", inputs))
    # with the password typed again, the new place is checked (and refused by the fake server)
    typed = {**inputs, "linkConfig.port": str(fake.port), "linkConfig.password": "typed-again"}
    resp = a.request("PUT", f"/clusters/{ca}/cdm/link/pg", link("pg", typed))
    assert resp.status_code == 400 and fake.passwords == ["typed-again"]
    assert a.call("GET", f"/clusters/{ca}/cdm/link/pg")["links"][0]["link-config-values"]["configs"][0]["inputs"]


def test_a_copied_ciphertext_is_only_ever_text(world):
    """Project B's stored password ciphertext, pasted by project A as its password for a host it
    controls: the fake server receives the ciphertext text itself, never B's password."""
    server, a, _b, ca, _cb, pg, db, fake = world
    stolen = _stored(server, B, "pg", "linkConfig.password")
    assert stolen.startswith("enc:v2:") and pg.password not in stolen
    before = len(fake.passwords)
    inputs = dict(pg.link_inputs(db), **{"linkConfig.port": str(fake.port), "linkConfig.password": stolen})
    expect(a.request("POST", f"/clusters/{ca}/cdm/link", link("thief", inputs)), 400)
    assert fake.passwords[before:] == [stolen]
    assert pg.password not in fake.passwords


def test_a_ciphertext_moved_in_the_store_does_not_decrypt(world):
    """Even written straight into the database, B's ciphertext is bound to B's link and input."""
    server, a, _b, ca, _cb, pg, db, fake = world
    stolen = _stored(server, B, "pg", "linkConfig.password")
    inputs = dict(pg.link_inputs(db), **{"linkConfig.port": str(fake.port)})
    a.call("POST", f"/clusters/{ca}/cdm/link", link("planted", dict(pg.link_inputs(db))))
    with sqlite3.connect(server.data_dir / "opencdm.db") as conn:
        (config,) = conn.execute("SELECT config FROM links WHERE project_id = ? AND name = 'planted'", (A,)).fetchone()
        doc = json.loads(config)
        for item in doc["configs"][0]["inputs"]:
            if item["name"] == "linkConfig.password":
                item["value"] = stolen
        conn.execute("UPDATE links SET config = ? WHERE project_id = ? AND name = 'planted'", (json.dumps(doc), A))
    before = len(fake.passwords)
    # keep the (planted) secret and aim at the fake server: refused before any connection
    inputs["linkConfig.password"] = "******"
    expect(a.request("PUT", f"/clusters/{ca}/cdm/link/planted", link("planted", inputs)), 400, "Cdm.0014")
    assert fake.connections == 0 or fake.passwords[before:] == []
    # keep it and aim at the real server: the planted value does not decrypt for A's link
    same = dict(pg.link_inputs(db), **{"linkConfig.password": "******"})
    body = expect(a.request("PUT", f"/clusters/{ca}/cdm/link/planted", link("planted", same)), 400, "Cdm.0014")
    assert "enter it again" in body["error_msg"] and pg.password not in json.dumps(body)
