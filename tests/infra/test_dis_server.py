"""The DIS-protocol test server (``tests/infra/dis.py``) driven by the official DIS SDKs, unchanged.

``huaweicloud-sdk-python-dis`` 2.x (``disclient``, its own SigV4-like signature, JSON bodies) for the
stream, record and cursor calls; ``huaweicloudsdkdis`` 3.x (huaweicloudsdkcore, ``SDK-HMAC-SHA256``)
for binary records and per-record throttling; raw ``httpx`` signed with ``opencdm.signing.sign`` for
what a connector sends, the limits and the error codes.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
import pytest
from dis_sdk_python import disclient
from dis_sdk_python.com.huaweicloud.dis.sdk.python.models.disexception import DisException
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdis.v2 import (ConsumeRecordsRequest, DisClient, PutRecordsRequest, PutRecordsRequestEntry,
                                  SendRecordsRequest, ShowCursorRequest)

from opencdm import signing
from tests.infra.dis import RealDis


@pytest.fixture(autouse=True)
def _keep_root_logger_level():
    """The 2.x SDK sets the root logger's level on every PutRecords (``models/log.py``)."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.fixture
def local(dis_test_server):
    """Tests of the server's own limits, fault injection and state: always the test server."""
    return dis_test_server


def name(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sdk2(server, **kw) -> disclient:
    return disclient(**{"endpoint": server.url, "ak": server.ak, "sk": server.sk, "projectid": server.project_id,
                        "region": server.region, **kw})


def sdk3(server, sk: str | None = None) -> DisClient:
    creds = BasicCredentials(server.ak, sk or server.sk, server.project_id)
    return DisClient.new_builder().with_credentials(creds).with_endpoints([server.url]).build()


def raw(server, method: str, path: str, query: dict | None = None, body: object = None, sk: str | None = None,
        tamper=None) -> httpx.Response:
    """A request signed with ``opencdm.signing.sign`` (Host + X-Sdk-Date + Content-Type), as a connector sends."""
    raw_path = f"/v2/{server.project_id}/{path}"
    raw_query = "&".join(f"{quote(k, safe='~')}={quote(str(v), safe='~')}" for k, v in (query or {}).items())
    content = json.dumps(body).encode() if body is not None else b""
    headers = {"Host": urlsplit(server.url).netloc, "Content-Type": "application/json",
               "X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")}
    headers["Authorization"] = signing.sign(method, raw_path, raw_query, headers, content, server.ak, sk or server.sk)
    if tamper:
        raw_path, raw_query, content = tamper(raw_path, raw_query, content)
    url = server.url + raw_path + (f"?{raw_query}" if raw_query else "")
    return httpx.request(method, url, headers=headers, content=content, timeout=30)


def error_code(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["errorCode"]


def test_dis_protocol_server_stream_calls_with_official_sdk(dis_server):
    client, a, b = sdk2(dis_server), name("a"), name("b")
    assert client.createStream(a, 3, "BLOB", "COMMON").statusCode == 201
    assert client.createStream(b, 1, "JSON", "COMMON").statusCode == 201
    with pytest.raises(DisException, match="DIS.4307"):
        client.createStream(a, 1, "BLOB", "COMMON")
    desc = client.describeStream(a)
    assert (desc.streamName, desc.status, desc.streamType, desc.currentPartitionCount) == (a, "RUNNING", "COMMON", 3)
    assert [p["partition_id"] for p in desc.partitions] == [f"shardId-000000000{i}" for i in range(3)]
    assert {p["status"] for p in desc.partitions} == {"ACTIVE"}
    assert desc.partitions[0]["sequence_number_range"] == "[0 : 0]"
    assert desc.partitions[0]["hash_range"].startswith("[0 : ")
    page = client.describeStream(a, startPartitionId="shardId-0000000000", limitPartitions=1)
    assert [p["partition_id"] for p in page.partitions] == ["shardId-0000000001"] and page.hasMorePartitions
    names = client.listStream(limit=100).stream_names
    assert a in names and b in names
    first = client.listStream(startStreamName=min(a, b), limit=1)
    assert len(first.stream_names) == 1 and first.stream_names[0] > min(a, b)
    client.deleteStream(b)
    with pytest.raises(DisException, match="DIS.4301"):
        client.describeStream(b)


def test_dis_protocol_server_records_and_cursors_with_official_sdk(dis_server):
    client, s = sdk2(dis_server), name("rec")
    client.createStream(s, 2, "BLOB", "COMMON")
    texts = [f"line {i} – ünïcode ✓" for i in range(6)]
    res = client.putRecords(s, [{"data": t, "partition_key": f"key-{i}"} for i, t in enumerate(texts)])
    assert res.failedRecordCount == 0
    by_part: dict[str, list[tuple[str, str]]] = {}
    for text, entry in zip(texts, res.recordResult, strict=True):
        by_part.setdefault(entry["partition_id"], []).append((entry["sequence_number"], text))
    assert set(by_part) <= {"shardId-0000000000", "shardId-0000000001"}
    for entries in by_part.values():  # sequence numbers: strings of 0, 1, 2, … per partition
        assert [seq for seq, _ in entries] == [str(i) for i in range(len(entries))]
    pinned = client.putRecords(s, [{"data": "pinned", "partition_id": "1"}]).recordResult[0]
    assert pinned["partition_id"] == "shardId-0000000001"
    by_part.setdefault("shardId-0000000001", []).append((pinned["sequence_number"], "pinned"))

    for pid, entries in by_part.items():
        cur = client.getCursor(s, pid, "TRIM_HORIZON").cursor
        got = client.getRecords(cur, limit=1000)
        assert [(r["sequence_number"], r["data"]) for r in got.recordResult] == entries
        after = client.getCursor(s, pid, "AFTER_SEQUENCE_NUMBER", startSeq="0").cursor
        assert [r["data"] for r in client.getRecords(after).recordResult] == [t for _, t in entries[1:]]
        at = client.getCursor(s, pid.removeprefix("shardId-").lstrip("0") or "0", "AT_SEQUENCE_NUMBER",
                              startSeq=str(len(entries) - 1)).cursor
        assert [r["data"] for r in client.getRecords(at).recordResult] == [entries[-1][1]]
        one = client.getRecords(cur, limit=1)  # limit, then the next cursor goes on
        assert one.recordCount == 1 and client.getRecords(one.nextPartitionCursor).recordCount == len(entries) - 1
    assert sorted(dis_server.records(s)) == sorted(t.encode() for t in [*texts, "pinned"])

    latest = client.getCursor(s, "0", "LATEST").cursor
    empty = client.getRecords(latest)
    assert empty.recordCount == 0
    client.putRecords(s, [{"data": "late", "partition_id": "shardId-0000000000"}])
    assert [r["data"] for r in client.getRecords(empty.nextPartitionCursor).recordResult] == ["late"]
    stamp = int(time.time() * 1000) + 5
    time.sleep(0.02)
    client.putRecords(s, [{"data": "after stamp", "partition_id": "0"}])
    ts_cur = client.getCursor(s, "0", "AT_TIMESTAMP", timestamp=stamp).cursor
    assert [r["data"] for r in client.getRecords(ts_cur).recordResult] == ["after stamp"]


def test_dis_protocol_server_binary_records_with_sdk_v3(dis_server):
    client, s = sdk3(dis_server), name("bin")
    dis_server.create_stream(s, partitions=2)
    blobs = [bytes(range(256)), b"\x00", b"\xff" * 1000]
    req = PutRecordsRequest(stream_name=s, records=[PutRecordsRequestEntry(data=base64.b64encode(b).decode(),
                                                                           partition_id="shardId-0000000001")
                                                    for b in blobs])
    res = client.send_records(SendRecordsRequest(body=req))
    assert res.failed_record_count == 0
    assert [(r.partition_id, r.sequence_number) for r in res.records] == [("shardId-0000000001", str(i))
                                                                          for i in range(3)]
    cur = client.show_cursor(ShowCursorRequest(stream_name=s, partition_id="1", cursor_type="TRIM_HORIZON"))
    got = client.consume_records(ConsumeRecordsRequest(partition_cursor=cur.partition_cursor))
    assert [base64.b64decode(r.data) for r in got.records] == blobs
    small = client.consume_records(ConsumeRecordsRequest(partition_cursor=cur.partition_cursor, max_fetch_bytes=300))
    assert [base64.b64decode(r.data) for r in small.records] == blobs[:2]
    assert dis_server.records(s) == blobs


def test_dis_protocol_server_throttles_per_record(local):
    s = name("thr")
    local.create_stream(s)
    local.throttle_next(2)
    entries = [PutRecordsRequestEntry(data=base64.b64encode(b"r%d" % i).decode(), partition_key="k") for i in range(4)]
    res = sdk3(local).send_records(SendRecordsRequest(body=PutRecordsRequest(stream_name=s, records=entries)))
    assert res.failed_record_count == 2
    assert [(r.error_code, r.sequence_number) for r in res.records] == [("DIS.4303", None), ("DIS.4303", None),
                                                                        (None, "0"), (None, "1")]
    assert local.records(s) == [b"r2", b"r3"]

    local.throttle_next(3)  # the 2.x client resends exactly the failed records
    before = local.calls["PutRecords"]
    res2 = sdk2(local).put_records(s, "", [{"data": f"x{i}", "partition_key": str(i)} for i in range(5)])
    assert res2.failedRecordCount == 0 and local.calls["PutRecords"] - before == 2
    assert local.records(s) == [b"r2", b"r3", b"x3", b"x4", b"x0", b"x1", b"x2"]


def test_dis_protocol_server_refuses_bad_credentials(dis_server):
    s = name("auth")
    dis_server.create_stream(s)
    for kw, code in [({"sk": "wrong"}, "DIS.4100"), ({"ak": "NOSUCHAK"}, "DIS.4107"),
                     ({"region": "xx-none-9"}, "DIS.4111"), ({"derivationKeySwitch": False, "sk": "x"}, "DIS.4100"),
                     ({"projectid": "0" * 32}, "DIS.4117")]:
        with pytest.raises(DisException, match=code):
            sdk2(dis_server, **kw).describeStream(s)
    with pytest.raises(ClientRequestException) as err:
        sdk3(dis_server, sk="wrong").send_records(SendRecordsRequest(body=PutRecordsRequest(
            stream_name=s, records=[PutRecordsRequestEntry(data="AA==", partition_key="k")])))
    assert err.value.status_code == 401 and "DIS.4100" in err.value.error_msg
    assert dis_server.records(s) == []
    assert error_code(httpx.get(f"{dis_server.url}/v2/{dis_server.project_id}/streams")) == (401, "DIS.4101")


def test_dis_protocol_server_unknown_stream(dis_server):
    client = sdk2(dis_server)
    for call in (lambda: client.describeStream("no-such-stream"), lambda: client.deleteStream("no-such-stream"),
                 lambda: client.getCursor("no-such-stream", "0", "TRIM_HORIZON"),
                 lambda: client.put_records("no-such-stream", "", [{"data": "x", "partition_key": "k"}])):
        with pytest.raises(DisException, match="DIS.4301"):
            call()
    assert error_code(raw(dis_server, "GET", "streams/no-such-stream")) == (400, "DIS.4301")


def test_dis_protocol_server_accepts_opencdm_signing(dis_server):
    s = name("raw")
    assert raw(dis_server, "POST", "streams", body={"stream_name": s, "partition_count": 1}).status_code == 201
    body = {"stream_name": s, "records": [{"data": base64.b64encode(b"\x01\x02").decode(), "partition_key": "a b+c"}]}
    put = raw(dis_server, "POST", "records", body=body)
    assert put.status_code == 200 and put.json()["records"] == [{"partition_id": "shardId-0000000000",
                                                                "sequence_number": "0"}]
    cur = raw(dis_server, "GET", "cursors", {"stream-name": s, "partition-id": "shardId-0000000000",
                                             "cursor-type": "TRIM_HORIZON"}).json()["partition_cursor"]
    got = raw(dis_server, "GET", "records", {"partition-cursor": cur, "limit": 10}).json()
    assert [(r["partition_key"], base64.b64decode(r["data"])) for r in got["records"]] == [("a b+c", b"\x01\x02")]

    def body_swap(p, q, c):
        return p, q, c.replace(b'"a b+c"', b'"zzzzz"')

    for tamper in (body_swap, lambda p, q, c: (p, q.replace("limit=10", "limit=11"), c),
                   lambda p, q, c: (p.replace("/records", "/cursors"), q, c)):
        method, path, query, doc = ("POST", "records", None, body) if tamper is body_swap else \
            ("GET", "records", {"partition-cursor": cur, "limit": 10}, None)
        assert error_code(raw(dis_server, method, path, query, doc, tamper=tamper)) == (401, "DIS.4100")
    assert error_code(raw(dis_server, "GET", "streams", sk="wrong")) == (401, "DIS.4100")
    assert dis_server.records(s) == [b"\x01\x02"]


def test_dis_protocol_server_limits_and_error_codes(local):
    s = name("lim")
    local.create_stream(s, partitions=2)

    def put(records):
        return raw(local, "POST", "records", body={"stream_name": s, "records": records})

    one = {"data": "AA==", "partition_key": "k"}
    assert put([one] * 500).status_code == 200
    assert error_code(put([one] * 501)) == (400, "DIS.4200")
    mib = base64.b64encode(b"x" * (1 << 20)).decode()
    assert put([{"data": mib, "partition_id": "0"}]).status_code == 200
    assert error_code(put([{"data": base64.b64encode(b"x" * ((1 << 20) + 1)).decode(), "partition_id": "0"}])) \
        == (400, "DIS.4200")
    assert error_code(put([{"data": mib, "partition_id": "0"}] * 6)) == (400, "DIS.4200")  # > 5 MB in one call
    assert error_code(put([{"data": "not base64!", "partition_key": "k"}])) == (400, "DIS.4200")
    assert error_code(put([{"data": "AA==", "partition_id": "shard-x"}])) == (400, "DIS.4201")
    assert error_code(put([{"data": "AA==", "partition_id": "shardId-0000000002"}])) == (400, "DIS.4302")
    assert error_code(put([])) == (400, "DIS.4202")
    assert len(local.records(s)) == 501

    def cursor(**q):
        return raw(local, "GET", "cursors", {"stream-name": s, "partition-id": "0", **q})

    assert error_code(cursor(**{"cursor-type": "SOMEWHERE"})) == (400, "DIS.4215")
    assert error_code(cursor(**{"cursor-type": "AT_SEQUENCE_NUMBER"})) == (400, "DIS.4216")
    size = len(local.streams[s].partitions[0])
    assert cursor(**{"cursor-type": "AFTER_SEQUENCE_NUMBER", "starting-sequence-number": size - 1}).status_code == 200
    assert error_code(cursor(**{"cursor-type": "AFTER_SEQUENCE_NUMBER", "starting-sequence-number": size})) \
        == (400, "DIS.4224")
    assert error_code(raw(local, "GET", "records", {"partition-cursor": "bm9wZQ"})) == (400, "DIS.4217")
    cur = cursor(**{"cursor-type": "TRIM_HORIZON"}).json()["partition_cursor"]
    assert error_code(raw(local, "GET", "records", {"partition-cursor": cur, "limit": 10001})) == (400, "DIS.4200")
    local.cursor_ttl = 0.0
    try:
        time.sleep(0.01)
        assert error_code(raw(local, "GET", "records", {"partition-cursor": cur})) == (400, "DIS.4225")
    finally:
        local.cursor_ttl = 300.0


def test_dis_protocol_server_fixture_helpers(local):
    dis_server = local
    s = name("fix")
    dis_server.create_stream(s, partitions=2)
    assert dis_server.put(s, [b"a", b"b", b"c"]) == [("shardId-0000000000", "0"), ("shardId-0000000001", "0"),
                                                     ("shardId-0000000000", "1")]
    dis_server.put(s, [b"d"], partition=1)
    assert dis_server.records(s) == [b"a", b"c", b"b", b"d"]
    assert dis_server.link_inputs() == {
        "linkConfig.region": dis_server.region, "linkConfig.endpoint": dis_server.url,
        "linkConfig.ak": dis_server.ak, "linkConfig.sk": dis_server.sk, "linkConfig.projectId": dis_server.project_id}


def test_dis_protocol_server_real_dis_helpers_over_the_api(local):
    """``RealDis`` (the fixture for ``OPENCDM_TEST_DIS_ENDPOINT``) checked against the test server."""
    real, s = RealDis(local.url, local.ak, local.sk, local.project_id, local.region), name("real")
    real.create_stream(s, partitions=2)
    local.throttle_next(3)
    assert real.put(s, [b"p0", b"p1"], partition=1) == [("shardId-0000000001", "1"), ("shardId-0000000001", "0")]
    assert [r.data for r in local.streams[s].partitions[1]] == [b"p1", b"p0"]  # p0 was throttled twice
    real.put(s, [b"r%d" % i for i in range(600)])  # two PutRecords batches, throttled records resent
    assert sorted(real.records(s)) == sorted(local.records(s)) and len(local.records(s)) == 602
    real.close()
    assert s not in local.streams
