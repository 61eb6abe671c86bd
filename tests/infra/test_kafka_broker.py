"""The Kafka-protocol test broker (Tansu, see ``tests/infra/kafka.py``) with the confluent-kafka client."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_tansu_round_trip_three_partitions_byte_exact(kafka_broker):
    topic = _name("rt")
    kafka_broker.create_topic(topic, partitions=3)
    assert kafka_broker.partitions(topic) == [0, 1, 2]
    sent = {0: [bytes(range(256)), b"", b"\x00\xff" * 5000], 1: ["z\u00fcrich \u6771\u4eac \U0001f600", "plain"],
            2: [b"row-%d" % i for i in range(50)]}
    for partition, values in sent.items():
        kafka_broker.produce(topic, values, key=b"k", partition=partition)
    got = kafka_broker.consume_all(topic)
    expected = [(p, off, v.encode() if isinstance(v, str) else v)
                for p, values in sent.items() for off, v in enumerate(values)]
    assert got == expected


def test_tansu_group_commit_in_assign_mode_read_back_by_second_consumer(kafka_broker):
    topic, group = _name("commit"), _name("group")
    kafka_broker.create_topic(topic, partitions=2)
    for partition in (0, 1):
        kafka_broker.produce(topic, [f"p{partition}-{i}" for i in range(5)], partition=partition)
    assert kafka_broker.committed(group, topic) == {}

    first = kafka_broker.consumer(group)  # assign() mode: no group join, commits still go to the group
    first.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    read = []
    while len(read) < 10:
        read += first.consume(10 - len(read), 5) or pytest.fail(f"only {len(read)} of 10 records read")
    done = first.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 5)], asynchronous=False)
    assert [(tp.partition, tp.offset, tp.error) for tp in done] == [(0, 3, None), (1, 5, None)]
    first.close()

    assert kafka_broker.committed(group, topic) == {0: 3, 1: 5}
    assert kafka_broker.committed(_name("other"), topic) == {}
    second = kafka_broker.consumer(group)
    try:
        second.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])  # start from the committed offsets
        resumed = []
        for _ in range(10):
            resumed += [(m.partition(), m.offset(), m.value()) for m in second.consume(100, 0.5)]
            if len(resumed) >= 2:
                break
        assert resumed == [(0, 3, b"p0-3"), (0, 4, b"p0-4")]
    finally:
        second.close()


def test_tansu_missing_topic(kafka_broker):
    missing = _name("missing")
    with pytest.raises(KafkaException) as exc:
        kafka_broker.partitions(missing)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    consumer = kafka_broker.consumer()
    meta = consumer.list_topics(missing, timeout=10).topics[missing]
    consumer.close()
    assert meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and not meta.partitions
    with pytest.raises(KafkaException):  # asking without auto-creation did not create it
        kafka_broker.partitions(missing)
    if kafka_broker.tansu:  # Tansu creates a topic (4 partitions) on a Metadata request that allows it
        consumer = kafka_broker.consumer(**{"allow.auto.create.topics": True})
        meta = consumer.list_topics(missing, timeout=10)
        consumer.close()
        assert meta.topics[missing].error is None
        assert kafka_broker.partitions(missing) == [0, 1, 2, 3]
