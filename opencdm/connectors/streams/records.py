"""Records of message streams (Kafka, DIS) to and from Arrow, shared by every stream connector.

Reading (``dataFormat``): ``BINARY`` gives one ``value`` column with each record's bytes untouched;
``CSV`` splits each record into fields at ``separator`` (quotes as in CSV) and gives string columns
named ``1``, ``2``, ... (CDM's numbered columns), matched to a destination table's columns in order.
The number of fields comes from ``columnList`` (an opencdm extension: names of the fields) or from
the first record. A record with another number of fields is dirty data with its reason.

Writing: each row becomes one line of its values (``columnList`` picks them by number, ``1&2&3``)
joined by ``separator``; nested values as JSON text, null as the empty string; ``identifierEnclose``
wraps every value (a quote inside doubled).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from opencdm.connectors import config
from opencdm.connectors.arrow import POSITIONAL_KEY
from opencdm.connectors.base import DirtyRows, Inputs
from opencdm.errors import ExtractFailed, InvalidInput

BINARY, CSV = "BINARY", "CSV"


@dataclass(frozen=True)
class RecordFormat:
    """How a stream source's records become rows (``fromJobConfig.dataFormat``/``separator``/``columnList``)."""

    kind: str = BINARY
    separator: str = ","
    columns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, job: Inputs) -> RecordFormat:
        config.require(job, "fromJobConfig.dataFormat")
        kind = config.get_enum(job, "fromJobConfig.dataFormat", (BINARY, CSV))
        sep = job.get("fromJobConfig.separator") or ","
        if not isinstance(sep, str):
            raise config.invalid("fromJobConfig.separator", sep, "a string")
        columns = tuple(config.get_list(job, "fromJobConfig.columnList"))
        if columns and kind != CSV:
            raise InvalidInput("fromJobConfig.columnList names CSV fields: it needs dataFormat CSV.", code="Cdm.0014")
        return cls(kind, sep, columns)

    @property
    def sampled(self) -> bool:
        """Whether the number of fields must be learned from a first record (CSV without columnList)."""
        return self.kind == CSV and not self.columns

    def schema(self, sample: bytes | None, width: int = 0) -> pa.Schema:
        """The rows' schema; for CSV without ``columnList``, ``width`` fields or those of ``sample``."""
        if self.kind == BINARY:
            return pa.schema([("value", pa.binary())])
        names = self.columns or tuple(str(i) for i in range(1, width + 1))
        if not names:
            if sample is None:
                raise ExtractFailed("No record to learn the number of CSV fields from: send one first, or name "
                                    "the fields in fromJobConfig.columnList.")
            names = tuple(str(i) for i in range(1, len(self.split(sample)) + 1))
        meta = {} if self.columns else {POSITIONAL_KEY: b"true"}
        return pa.schema([(n, pa.string()) for n in names], metadata=meta)

    def split(self, record: bytes) -> list[str]:
        text = record.decode("utf-8", "replace").rstrip("\r\n")
        if len(self.separator) == 1:
            return next(csv.reader([text], delimiter=self.separator, strict=False), [""])
        return text.split(self.separator)

    def batch(self, records: list[bytes], schema: pa.Schema, dirty: DirtyRows | None) -> pa.RecordBatch:
        """One batch of ``records``; those of the wrong shape go to ``dirty`` (or fail the run)."""
        if self.kind == BINARY:
            return pa.record_batch([pa.array(records, pa.binary())], schema=schema)
        width, rows, bad, reasons = len(schema), [], [], []
        for record in records:
            fields = self.split(record)
            if len(fields) == width:
                rows.append(fields)
                continue
            reason = f"The record has {len(fields)} fields where {width} are expected (separator {self.separator!r})."
            if dirty is None:
                raise ExtractFailed(reason + f" Record: {record[:200]!r}")
            bad.append(record.decode("utf-8", "replace"))
            reasons.append(reason)
        if bad:
            dirty.record(pa.table({"record": pa.array(bad, pa.string())}), reasons)
        columns = list(zip(*rows)) if rows else [[] for _ in range(width)]
        return pa.record_batch([pa.array(list(c), pa.string()) for c in columns], schema=schema)


@dataclass(frozen=True)
class LineFormat:
    """How a stream destination writes rows (``toJobConfig.separator``/``columnList``/``identifierEnclose``)."""

    separator: str = " "
    columns: tuple[int, ...] = ()  # 1-based column numbers; empty: every column in order
    enclose: str = ""

    @classmethod
    def parse(cls, job: Inputs) -> LineFormat:
        sep = job.get("toJobConfig.separator")
        if sep is None or sep == "":
            sep = " "
        if not isinstance(sep, str):
            raise config.invalid("toJobConfig.separator", sep, "a string")
        numbers = []
        for item in config.get_list(job, "toJobConfig.columnList"):
            if not item.isdigit() or int(item) < 1:
                raise config.invalid("toJobConfig.columnList", item, "column numbers from 1 joined by &, e.g. 1&2&3")
            numbers.append(int(item))
        enclose = config.get_str(job, "toJobConfig.identifierEnclose") or ""
        if len(enclose) > 1:
            raise config.invalid("toJobConfig.identifierEnclose", enclose, "one character")
        return cls(sep, tuple(numbers), enclose)

    def check(self, schema: pa.Schema) -> None:
        too_far = [n for n in self.columns if n > len(schema)]
        if too_far:
            raise InvalidInput(f"toJobConfig.columnList names column {too_far[0]} but the source has {len(schema)}: "
                               f"{', '.join(schema.names)}.", code="Cdm.0014")

    def lines(self, batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[bytes, pa.RecordBatch, int]]:
        """``(line, batch, row)`` for every row of ``batches``."""
        for batch in batches:
            picks = [n - 1 for n in self.columns] or list(range(batch.num_columns))
            columns = [batch.column(i).to_pylist() for i in picks]
            for row in range(batch.num_rows):
                yield self.separator.join(self._text(c[row]) for c in columns).encode(), batch, row

    def _text(self, value: Any) -> str:
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
        elif isinstance(value, dt.date | dt.time | dt.datetime):
            text = value.isoformat()
        elif isinstance(value, decimal.Decimal | bool | int | float):
            text = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            text = str(value)
        if self.enclose:
            return self.enclose + text.replace(self.enclose, self.enclose * 2) + self.enclose
        return text
