"""No secret in any log line of a whole test run.

Every secret the tests hand to opencdm is known here: the fixed passwords and keys of the test servers,
plus each SK and user password created during the run (``remember``). At the end of the session every
log opencdm wrote is read line by line — each ``opencdm serve`` process's log, this process's own
log records (engine tests run in-process), and the Dask workers' logs (scanned before their directory
goes) — and one line holding one secret fails the run. The third-party servers' own logs are not
opencdm's and are not read.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

#: Secrets of the test servers (PostgreSQL/MariaDB/FTP/SFTP password, Ceph S3 secret key, DIS SK).
KNOWN = {"opencdm-test-pw", "opencdm-test-sk", "dis-test-secret-key-0001"}
_remembered: set[str] = set()
_logs: list[Path] = []
_found: list[str] = []


def remember(*values: str) -> None:
    _remembered.update(v for v in values if v and len(v) >= 8)


def watch(path: Path) -> None:
    """A log file opencdm writes; read at the end of the session."""
    _logs.append(path)


def secrets() -> set[str]:
    return KNOWN | _remembered


def scan(paths: Iterable[Path]) -> list[str]:
    """Lines of ``paths`` that hold a secret, kept for the session's check."""
    hits = find(paths)
    _found.extend(hits)
    return hits


def find(paths: Iterable[Path]) -> list[str]:
    """Lines of ``paths`` that hold a secret (``file:line: first letters``)."""
    wanted, hits = secrets(), []
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    hits += [f"{path}:{n}: {s[:3]}…" for s in wanted if s in line]
        except FileNotFoundError:
            continue
    return hits


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_logs() -> Iterator[None]:
    own = Path(tempfile.mkdtemp(prefix="opencdm-test-logs-")) / "in-process.log"
    handler = logging.FileHandler(own)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(min(level or logging.WARNING, logging.INFO))
    yield
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()
    scan([own, *_logs])
    if _found:
        pytest.fail(f"{len(_found)} log lines hold a test secret:\n" + "\n".join(_found[:20]), pytrace=False)
