"""FROM side of ``dis-connector``: one partition of a run per DIS partition (``shardId``), read with
GetCursor + GetRecords from the run's position: its own stored sequence number, else the last stop of
the job and ``appName`` (``FROM_LAST_STOP``), else the oldest record (``EARLIEST``) or what arrives
after the run starts (``LATEST``, fixed on the server when the run starts). A cycle reads until the
partition has nothing new for ``IDLE`` seconds or ``CYCLE_SECONDS`` have passed."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opencdm.connectors.base import ConnectorContext, Inputs, Partition
from opencdm.connectors.dis.client import DisClient
from opencdm.connectors.dis.options import DisFrom, DisLink
from opencdm.connectors.streams.records import Layout
from opencdm.connectors.streams.source import StreamSource
from opencdm.errors import ExtractFailed

IDLE = 1.0
CYCLE_SECONDS = 10.0


@dataclass(frozen=True)
class Shard(Partition):
    shard: str = "shardId-0000000000"
    after: str | None = None  # read after this sequence number; None: from ``cursor``
    cursor: str = "TRIM_HORIZON"
    layout: Layout = ()  # the record fields, as the server learned them (streams.records)


def shard_name(n: int) -> str:
    return f"shardId-{n:010d}"


class DisExtractor(StreamSource):
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        super().__init__(link, job, ctx)
        self.dis = DisLink.parse(link)
        self.cfg = DisFrom.parse(job, self.dis)
        self._last: dict[str, str] = {}
        self._more: set[str] = set()

    def client(self) -> DisClient:
        return DisClient(self.dis, self.ctx)

    def stream_source(self) -> str:
        return f"dis:{self.cfg.stream}/{self.cfg.app}"

    def _shards(self, client: DisClient) -> list[dict[str, Any]]:
        found = client.describe(self.cfg.stream).get("partitions") or []
        if self.cfg.shards:
            known = {p["partition_id"]: p for p in found}
            missing = [n for n in self.cfg.shards if shard_name(n) not in known]
            if missing:
                raise ExtractFailed(f"Stream [{self.cfg.stream}] has no partition {missing[0]} "
                                    f"(fromJobConfig.shardId); it has {len(found)}.")
            found = [known[shard_name(n)] for n in self.cfg.shards]
        return found

    def partitions(self, max_partitions: int) -> list[Partition]:
        with self.client() as client:
            shards = self._shards(client)
        use_stored = self._own or self.cfg.strategy == "FROM_LAST_STOP"
        layout = self.layout()
        parts = []
        for i, info in enumerate(shards):
            sid = info["partition_id"]
            after = self._positions.get(sid) if use_stored else None
            after = None if after is None else str(after)
            if after is None and self.cfg.strategy == "LATEST" and not self._own:
                end = _range_end(info.get("sequence_number_range"))
                after = str(end - 1) if end else None  # the newest record now; an empty partition: from its start
            parts.append(Shard(i, sid, after, "TRIM_HORIZON", layout))
        return parts

    def _sample(self) -> bytes | None:
        with self.client() as client:
            for info in self._shards(client):
                cursor = client.cursor(self.cfg.stream, info["partition_id"], "TRIM_HORIZON")
                records, _ = client.records(cursor, 1)
                if records:
                    return base64.b64decode(records[0]["data"])
        return None

    def _records(self, part: Shard) -> Iterator[list[bytes]]:
        """The shard's record data, a GetRecords at a time, until idle or the cycle's time is up."""
        with self.client() as client:
            if part.after is not None:
                cursor = client.cursor(self.cfg.stream, part.shard, "AFTER_SEQUENCE_NUMBER", part.after)
            else:
                cursor = client.cursor(self.cfg.stream, part.shard, part.cursor)
            started = idle_since = time.monotonic()
            while cursor:
                if time.monotonic() - started >= CYCLE_SECONDS:
                    self._more.add(part.shard)  # the cycle's time is up, not the records
                    break
                records, cursor = client.records(cursor, self.cfg.max_poll_records)
                if records:
                    self._last[part.shard] = str(records[-1]["sequence_number"])
                    idle_since = time.monotonic()
                    yield [base64.b64decode(r["data"]) for r in records]
                elif time.monotonic() - idle_since >= IDLE:
                    break
                else:
                    time.sleep(0.2)

    def more(self, part: Partition) -> bool:
        assert isinstance(part, Shard)
        return part.shard in self._more

    def position(self, part: Partition) -> Mapping[str, Any] | None:
        assert isinstance(part, Shard)
        last = self._last.get(part.shard, part.after)
        return {part.shard: last} if last is not None else None


def _range_end(text: Any) -> int:
    """The exclusive end of a ``sequence_number_range`` such as ``[0 : 42]`` (0 when empty or unknown)."""
    numbers = re.findall(r"\d+", str(text or ""))
    return int(numbers[-1]) if numbers else 0
