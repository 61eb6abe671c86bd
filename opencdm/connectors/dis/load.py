"""TO side of ``dis-connector``: rows become lines (``streams.records.LineFormat``) sent with PutRecords
in batches within DIS's limits (``MAX_RECORDS`` records, ``MAX_BYTES`` of data per call, ``MAX_RECORD``
per record). Records DIS reports failed (throttled, ``DIS.4303``, or a server error) are sent again with
back-off; a line over the record limit goes to dirty data or fails the run.

A stream has no staging and no transaction: records are readable as soon as DIS accepts them, and
a failed or stopped run cannot take back what it sent. The guarantee is **at least once**: a retried
partition or a rerun sends its records again (the README says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import pyarrow as pa

from opencdm.connectors.base import ConnectorContext, DirtyRows, Inputs, Loader, LoadResult, Partition
from opencdm.connectors.dis.client import DisClient
from opencdm.connectors.dis.options import DisLink, DisTo
from opencdm.errors import LoadFailed

MAX_RECORDS = 500
MAX_BYTES = 4 << 20  # data per PutRecords call (DIS allows 5 MiB with the partition keys)
MAX_RECORD = 1 << 20
RETRIES = 8
BACKOFF = 0.2


class DisLoader(Loader):
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        super().__init__(link, job, ctx, run_id)
        self.dis = DisLink.parse(link)
        self.cfg = DisTo.parse(job, self.dis)

    def client(self) -> DisClient:
        return DisClient(self.dis, self.ctx)

    def appending(self) -> None:
        pass  # every record is appended anyway

    def prepare(self, schema: pa.Schema) -> None:
        self.cfg.lines.check(schema)
        with self.client() as client:
            client.describe(self.cfg.stream, failure=LoadFailed)

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        rows = 0
        pending: list[tuple[bytes, str]] = []
        size = 0
        with self.client() as client:
            for line, batch, row in self.cfg.lines.lines(batches):
                rows += 1
                if len(line) > MAX_RECORD:
                    reason = f"The record has {len(line)} bytes; DIS takes at most {MAX_RECORD}."
                    if dirty is None:
                        raise LoadFailed(reason)
                    dirty.record(batch.slice(row, 1), [reason])
                    continue
                if len(pending) == MAX_RECORDS or size + len(line) > MAX_BYTES:
                    self._send(client, pending)
                    pending, size = [], 0
                pending.append((line, f"{part.index}-{rows}"))
                size += len(line)
            if pending:
                self._send(client, pending)
        return LoadResult(part.index, rows)

    def _send(self, client: DisClient, records: list[tuple[bytes, str]]) -> None:
        delay = BACKOFF
        for _ in range(RETRIES):
            results = client.put(self.cfg.stream, records, LoadFailed)
            failed = [(rec, res) for rec, res in zip(records, results) if res.get("error_code")]
            if not failed:
                return
            records = [rec for rec, _ in failed]
            last = failed[0][1]
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise LoadFailed(f"DIS kept refusing {len(records)} records: {last.get('error_code')}: "
                         f"{last.get('error_message')}", code="Cdm.0951")

    def commit(self, results: Sequence[LoadResult]) -> None:
        pass  # records were readable as soon as DIS took them

    def abort(self) -> None:
        pass  # nothing can be taken back from a stream
