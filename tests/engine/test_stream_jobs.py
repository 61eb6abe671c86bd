"""Stream jobs through a real server, from Tansu (a real Kafka-protocol broker, ``tests/infra/kafka.py``):
Kafka -> PostgreSQL with dirty records and group offsets committed after the destination, and a
permanent run that survives a SIGKILL of the server with every record exactly once."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from tests.engine.test_runs import Env

COUNTERS = "org.apache.sqoop.submission.counter.SqoopCounters"


def group(kind: str, values: dict) -> dict:
    return {"configs": [{"name": kind, "inputs": [{"name": k if "." in k else f"{kind}.{k}", "value": v}
                                                  for k, v in values.items()]}]}


def kafka_job(name: str, topic: str, table: str, throttling: dict | None = None, **fjob: str) -> dict:
    return {"name": name, "from-link-name": "kafka", "to-link-name": "dst", "from-connector-name": "kafka-connector",
            "to-connector-name": "generic-jdbc-connector",
            "from-config-values": group("fromJobConfig", {"topicsList": topic, "kafkaConsumerStrategy": "EARLIEST",
                                                          "dataFormat": "CSV", **fjob}),
            "to-config-values": group("toJobConfig", {"schemaName": "public", "tableName": table,
                                                      "tablePreparation": "DO_NOTHING"}),
            "driver-config-values": group("throttlingConfig", {"numExtractors": "2", **(throttling or {})})}


@pytest.fixture(scope="module")
def env(tmp_path_factory, pg, kafka_broker):
    e = Env(tmp_path_factory.mktemp("streams"), pg)
    try:
        e.client.call("POST", f"/clusters/{e.cid}/cdm/link", {"links": [{
            "name": "kafka", "connector-name": "kafka-connector", "link-config-values": group(
                "linkConfig", kafka_broker.link_inputs())}]})
        yield e
    finally:
        e.server.stop()


def rows(env, table: str) -> list[tuple]:
    with psycopg.connect(env.dst) as conn:
        return conn.execute(f"SELECT id, name FROM {table} ORDER BY id, name").fetchall()


def make_table(env, table: str) -> None:
    with psycopg.connect(env.dst, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, name text)")


def wait_rows(env, table: str, n: int, timeout: float = 60) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while len(got := rows(env, table)) < n:
        assert time.monotonic() < deadline, f"{len(got)} of {n} rows"
        time.sleep(0.2)
    return got


def test_tansu_kafka_to_postgresql_with_dirty_records_and_group_offsets(env, kafka_broker):
    topic, table, grp = f"t{uuid.uuid4().hex[:8]}", "from_kafka", f"g{uuid.uuid4().hex[:6]}"
    kafka_broker.create_topic(topic, 3)
    for p in range(3):
        kafka_broker.produce(topic, [f"{p * 100 + i},name {p}-{i}" for i in range(100)], partition=p)
    kafka_broker.produce(topic, ["just-one-field"], partition=1)
    make_table(env, table)
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [kafka_job(
        "k2pg", topic, table, {"recordDirtyData": "true", "maxErrorRecords": "5"}, groupId=grp)]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/k2pg/start")
    sub = env.wait("k2pg")
    assert sub["status"] == "SUCCEEDED", sub
    assert rows(env, table) == sorted((p * 100 + i, f"name {p}-{i}") for p in range(3) for i in range(100))
    assert sub["counters"][COUNTERS]["ROWS_WRITTEN"] == 300
    assert kafka_broker.committed(grp, topic) == {0: 100, 1: 101, 2: 100}  # committed after the destination
    kafka_broker.produce(topic, ["1000,late"], partition=0)
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/k2pg/start")  # the group's offsets: only what is new
    assert env.wait("k2pg")["status"] == "SUCCEEDED"
    assert len(rows(env, table)) == 301 and rows(env, table)[-1] == (1000, "late")


def test_tansu_missing_topic_fails_the_start_clearly(env):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [kafka_job("nokafka", "no_such_topic", "x")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/nokafka/start")
    sub = env.wait("nokafka")
    assert sub["status"] == "FAILED" and "Topic [no_such_topic] does not exist" in str(sub)


def test_tansu_permanent_kafka_job_survives_sigkill_exactly_once(env, kafka_broker):
    topic, table = f"p{uuid.uuid4().hex[:8]}", "forever"
    kafka_broker.create_topic(topic, 2)
    make_table(env, table)
    burst = lambda b: [f"{b * 1000 + i},burst {b}" for i in range(150)]  # noqa: E731
    kafka_broker.produce(topic, burst(1))
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [kafka_job(
        "perm", topic, table, isPermanency="true", groupId=f"g{uuid.uuid4().hex[:6]}", maxPollInterval="2")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/perm/start")
    wait_rows(env, table, 150)
    assert env.status("perm")["status"] == "RUNNING"
    kafka_broker.produce(topic, burst(2))
    wait_rows(env, table, 300)
    env.server.kill()  # SIGKILL between two bursts
    kafka_broker.produce(topic, burst(3))
    env.server.start()
    env.wait_cluster(env.cid)
    got = wait_rows(env, table, 450)
    time.sleep(3)  # a few more cycles: nothing may arrive twice
    got = rows(env, table)
    assert got == sorted((b * 1000 + i, f"burst {b}") for b in (1, 2, 3) for i in range(150))
    assert env.status("perm")["status"] == "RUNNING"
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/perm/stop")
    assert env.wait("perm", timeout=30)["status"] == "SUCCEEDED"


def test_tansu_permanent_job_into_files_is_refused_at_creation(env, kafka_broker):
    env.client.call("POST", f"/clusters/{env.cid}/cdm/link", {"links": [{
        "name": "files", "connector-name": "local-file-connector", "link-config-values": group("linkConfig", {})}]})
    body = kafka_job("tofiles", "any_topic", "x", isPermanency="true")
    body.update({"to-link-name": "files", "to-connector-name": "local-file-connector",
                 "to-config-values": group("toJobConfig", {"outputDirectory": "out", "outputFormat": "CSV_FILE"})})
    resp = env.client.request("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [body]})
    assert resp.status_code == 400 and "cannot receive a permanent stream" in resp.text


def test_tansu_one_off_run_reads_until_caught_up_not_one_poll_interval(env, kafka_broker):
    """A non-permanent run used to stop after maxPollInterval seconds and end SUCCEEDED with part of the
    topic: it must read until it has caught up."""
    topic, table = f"o{uuid.uuid4().hex[:8]}", "caught_up"
    kafka_broker.create_topic(topic, 1)
    kafka_broker.produce(topic, [f"{i},n{i}" for i in range(150_000)])
    make_table(env, table)
    env.client.call("POST", f"/clusters/{env.cid}/cdm/job", {"jobs": [kafka_job(
        "oneoff", topic, table, maxPollInterval="1", maxPollRecords="500")]})
    env.client.call("PUT", f"/clusters/{env.cid}/cdm/job/oneoff/start")
    assert env.wait("oneoff", timeout=120)["status"] == "SUCCEEDED"
    with psycopg.connect(env.dst) as conn:
        assert conn.execute(f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}").fetchone() == \
            (150_000, 150_000, 0, 149_999)
