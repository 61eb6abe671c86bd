"""``dis-connector`` against the DIS-protocol server written for the tests (``tests/infra/dis.py``; no
DIS runs outside Huawei Cloud, and the official DIS SDKs check that server in its own tests):
Elasticsearch -> DIS lines, DIS -> PostgreSQL through a real opencdm server with FROM_LAST_STOP and
dirty records, throttled records sent again, and the errors for a wrong key or a missing stream."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from opencdm.connectors import get
from opencdm.connectors.base import ConnectorContext
from opencdm.connectors.dis import load as disload
from opencdm.errors import CdmError
from tests.engine.test_runs import Env
from tests.engine.test_stream_jobs import group

DIS, ES = get("dis-connector"), get("elasticsearch-connector")
CTX = ConnectorContext()


def move(ext, loader) -> None:
    loader.prepare(ext.schema())
    loader.commit([loader.load(p, ext.extract(p)) for p in ext.partitions(2)])


def test_dis_protocol_server_elasticsearch_index_to_stream_as_lines(dis_test_server, search_server):
    dis_server = dis_test_server  # fault injection: the test server (a real DIS runs the seed example)
    index, stream = f"e_{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    docs = [{"id": i, "name": f"n|{i}", "tags": [{"k": i, "v": "ü"}]} for i in range(1, 1201)]
    search_server.bulk(index, docs)
    dis_server.create_stream(stream, partitions=3)
    dis_server.throttle_next(7)  # DIS refuses some records of a call: they are sent again, once
    columns = "id:long&name:string&tags:nested"
    ext = ES.extractor(search_server.link_inputs(), {"fromJobConfig.index": index, "fromJobConfig.columnList": columns},
                       CTX)
    move(ext, DIS.loader(dis_server.link_inputs(), {"toJobConfig.streamName": stream, "toJobConfig.separator": "|",
                                                    "toJobConfig.columnList": "1&3"}, CTX, "r1"))
    got = sorted(dis_server.records(stream), key=lambda line: int(line.split(b"|")[0]))
    assert got == [f"{d['id']}|{json.dumps(d['tags'], ensure_ascii=False)}".encode() for d in docs]


def test_dis_protocol_server_batches_within_limits_and_enclosure(dis_test_server, monkeypatch):
    dis_server = dis_test_server  # counts calls: the test server
    import pyarrow as pa

    from opencdm.connectors.base import WholeSource

    stream = f"s-{uuid.uuid4().hex[:8]}"
    dis_server.create_stream(stream)
    before = dis_server.calls["PutRecords"]
    loader = DIS.loader(dis_server.link_inputs(), {"toJobConfig.streamName": stream,
                                                   "toJobConfig.identifierEnclose": '"'}, CTX, "r2")
    loader.prepare(pa.schema([("a", pa.string()), ("b", pa.int64())]))
    batch = pa.record_batch({"a": [f'x"{i}' for i in range(1200)], "b": list(range(1200))})
    assert loader.load(WholeSource(0), [batch]).rows == 1200
    assert dis_server.calls["PutRecords"] - before == 3  # 500 + 500 + 200 records
    assert dis_server.records(stream)[:2] == [b'"x""0" "0"', b'"x""1" "1"']
    monkeypatch.setattr(disload, "MAX_RECORD", 8)
    kept = []

    class Dirty:
        def record(self, rows, reasons):
            kept.extend(reasons)

    loader.load(WholeSource(1), [pa.record_batch({"a": ["ok", "much too long"], "b": [1, 2]})], dirty=Dirty())
    assert dis_server.records(stream)[-1] == b'"ok" "1"' and "at most 8" in kept[0]


def test_dis_protocol_server_refuses_wrong_keys_and_missing_streams(dis_server):
    with pytest.raises(CdmError) as err:
        DIS.check_link(dict(dis_server.link_inputs(), **{"linkConfig.sk": "wrong"}), CTX)
    assert err.value.code == "Cdm.0950" and "AK/SK" in str(err.value)
    assert "DIS" in DIS.check_link(dis_server.link_inputs(), CTX)
    with pytest.raises(CdmError, match="DIS.4301"):
        DIS.loader(dis_server.link_inputs(), {"toJobConfig.streamName": "no-such-stream"}, CTX, "r3").prepare(
            __import__("pyarrow").schema([("a", __import__("pyarrow").string())]))
    for bad in ({"fromJobConfig.streamName": "s", "fromJobConfig.dataFormat": "XML"},
                {"fromJobConfig.streamName": "a/b", "fromJobConfig.dataFormat": "CSV"},
                {"fromJobConfig.streamName": "s", "fromJobConfig.dataFormat": "CSV", "fromJobConfig.shardId": "x"}):
        with pytest.raises(CdmError):
            DIS.check_job(dis_server.link_inputs(), bad, "from", CTX)


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg, dis_server):
    e = Env(tmp_path_factory.mktemp("dis"), pg)
    try:
        e.client.call("POST", f"/clusters/{e.cid}/cdm/link", {"links": [{
            "name": "dis", "connector-name": "dis-connector",
            "link-config-values": group("linkConfig", dis_server.link_inputs())}]})
        yield e
    finally:
        e.server.stop()


def test_dis_protocol_server_stream_to_postgresql_from_last_stop(env, dis_server):
    stream = f"s-{uuid.uuid4().hex[:8]}"
    dis_server.create_stream(stream, partitions=2)
    dis_server.put(stream, [f"{i};v{i}".encode() for i in range(400)])
    dis_server.put(stream, [b"no separator here"])
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute("CREATE TABLE from_dis (id int, v text)")
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [{
        "name": "dis2pg", "from-link-name": "dis", "to-link-name": "dst", "from-connector-name": "dis-connector",
        "to-connector-name": "generic-jdbc-connector",
        "from-config-values": group("fromJobConfig", {"streamName": stream, "disConsumerStrategy": "FROM_LAST_STOP",
                                                      "dataFormat": "CSV", "separator": ";", "appName": "app1",
                                                      "isPermanency": "false", "shardId": "0,1"}),
        "to-config-values": group("toJobConfig", {"schemaName": "public", "tableName": "from_dis",
                                                  "tablePreparation": "DO_NOTHING"}),
        "driver-config-values": group("throttlingConfig", {"numExtractors": "2", "recordDirtyData": "true",
                                                           "maxErrorRecords": "3"})}]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/dis2pg/start")
    sub = env.wait("dis2pg")
    assert sub["status"] == "SUCCEEDED", sub
    assert sub["counters"]["org.apache.sqoop.submission.counter.SqoopCounters"]["ROWS_WRITTEN_SKIPPED"] == 1

    def table() -> list[tuple]:
        with psycopg.connect(env.dst) as conn:
            return conn.execute("SELECT id, v FROM from_dis ORDER BY id").fetchall()

    assert table() == [(i, f"v{i}") for i in range(400)]
    dis_server.put(stream, [b"400;v400", b"401;v401"])
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/dis2pg/start")  # from the last stop: only the new ones
    assert env.wait("dis2pg")["status"] == "SUCCEEDED"
    assert table() == [(i, f"v{i}") for i in range(402)]
