"""FROM side of the Kafka connectors, with confluent-kafka (librdkafka: the well-kept, fast client).

One partition of a run per topic partition, read in ``assign`` mode (no group join, no rebalances)
from the run's position: its own stored offset, else the group's committed offset (``groupId``),
else ``kafkaConsumerStrategy``. A cycle reads until the partition has been idle for ``IDLE`` seconds
or ``maxPollInterval`` has passed; the engine commits the destination, stores the next offsets, and
only then are they committed to the group (``advance``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from opencdm.connectors.base import ConnectorContext, Inputs, Partition
from opencdm.connectors.kafka.options import KafkaFrom, KafkaLink
from opencdm.connectors.streams.records import Layout
from opencdm.connectors.streams.source import StreamSource
from opencdm.errors import ExtractFailed, LinkRejected, LinkUnreachable

IDLE = 1.0  # seconds without a record after which a partition's cycle ends
TIMEOUT = 10.0


@dataclass(frozen=True)
class TopicSlice(Partition):
    topic: str = ""
    partition: int = 0
    start: int = OFFSET_BEGINNING  # an offset, or librdkafka's OFFSET_BEGINNING / OFFSET_END
    layout: Layout = ()  # the record fields, as the server learned them (streams.records)


class KafkaExtractor(StreamSource):
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, dms: bool = False) -> None:
        super().__init__(link, job, ctx)
        self.kafka = KafkaLink.parse(link, dms)
        self.cfg = KafkaFrom.parse(job, self.kafka)
        self._next: dict[str, int] = {}
        self._more: set[str] = set()

    def consumer(self, group: str | None = None) -> Consumer:
        conf = self.kafka.client_config(self.ctx)
        conf.update({"group.id": group or self.cfg.group or "opencdm", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "allow.auto.create.topics": False,
                     "auto.offset.reset": self.cfg.strategy.lower()})
        return Consumer(conf)

    def stream_source(self) -> str:
        return "kafka:" + ",".join(self.cfg.topics)

    def _topic_partitions(self, consumer: Consumer) -> list[tuple[str, int]]:
        found = []
        try:
            meta = consumer.list_topics(timeout=TIMEOUT)
        except KafkaException as exc:
            raise LinkUnreachable(f"No broker of linkConfig.brokerList answered: {exc}") from None
        for topic in self.cfg.topics:
            info = meta.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                raise LinkRejected(f"Topic [{topic}] does not exist on the cluster.", code="Cdm.0952")
            found += [(topic, p) for p in sorted(info.partitions)]
        return found

    def partitions(self, max_partitions: int) -> list[Partition]:
        with closing(self.consumer()) as consumer:
            pairs = self._topic_partitions(consumer)
            starts = {f"{t}:{p}": int(self._positions[f"{t}:{p}"]) for t, p in pairs if f"{t}:{p}" in self._positions}
            if not self._own and self.cfg.group:  # an earlier run's position is the group's committed offset
                starts = {}
                try:
                    committed = consumer.committed([TopicPartition(t, p) for t, p in pairs], timeout=TIMEOUT)
                except KafkaException as exc:
                    raise ExtractFailed(f"Reading the committed offsets of group [{self.cfg.group}] failed: {exc}")
                starts = {f"{tp.topic}:{tp.partition}": tp.offset for tp in committed if tp.offset >= 0}
            elif not self._own:
                starts = {}
            default = OFFSET_BEGINNING if self.cfg.strategy == "EARLIEST" else OFFSET_END
            if default == OFFSET_END:  # a concrete end, so the first cycle stores a position
                for t, p in pairs:
                    if f"{t}:{p}" not in starts:
                        starts[f"{t}:{p}"] = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=TIMEOUT)[1]
            layout = self.layout()
        return [TopicSlice(i, t, p, starts.get(f"{t}:{p}", default), layout) for i, (t, p) in enumerate(pairs)]

    def _sample(self) -> bytes | None:
        """The first record at the run's start positions, to count CSV fields."""
        self._layout = ()  # partitions() below must not sample again
        parts = self.partitions(1)
        self._layout = None
        with closing(self.consumer()) as consumer:
            consumer.assign([TopicPartition(p.topic, p.partition, p.start) for p in parts])
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                for msg in consumer.consume(1, timeout=0.5):
                    if msg.error() is None:
                        return msg.value()
        return None

    def _records(self, part: TopicSlice) -> Iterator[list[bytes]]:
        """The partition's record values, a poll at a time, until idle or the cycle's time is up."""
        key = f"{part.topic}:{part.partition}"
        with closing(self.consumer()) as consumer:
            consumer.assign([TopicPartition(part.topic, part.partition, part.start)])
            started = idle_since = time.monotonic()
            while True:
                if time.monotonic() - started >= self.cfg.max_poll_interval:
                    self._more.add(key)  # the cycle's time is up, not the records
                    break
                values = []
                for msg in consumer.consume(self.cfg.max_poll_records, timeout=0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise ExtractFailed(f"Reading {key} failed: {err.str()}")
                    values.append(msg.value() or b"")
                    self._next[key] = msg.offset() + 1
                if values:
                    idle_since = time.monotonic()
                    yield values
                elif time.monotonic() - idle_since >= IDLE:
                    break

    def position(self, part: Partition) -> Mapping[str, Any] | None:
        assert isinstance(part, TopicSlice)
        key = f"{part.topic}:{part.partition}"
        if key in self._next:
            return {key: self._next[key]}
        return {key: part.start} if part.start >= 0 else None

    def more(self, part: Partition) -> bool:
        assert isinstance(part, TopicSlice)
        return f"{part.topic}:{part.partition}" in self._more

    def advance(self, positions: Mapping[str, Any]) -> None:
        if not self.cfg.group:
            return
        offsets = []
        for key, offset in positions.items():
            topic, _, partition = key.rpartition(":")
            if topic in self.cfg.topics:
                offsets.append(TopicPartition(topic, int(partition), int(offset)))
        if offsets:
            with closing(self.consumer()) as consumer:
                consumer.commit(offsets=offsets, asynchronous=False)

