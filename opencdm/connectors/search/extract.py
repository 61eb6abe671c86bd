"""FROM side of ``elasticsearch-connector``: one sliced scroll per partition (``slice.id`` of
``slice.max``, Elasticsearch 5+ and OpenSearch alike), pages of ``PAGE`` documents turned into Arrow
batches, the scroll cleared at the end. Memory holds one page per partition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from opencdm.connectors.base import ConnectorContext, DirtyRows, Extractor, Inputs, Partition
from opencdm.connectors.search.client import SearchClient
from opencdm.connectors.search.options import FIELD_TYPES, EsFrom, EsLink
from opencdm.errors import ExtractFailed

PAGE = 1000
SCROLL = "5m"


@dataclass(frozen=True)
class Slice(Partition):
    """Slice ``id`` of ``max`` of the index's documents (``max`` 1: the whole index)."""

    id: int = 0
    max: int = 1


class EsExtractor(Extractor):
    def __init__(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> None:
        super().__init__(link, job, ctx)
        self.es = EsLink.parse(link)
        self.cfg = EsFrom.parse(job, self.es)

    def client(self) -> SearchClient:
        return SearchClient(self.es.hosts, self.es.https, self.es.auth, self.ctx)

    @property
    def _query(self) -> dict:
        return {"query_string": {"query": self.cfg.query}} if self.cfg.query else {"match_all": {}}

    def schema(self) -> pa.Schema:
        if self.cfg.columns:
            return pa.schema([(name, FIELD_TYPES[kind]) for name, kind in self.cfg.columns])
        with self.client() as es:
            found = es.call("GET", f"/{self.cfg.index}/_mapping")
        fields: dict[str, pa.DataType] = {}
        for mapping in (found or {}).values():
            props = (mapping.get("mappings") or {}).get("properties") or {}
            if not props:  # Elasticsearch 6: under the type's name
                for typed in (mapping.get("mappings") or {}).values():
                    props.update((typed or {}).get("properties") or {})
            for name, arrow in _fields(props, "", self.cfg.split_nested):
                fields.setdefault(name, arrow)
        if not fields:
            raise ExtractFailed(f"Index [{self.cfg.index}] has no mapped fields: give fromJobConfig.columnList.")
        return pa.schema(list(fields.items()))

    def partitions(self, max_partitions: int) -> list[Partition]:
        n = max(1, max_partitions)
        return [Slice(i, i, n) for i in range(n)]

    def estimate_rows(self) -> int | None:
        with self.client() as es:
            return int(es.call("POST", f"/{self.cfg.index}/_count", {"query": self._query})["count"])

    def extract(self, part: Partition, dirty: DirtyRows | None = None) -> Iterator[pa.RecordBatch]:
        assert isinstance(part, Slice)
        schema = self.schema()
        body: dict[str, Any] = {"size": PAGE, "query": self._query, "sort": ["_doc"]}
        if part.max > 1:
            body["slice"] = {"id": part.id, "max": part.max}
        with self.client() as es:
            page = es.call("POST", f"/{self.cfg.index}/_search?scroll={SCROLL}", body)
            scroll = page.get("_scroll_id")
            try:
                while hits := page["hits"]["hits"]:
                    yield _batch([h.get("_source") or {} for h in hits], schema, self.cfg.split_nested, dirty)
                    page = es.call("POST", "/_search/scroll", {"scroll": SCROLL, "scroll_id": scroll})
                    scroll = page.get("_scroll_id", scroll)
            finally:
                if scroll:
                    try:
                        es.call("DELETE", "/_search/scroll", {"scroll_id": [scroll]}, missing_ok=True)
                    except Exception:  # the scroll expires on its own
                        pass


def _fields(props: dict, prefix: str, split: bool) -> Iterator[tuple[str, pa.DataType]]:
    for name, spec in props.items():
        kind = spec.get("type", "object")
        if split and kind == "object" and spec.get("properties"):
            yield from _fields(spec["properties"], f"{prefix}{name}.", split)
        else:
            yield f"{prefix}{name}", FIELD_TYPES.get(kind, pa.string())


def _number(value: Any, t: pa.DataType) -> Any:
    """``"31448.41"`` in a numeric field as Elasticsearch indexes it (``coerce``, on by default)."""
    if not isinstance(value, str):
        return value
    try:
        return int(value) if pa.types.is_integer(t) else float(value)
    except ValueError:
        return value  # not a number: the array conversion names the field


def _value(source: dict, name: str, split: bool) -> Any:
    if name in source or not split:
        return source.get(name)
    value: Any = source
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _batch(sources: list[dict], schema: pa.Schema, split: bool, dirty: DirtyRows | None = None) -> pa.RecordBatch:
    """A page of documents as one batch. A document whose value does not fit its column's type fails the
    run, or with ``dirty`` is set aside with the reason while the rest of the page is kept."""
    try:
        return _arrays(sources, schema, split)
    except ExtractFailed:
        if dirty is None or len(sources) == 1:
            raise
    kept, bad, reasons = [], [], []
    for source in sources:
        try:
            _arrays([source], schema, split)
            kept.append(source)
        except ExtractFailed as exc:
            bad.append(json.dumps(source, ensure_ascii=False, default=str))
            reasons.append(str(exc))
    dirty.record(pa.table({"document": pa.array(bad, pa.string())}), reasons)
    return _arrays(kept, schema, split)


def _arrays(sources: list[dict], schema: pa.Schema, split: bool) -> pa.RecordBatch:
    arrays = []
    for f in schema:
        values = [_value(s, f.name, split) for s in sources]
        if pa.types.is_string(f.type):
            values = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
        elif (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and any(isinstance(v, str) for v in values):
            values = [_number(v, f.type) for v in values]  # numeric text: the cluster coerced it, so do we
        try:
            arrays.append(pa.array(values, f.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ExtractFailed(f"Field [{f.name}] holds a value that is not {f.type}: {str(exc)[:200]}") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
