"""A real S3 server on 127.0.0.1: a one-node Ceph cluster with the RADOS gateway, started once per session.

Debian's Ceph 16 (pacific) has no standalone RGW backend, so this is a mini-cluster in one temporary
directory: one monitor, one OSD on the in-memory ``memstore`` objectstore (its capacity,
``OPENCDM_TEST_CEPH_BYTES``, defaults to 3 GiB so a 2 GiB object fits) and ``radosgw`` on the beast
frontend. Auth is off inside the cluster (``auth ... = none``); S3 clients sign with a fixed key pair.
The monitor commits every 50 ms instead of every second, which makes the pool creations of a
fresh gateway take ~1 s instead of ~12 s (start ~1.5 s in all). The daemons fork into the
background and are stopped through the pid files they write.

``start_ceph``/``stop_ceph`` are plain functions so benchmarks can run the same server outside
pytest. With ``OPENCDM_TEST_S3_ENDPOINT=host:port`` (plus ``OPENCDM_TEST_S3_ACCESS_KEY`` and
``OPENCDM_TEST_S3_SECRET_KEY``) the fixture uses that S3 service instead and starts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.postgres import free_port

ACCESS_KEY = "opencdm-test-ak"
SECRET_KEY = "opencdm-test-sk"
DAEMONS = {"client.rgw": "radosgw", "osd.0": "ceph-osd", "mon.a": "ceph-mon"}  # name: program, in stop order
CHECKSUM_ENV = "AWS_REQUEST_CHECKSUM_CALCULATION"
PROGRAMS = ("ceph-authtool", "monmaptool", "ceph-mon", "ceph", "ceph-osd", "radosgw", "radosgw-admin")


@dataclass
class S3Server:
    endpoint_host: str
    port: int
    access_key: str
    secret_key: str
    root: Path | None  # None for an external service

    def client(self):
        """A ``pyarrow.fs.S3FileSystem`` on this server (path-style, plain HTTP, may create/delete buckets).

        pyarrow's AWS SDK sends uploads as ``aws-chunked`` with a trailing checksum by default, which
        RGW 16 rejects (HTTP 411 MissingContentLength). The SDK reads
        ``AWS_REQUEST_CHECKSUM_CALCULATION`` when the filesystem is built, so it is set just for that.
        """
        from pyarrow import fs

        saved = os.environ.get(CHECKSUM_ENV)
        os.environ[CHECKSUM_ENV] = "when_required"
        try:
            return fs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                                   endpoint_override=f"{self.endpoint_host}:{self.port}", scheme="http",
                                   force_virtual_addressing=False, allow_bucket_creation=True,
                                   allow_bucket_deletion=True)
        finally:
            if saved is None:
                del os.environ[CHECKSUM_ENV]
            else:
                os.environ[CHECKSUM_ENV] = saved

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name when none given) and return its name."""
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_dir(name)
        return name

    def link_inputs(self) -> dict[str, str]:
        """Flat linkConfig inputs of an ``obs-connector`` link to this server."""
        return {
            "linkConfig.storageType": "OBS",
            "linkConfig.server": self.endpoint_host,
            "linkConfig.port": str(self.port),
            "linkConfig.accessKey": self.access_key,
            "linkConfig.securityKey": self.secret_key,
        }


def _conf(root: Path, fsid: str, mon_port: int, rgw_port: int, device_bytes: int) -> str:
    return f"""[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
run dir = {root}/run
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
pid file = {root}/run/$name.pid
ms bind ipv6 = false
ms bind msgr2 = false
[mon]
mon data = {root}/mon
paxos propose interval = 0.05
paxos min wait = 0.01
[osd]
osd data = {root}/osd$id
osd objectstore = memstore
memstore device bytes = {device_bytes}
osd max object name len = 460
osd max object namespace len = 64
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {root}/rgw
rgw dns name = localhost
"""


def _run(root: Path, *argv: str, conf: bool = True, timeout: float = 60) -> str:
    """Run a Ceph program (with this cluster's config); its stdout. Stderr goes to log/tools.log."""
    cmd = [argv[0], "-c", str(root / "ceph.conf"), *argv[1:]] if conf else list(argv)
    with open(root / "log" / "tools.log", "ab") as err:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, timeout=timeout,
                              check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}); see {root / 'log'}")
    return proc.stdout.decode()


def _wait(what: str, check, timeout: float, pause: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready = check()
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError):  # not ready yet
            ready = False
        if ready:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"ceph: {what} not ready within {timeout:.0f} s")
        time.sleep(pause)


def _osd_up(root: Path) -> bool:
    stat = json.loads(_run(root, "ceph", "--connect-timeout", "10", "osd", "stat", "-f", "json", timeout=20))
    return stat.get("num_up_osds") == 1 and stat.get("num_in_osds") == 1


def _rgw_answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
    except urllib.error.HTTPError:
        pass  # any HTTP answer means the frontend is serving
    return True


def _start_osd(root: Path, attempts: int = 5) -> None:
    """Start OSD 0. Right after the monitor's first election the OSD's init now and then fails
    ("mon_cmd_maybe_osd_create fail: 'wrong fsid'", exit 250); a second start works."""
    for attempt in range(attempts):
        try:
            _run(root, "ceph-osd", "-i", "0")
            return
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            with open(root / "log" / "tools.log", "a") as log:
                log.write(f"ceph-osd start attempt {attempt + 1} failed; retrying\n")
            time.sleep(0.5)


def _missing_programs() -> str | None:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if not missing:
        return None
    return (f"Ceph programs not found: {', '.join(missing)} (apt-get install radosgw ceph-mon ceph-osd "
            "ceph-common; scripts/test.sh does)")


def start_ceph(root: Path, bytes: int | None = None) -> S3Server:
    """Start mon, OSD and radosgw in the (empty or missing) directory ``root``; ready when it returns."""
    if problem := _missing_programs():
        raise FileNotFoundError(problem)
    device_bytes = bytes or int(os.environ.get("OPENCDM_TEST_CEPH_BYTES") or 3 << 30)
    for sub in ("mon", "osd0", "run", "log", "rgw"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    fsid = str(uuid.uuid4())
    mon_port, rgw_port = free_port(), free_port()
    while rgw_port == mon_port:
        rgw_port = free_port()
    (root / "ceph.conf").write_text(_conf(root, fsid, mon_port, rgw_port, device_bytes))
    server = S3Server("127.0.0.1", rgw_port, ACCESS_KEY, SECRET_KEY, root)
    try:
        _run(root, "ceph-authtool", "--create-keyring", str(root / "mon.keyring"), "--gen-key", "-n", "mon.",
             "--cap", "mon", "allow *", conf=False)
        _run(root, "monmaptool", "--create", "--addv", "a", f"[v1:127.0.0.1:{mon_port}]", "--fsid", fsid,
             str(root / "monmap"), conf=False)
        _run(root, "ceph-mon", "--mkfs", "-i", "a", "--monmap", str(root / "monmap"),
             "--keyring", str(root / "mon.keyring"))
        _run(root, "ceph-mon", "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = _run(root, "ceph", "--connect-timeout", "30", "osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise RuntimeError(f"ceph osd new returned id {osd_id!r}, expected 0")
        _run(root, "ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        _start_osd(root)
        _wait("OSD up and in", lambda: _osd_up(root), 60)
        _run(root, "radosgw", "-n", "client.rgw")
        _wait("radosgw HTTP", lambda: _rgw_answers(rgw_port), 120)
        _run(root, "radosgw-admin", "user", "create", "--uid=opencdm", "--display-name=opencdm",
             f"--access-key={ACCESS_KEY}", f"--secret-key={SECRET_KEY}")
        # The user lives in RADOS; radosgw may still serve a cached "no such key" for a moment.
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        _wait("S3 user", lambda: bool(server.make_bucket(probe)), 60)
        server.client().delete_dir(probe)
    except BaseException:
        stop_ceph(server)
        raise
    return server


def _pid(root: Path, name: str) -> int | None:
    try:
        return int((root / "run" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int, program: str) -> bool:
    """``program`` runs as ``pid`` and is not a zombie (the daemons are reparented to an init that
    may not reap them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            comm, rest = f.read().split("(", 1)[1].rsplit(")", 1)
    except (OSError, IndexError, ValueError):
        return False
    return comm == program and rest.split()[0] != "Z"


def stop_ceph(server: S3Server) -> None:
    """SIGTERM each daemon through its pid file and wait for it to exit (SIGKILL after 30 s).

    One at a time, gateway first and monitor last: an OSD whose monitor is already gone waits 5 s
    for it before exiting."""
    if server.root is None:
        return
    for name, program in DAEMONS.items():
        pid = _pid(server.root, name)
        if pid is None or not _alive(pid, program):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid, program) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid, program):
            os.kill(pid, signal.SIGKILL)


def _external() -> S3Server | None:
    endpoint = os.environ.get("OPENCDM_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    host, _, port = endpoint.rpartition(":")
    return S3Server(host, int(port), os.environ["OPENCDM_TEST_S3_ACCESS_KEY"],
                    os.environ["OPENCDM_TEST_S3_SECRET_KEY"], None)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    external = _external()
    if external is not None:
        yield external
        return
    if problem := _missing_programs():
        pytest.fail(problem, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="opencdm-ceph-"))
    try:
        server = start_ceph(root)
        try:
            yield server
        finally:
            stop_ceph(server)
    finally:
        shutil.rmtree(root, ignore_errors=True)
