"""TO side of ``elasticsearch-connector``: every partition bulk-writes into a staging index of the run
(``opencdm-stage-<run>``, same mapping as the target, no replicas, no refresh), and ``commit`` copies
it into the target with ``_reindex`` only once every partition has loaded, then deletes it. A failed,
stopped or killed run never touches the target (``abort`` and restart recovery delete the stage).

Elasticsearch has no transactions: while the commit's ``_reindex`` runs, readers may see part of the
new documents (and, with ``shouldClearType``, an index emptied a moment before). Document ids make the
copy idempotent: with ``primaryKey`` the ``_id`` is the key's value (several columns joined by ``_``),
so a rerun replaces documents instead of doubling them; without it every document gets an id of its
run, partition and row (a retried partition replaces its own documents in the stage).

Bulk requests are sized by bytes (``BULK_BYTES``); a 429 answer, or 429 items in an answer, are sent
again with back-off. Items the cluster rejects (a value the mapping refuses, a failing ingest pipeline:
``pipeLine`` runs on the way into the stage) go to dirty data with the cluster's reason, or fail the run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import field_type, renamed
from opencdm.connectors.base import ConnectorContext, DirtyRows, Inputs, Loader, LoadResult, Partition
from opencdm.connectors.search.client import SearchClient
from opencdm.connectors.search.options import EsLink, EsTo
from opencdm.errors import InvalidInput, LoadFailed

BULK_BYTES = 5 << 20
RETRIES = 6  # sends of one bulk request that keeps answering 429, with back-off doubling from BACKOFF
BACKOFF = 0.5
STAGE_PREFIX = "opencdm-stage-"


class EsLoader(Loader):
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> None:
        super().__init__(link, job, ctx, run_id)
        self.es = EsLink.parse(link)
        self.cfg = EsTo.parse(job, self.es)
        self.stage = STAGE_PREFIX + run_id.lower()
        self.keep = False  # later cycles of a permanent stream run keep what earlier ones committed

    def client(self) -> SearchClient:
        return SearchClient(self.es.hosts, self.es.https, self.es.auth, self.ctx, timeout=300)

    def target(self, now: dt.datetime | None = None) -> str:
        """The index the commit writes: ``index`` plus the rolling suffix of ``createIndexStrategy`` (UTC)."""
        if not self.cfg.rolling:
            return self.cfg.index
        return self.cfg.index + (now or dt.datetime.now(dt.UTC)).strftime(self.cfg.rolling)

    def appending(self) -> None:
        self.keep = True

    # -- server side ----------------------------------------------------------------------------

    def prepare(self, schema: pa.Schema) -> None:
        fields = self._names(schema)
        missing = [k for k in self.cfg.primary_key if k not in fields.names]
        if missing:
            raise InvalidInput(f"toJobConfig.primaryKey names {', '.join(missing)}, not among the columns "
                               f"{', '.join(fields.names)}.", code="Cdm.0014")
        with self.client() as es:
            found = es.call("GET", f"/{self.target()}/_mapping", missing_ok=True, failure=LoadFailed)
            mappings = next(iter((found or {}).values()), {}).get("mappings") or {"properties": _mapping(fields)}
            es.call("PUT", f"/{self.stage}", {"settings": {"number_of_replicas": 0, "refresh_interval": "-1"},
                                              "mappings": mappings}, failure=LoadFailed)

    def reopen(self, schema: pa.Schema) -> None:
        """A resumed run: the staging index of the earlier attempt holds its finished partitions."""
        with self.client() as es:
            if es.call("GET", f"/{self.stage}/_mapping", missing_ok=True, failure=LoadFailed) is None:
                raise LoadFailed(f"The staging index of the run to resume ({self.stage}) is gone; start the job "
                                 "without resume.")

    def commit(self, results: Sequence[LoadResult]) -> None:
        target = self.target()
        with self.client() as es:
            es.call("POST", f"/{self.stage}/_refresh", failure=LoadFailed)
            exists = es.call("GET", f"/{target}/_mapping", missing_ok=True, failure=LoadFailed) is not None
            if not exists:
                mapping = es.call("GET", f"/{self.stage}/_mapping", failure=LoadFailed)
                es.call("PUT", f"/{target}", {"mappings": next(iter(mapping.values()))["mappings"]},
                        failure=LoadFailed)
            elif self.cfg.clear and not self.keep:
                es.call("POST", f"/{target}/_delete_by_query?refresh=true&conflicts=proceed",
                        {"query": {"match_all": {}}}, failure=LoadFailed)
            done = es.call("POST", "/_reindex?refresh=true&wait_for_completion=true",
                           {"source": {"index": self.stage}, "dest": {"index": target}}, failure=LoadFailed)
            if done.get("failures"):
                raise LoadFailed(f"Copying the staged documents into [{target}] failed: "
                                 f"{json.dumps(done['failures'][:3])[:400]}")
        self.abort()

    def abort(self) -> None:
        with self.client() as es:
            es.call("DELETE", f"/{self.stage}", missing_ok=True, failure=LoadFailed)

    # -- worker side ----------------------------------------------------------------------------

    def load(self, part: Partition, batches: Iterable[pa.RecordBatch], dirty: DirtyRows | None = None) -> LoadResult:
        rows = 0
        with self.client() as es:
            pending: list[tuple[bytes, pa.RecordBatch, int]] = []  # (action + source lines, batch, row)
            size = 0
            for batch in batches:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=self._names(batch.schema))
                for i, doc in enumerate(batch.to_pylist()):
                    doc_id = self._id(doc, part.index, rows + i)
                    action = {"index": {"_index": self.stage, "_id": doc_id}}
                    lines = (json.dumps(action) + "\n" + json.dumps(doc, default=_json, ensure_ascii=False)
                             + "\n").encode()
                    pending.append((lines, batch, i))
                    size += len(lines)
                    if size >= BULK_BYTES:
                        self._send(es, pending, dirty)
                        pending, size = [], 0
                rows += batch.num_rows
            if pending:
                self._send(es, pending, dirty)
        return LoadResult(part.index, rows)

    def _send(self, es: SearchClient, items: list[tuple[bytes, pa.RecordBatch, int]], dirty: DirtyRows | None) -> None:
        query = f"?pipeline={self.cfg.pipeline}" if self.cfg.pipeline else ""
        delay = BACKOFF
        for attempt in range(RETRIES):
            answer = es.call("POST", "/_bulk" + query, b"".join(lines for lines, _, _ in items),
                             failure=LoadFailed, ndjson=True, throttled_ok=True)
            if answer is None:  # the whole request was refused with 429
                retry = items
            else:
                retry, rejected = [], []
                for item, result in zip(items, answer.get("items") or []):
                    status = next(iter(result.values()), {})
                    if status.get("status") == 429:
                        retry.append(item)
                    elif status.get("error"):
                        rejected.append((item, _reason(status["error"])))
                if rejected:
                    if dirty is None:
                        raise LoadFailed(f"The cluster rejected a document: {rejected[0][1]}")
                    for (_, batch, row), reason in rejected:
                        dirty.record(batch.slice(row, 1), [reason])
            if not retry:
                return
            items = retry
            if attempt + 1 < RETRIES:
                time.sleep(delay)
                delay *= 2
        raise LoadFailed(f"The cluster kept answering 429 (too many requests) to {len(items)} documents.",
                         code="Cdm.0951")

    def _names(self, schema: pa.Schema) -> pa.Schema:
        return renamed(schema, self.cfg.columns, "toJobConfig.columnList")

    def _id(self, doc: dict, part: int, row: int) -> str:
        if not self.cfg.primary_key:
            return f"{self.run_id}-{part}-{row}"
        values = [doc.get(k) for k in self.cfg.primary_key]
        if any(v is None for v in values):
            raise LoadFailed(f"A row has no value for the primary key {'&'.join(self.cfg.primary_key)}.")
        return "_".join(str(v) if isinstance(v, str | int) else _json(v) for v in values)


def _mapping(schema: pa.Schema) -> dict[str, Any]:
    """Explicit field types for what is not text (numbers a source carries as exact text, such as
    PostgreSQL numerics, are ``double`` fields whose documents keep the exact text); text fields are
    left to the cluster's dynamic mapping."""
    props: dict[str, Any] = {}
    for f in schema:
        t, declared = f.type, (field_type(f) or "").lower()
        kind = ("long" if pa.types.is_integer(t) else "double" if pa.types.is_floating(t) or pa.types.is_decimal(t)
                or _EXACT.match(declared) else "boolean" if pa.types.is_boolean(t) else "date"
                if (pa.types.is_temporal(t) and not pa.types.is_time(t)) else None)
        if kind:
            props[f.name] = {"type": kind}
    return props


_EXACT = re.compile(r"\s*(numeric|decimal|number)\b")


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error)[:500]
