"""JSON_FILE: JSON lines (one object per line, what the writer produces), or one document whose
records are the array at ``jsonReferenceNode`` (``data.list``), a top-level array, or one object.

Columns come from the first records of the first file: a key holding only integers becomes
``int64``, numbers ``float64``, booleans ``bool``, anything else ``string`` (objects and arrays as
their JSON text). A whole document is parsed in memory; JSON lines stream in batches. The writer
prints exact text for what JSON numbers cannot carry (decimals, ``NaN``/``Infinity``), ``\\x``+hex
for binary, ISO 8601 for dates and times, and embeds JSON columns as JSON.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, BinaryIO

import pyarrow as pa

from opencdm.connectors.arrow import field_type
from opencdm.connectors.formats import BATCH_ROWS
from opencdm.errors import ExtractFailed

SAMPLE = 1000  # records the column types are inferred from

BadLine = Callable[[int | None, str, str], None]


def records(stream: BinaryIO, encoding: str, node: str | None, bad_line: BadLine | None = None) -> Iterator[dict]:
    """The records of one file, as dicts (a non-object record becomes ``{"value": record}``)."""
    text = io.TextIOWrapper(stream, encoding=encoding)
    if node is None:
        first = text.readline()
        try:
            head = json.loads(first) if first.strip() else None
            lines = True
        except ValueError:
            lines = False
        if lines:
            if head is not None:
                yield _record(head)
            for number, line in enumerate(text, start=2):
                if not line.strip():
                    continue
                try:
                    yield _record(json.loads(line))
                except ValueError as exc:
                    if bad_line is None:
                        raise ExtractFailed(f"Line {number} is not JSON: {exc}.") from None
                    bad_line(number, line.rstrip("\r\n"), f"not JSON: {exc}")
            return
        document = first + text.read()
    else:
        document = text.read()
    try:
        value = json.loads(document)
    except ValueError as exc:
        raise ExtractFailed(f"The file is not JSON: {exc}.") from None
    for part in (node or "").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            raise ExtractFailed(f"fromJobConfig.jsonReferenceNode [{node}]: the document has no [{part}].")
        value = value[part]
    for item in value if isinstance(value, list) else [value]:
        yield _record(item)


def _record(value: Any) -> dict:
    return value if isinstance(value, dict) else {"value": value}


def infer(sample: Sequence[dict]) -> pa.Schema:
    """Column names in order of first appearance, each with the narrowest type that holds every value."""
    kinds: dict[str, set[str]] = {}
    for rec in sample:
        for key, value in rec.items():
            seen = kinds.setdefault(str(key), set())
            if value is not None:
                seen.add("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
                         else "float" if isinstance(value, float) else "text")
    fields = []
    for key, seen in kinds.items():
        if seen == {"bool"}:
            t = pa.bool_()
        elif seen == {"int"}:
            t = pa.int64()
        elif seen and seen <= {"int", "float"}:
            t = pa.float64()
        else:
            t = pa.string()
        fields.append(pa.field(key, t))
    return pa.schema(fields)


def batches(recs: Iterator[dict], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``recs`` as batches of ``schema``: missing keys are NULL, keys not in the schema are dropped."""
    chunk: list[dict] = []
    for rec in recs:
        chunk.append(rec)
        if len(chunk) >= BATCH_ROWS:
            yield _batch(chunk, schema)
            chunk = []
    if chunk:
        yield _batch(chunk, schema)


def _batch(chunk: list[dict], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for f in schema:
        values = [r.get(f.name) for r in chunk]
        if pa.types.is_string(f.type):
            values = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
        try:
            arrays.append(pa.array(values, f.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ExtractFailed(f"Field [{f.name}] holds a value that is not {f.type} like the first records: "
                                f"{str(exc)[:200]}.") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex().upper()
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") and hasattr(value, "day") else value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Writer:
    """JSON lines: one object per row."""

    def __init__(self, sink: BinaryIO, schema: pa.Schema, encoding: str) -> None:
        self.sink, self.encoding = sink, encoding
        self.embed = {f.name for f in schema if (field_type(f) or "").lower() in ("json", "jsonb")}

    def write(self, batch: pa.RecordBatch) -> None:
        out = []
        for row in batch.to_pylist():
            item = {}
            for key, value in row.items():
                if key in self.embed and isinstance(value, str):
                    try:
                        parsed = json.loads(value)
                    except ValueError:
                        parsed = None
                    if isinstance(parsed, (dict, list)):  # a JSON scalar stays its text
                        value = parsed
                item[key] = _plain(value)
            out.append(json.dumps(item, ensure_ascii=False, allow_nan=False))
        if out:
            self.sink.write(("\n".join(out) + "\n").encode(self.encoding))

    def close(self) -> None:
        pass
