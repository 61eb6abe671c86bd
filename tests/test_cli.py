"""The opencdm command: demo end to end, credentials, users, connectors."""

from __future__ import annotations

import json
import subprocess
import sys


def opencdm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opencdm", *args], capture_output=True, text=True, timeout=timeout)


def test_demo_migrates_and_verifies(tmp_path):
    out = opencdm("demo", "--rows", "30000", "--extractors", "2", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert "migrated 30,000 rows" in text and "rows/s" in text
    assert "verified: target has 30,000 rows" in text


def test_credentials_and_users(tmp_path):
    out = opencdm("credentials", "create", "--project-id", "p1", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["project_id"] == "p1" and len(doc["ak"]) == 20 and len(doc["sk"]) >= 40
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("opencdm.db*"))
    assert doc["ak"].encode() in stored and doc["sk"].encode() not in stored  # the SK is stored encrypted
    assert oct((tmp_path / "secret.key").stat().st_mode & 0o777) == "0o600"
    out = opencdm("user", "create", "--name", "bob", "--password", "pw-123456", "--project-id", "p1",
                  "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    again = opencdm("user", "create", "--name", "bob", "--password", "x", "--project-id", "p1",
                    "--data-dir", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_connectors_listed():
    out = opencdm("connectors")
    assert out.returncode == 0 and "generic-jdbc-connector\tfrom/to" in out.stdout
