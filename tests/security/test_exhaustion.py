"""Finding 3: exhaustion before or around authentication.

Reproduced as found: an anonymous 50 MB JSON body grew the server by 700 MiB before its 401; one
11 MB request created 15,000 jobs; 60 cluster creates started 61 processes; five forged requests
from anyone locked the owner's AK out.
"""

from __future__ import annotations

import os
import select
import socket
import sqlite3
import time

import httpx
import pytest

from opencdm.client import CdmClient
from tests.infra.server import make_server
from tests.security.bodies import expect, job, new_cluster, run, sqlite_link

P = "cccc2222cccc2222cccc2222cccc2222"
BIG = 50 << 20


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("exhaustion"))
    server.env.update(OPENCDM_MAX_CLUSTERS_PER_PROJECT="3", OPENCDM_WORKER_IDLE_SECONDS="1")
    server.start()
    client = CdmClient(server.url, *server.credentials(P), P)
    yield server, client
    server.stop()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def workers(pid: int) -> list[int]:
    """Worker processes the server started (its spawned children that run Python)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):  # children of every thread: runs start pools from theirs
        try:
            children = open(f"/proc/{pid}/task/{task}/children").read().split()
        except FileNotFoundError:
            continue
        for child in children:
            try:
                cmd = open(f"/proc/{child}/cmdline", "rb").read()
            except FileNotFoundError:
                continue
            if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                out.append(int(child))
    return out


def push(port: int, head: str, chunked: bool, total: int = BIG) -> str:
    """Send a request with a huge body as fast as the server takes it; return the status line the
    server answers with (it must answer before most of the body is sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head.encode() + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else
                                  f"Content-Length: {total}\r\n\r\n".encode()))
    piece = b"[" + b"1," * (32 << 10) + b"1]"
    sent = 0
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            data = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
            sock.sendall(data)
            sent += len(piece)
        sock.settimeout(10)
        answer = sock.recv(65536).decode("latin-1")
    except (BrokenPipeError, ConnectionResetError):
        answer = sock.recv(65536).decode("latin-1")
    finally:
        sock.close()
    assert sent < total // 2, f"the server let {sent} bytes in before answering"
    return answer.split("\r\n", 1)[0]


def test_oversized_bodies_are_refused_without_memory_growth(srv):
    server, client = srv
    pid = server.proc.pid
    for _ in range(20):  # warm up: imports, thread pools, the first requests' allocations
        client.call("GET", "/clusters")
        httpx.post(f"{server.url}/v1.1/{P}/clusters", content=b"{}")
    before = rss_kib(pid)
    path = f"/v1.1/{P}/clusters"
    anonymous = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    assert " 413 " in push(server.port, anonymous, chunked=False)  # Content-Length alone says too big
    assert " 401 " in push(server.port, anonymous, chunked=True)  # no credentials: refused before reading
    resp = client.request("POST", "/clusters", b"x" * (2 << 20))
    expect(resp, 413, "Cdm.0011")
    token_head = anonymous + "X-Auth-Token: not-a-token\r\n"
    assert " 401 " in push(server.port, token_head, chunked=True)
    grown = rss_kib(pid) - before
    assert grown < 6 * 1024, f"server RSS grew by {grown} KiB"


def test_items_per_request_are_capped(srv):
    server, client = srv
    cid = new_cluster(client, "items")
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("src", "a.db"))
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("dst", "b.db"))
    jobs = [job(f"j{i}") for i in range(101)]
    body = expect(client.request("POST", f"/clusters/{cid}/cdm/job", {"jobs": jobs}), 400, "Cdm.0085")
    assert "100" in body["error_msg"]
    listing = client.call("GET", f"/clusters/{cid}/cdm/job/all")
    assert listing["total"] == 0
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": jobs[:100]})
    assert client.call("GET", f"/clusters/{cid}/cdm/job/all")["total"] == 100
    client.call("DELETE", f"/clusters/{cid}")


def test_cluster_quota_and_workers_only_while_there_is_work(srv):
    server, client = srv
    pid = server.proc.pid
    for c in client.call("GET", "/clusters")["clusters"]:
        client.call("DELETE", f"/clusters/{c['id']}")
    ids = [new_cluster(client, f"q{i}") for i in range(3)]
    body = expect(client.request("POST", "/clusters", {"cluster": {"name": "q3", "vpcId": "v"}}), 400, "Cdm.0085")
    assert "OPENCDM_MAX_CLUSTERS_PER_PROJECT" in body["error_msg"]
    assert workers(pid) == []  # three running clusters, no process yet
    root = server.data_dir / "projects" / P
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "src.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", [(i, str(i)) for i in range(2000)])
    cid = ids[0]
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("src", "src.db"))
    client.call("POST", f"/clusters/{cid}/cdm/link", sqlite_link("dst", "dst.db"))
    client.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job("w", driver={"numExtractors": "2"},
                                                                 to_extra={"shouldClearTable": "true"})]})
    seen = []
    client.call("PUT", f"/clusters/{cid}/cdm/job/w/start")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.append(len(workers(pid)))
        if client.call("GET", f"/clusters/{cid}/cdm/job/w/status")["submissions"][0]["status"] == "SUCCEEDED":
            break
        time.sleep(0.05)
    assert max(seen) >= 1, "a run must start workers"
    deadline = time.monotonic() + 30
    while workers(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers(pid) == [], "idle workers must stop (OPENCDM_WORKER_IDLE_SECONDS=1)"
    assert run(client, cid, "w")["status"] == "SUCCEEDED"  # and start again with the next run


def test_a_stranger_cannot_lock_out_the_owner(srv):
    """Five forged requests lock the AK for the address they came from, not for its owner."""
    server, owner = srv
    stranger = CdmClient(server.url, owner.ak, "forged-secret-key", P)
    stranger.http = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    for _ in range(6):
        expect(stranger.request("GET", "/clusters"), 401, "APIGW.0301")
    assert owner.request("GET", "/clusters").status_code == 200  # from 127.0.0.1: unaffected
    # the stranger's address is locked even with the right key now
    same_place = CdmClient(server.url, owner.ak, owner.sk, P)
    same_place.http = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    body = expect(same_place.request("GET", "/clusters"), 401, "APIGW.0301")
    assert "too many failed signatures" in body["error_msg"]
