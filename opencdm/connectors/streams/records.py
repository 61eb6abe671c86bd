"""Records of message streams (Kafka, DIS) to and from Arrow, shared by every stream connector.

Reading (``dataFormat``): ``BINARY`` gives one ``value`` column with each record's bytes untouched;
``CSV`` splits each record into fields at ``separator`` (quotes as in CSV) and gives string columns
named ``1``, ``2``, ... (CDM's numbered columns), matched to a destination table's columns in order;
``JSON`` (an opencdm extension) reads each record as one JSON object, a column per key. The fields
come from ``columnList`` (an opencdm extension: names, for JSON ``name:type``) or from the first
record. A record that does not parse or fit (another number of CSV fields, invalid JSON, a value of
another type) is dirty data with its reason.

Writing: each row becomes one line of its values (``columnList`` picks them by number, ``1&2&3``)
joined by ``separator``; nested values as JSON text, null as the empty string; ``identifierEnclose``
wraps every value (a quote inside doubled).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from opencdm.connectors import config
from opencdm.connectors.arrow import POSITIONAL_KEY
from opencdm.connectors.base import Chunk, DirtyRows, Inputs
from opencdm.connectors.formats import csv as csvfmt
from opencdm.connectors.inputs import enum, string
from opencdm.errors import ExtractFailed, InvalidInput

BINARY, CSV, JSON = "BINARY", "CSV", "JSON"
#: Field kinds of a layout -> Arrow. JSON values are checked against their field's kind.
KINDS = {"binary": pa.binary(), "string": pa.string(), "long": pa.int64(), "double": pa.float64(),
         "boolean": pa.bool_()}
#: ``((field name, kind), ...)``: the columns a stream source's records become; plain data, so it travels
#: to workers inside each partition after the server learned it.
Layout = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RecordFormat:
    """How a stream source's records become rows (``fromJobConfig.dataFormat``/``separator``/``columnList``)."""

    kind: str = BINARY
    separator: str = ","
    columns: Layout = ()  # from columnList

    @classmethod
    def parse(cls, job: Inputs) -> RecordFormat:
        config.require(job, "fromJobConfig.dataFormat")
        kind = config.get_enum(job, "fromJobConfig.dataFormat", (BINARY, CSV, JSON))
        sep = job.get("fromJobConfig.separator") or ","
        if not isinstance(sep, str):
            raise config.invalid("fromJobConfig.separator", sep, "a string")
        columns = []
        for item in config.get_list(job, "fromJobConfig.columnList"):
            name, _, field_kind = item.partition(":") if kind == JSON else (item, "", "")
            field_kind = field_kind.strip().lower() or "string"
            if not name.strip() or field_kind not in KINDS or field_kind == "binary":
                raise config.invalid("fromJobConfig.columnList", item, "field names (JSON: name:type, a type among "
                                     "string, long, double, boolean) joined by &")
            columns.append((name.strip(), field_kind))
        if columns and kind == BINARY:
            raise InvalidInput("fromJobConfig.columnList names CSV or JSON fields: BINARY records have one.",
                               code="Cdm.0014")
        return cls(kind, sep, tuple(columns))

    @property
    def sampled(self) -> bool:
        """Whether the fields must be learned from a first record (CSV or JSON without columnList)."""
        return self.kind != BINARY and not self.columns

    def layout(self, sample: bytes | None) -> Layout:
        """Server side: the columns, from ``columnList`` or from ``sample`` (a first record) when ``sampled``."""
        if self.kind == BINARY:
            return (("value", "binary"),)
        if self.columns:
            return self.columns
        if sample is None:
            raise ExtractFailed(f"No record to learn the {self.kind} fields from: send one first, or name the "
                                "fields in fromJobConfig.columnList.")
        if self.kind == CSV:
            return tuple((str(i), "string") for i in range(1, len(self.split(sample)) + 1))
        doc, reason = _object(sample)
        if doc is None:
            raise ExtractFailed(f"The first record, read to learn the fields, is not usable: {reason}")
        return tuple((name, _kind(value)) for name, value in doc.items())

    def schema(self, layout: Layout) -> pa.Schema:
        meta = {POSITIONAL_KEY: b"true"} if self.kind == CSV and not self.columns else {}
        return pa.schema([(name, KINDS[kind]) for name, kind in layout], metadata=meta)

    def native_format(self) -> str | None:
        """CSV records can pass as CSV text to a loader that reads it itself (PostgreSQL's COPY): the
        descriptor of ``formats.csv``, or None (other formats, separators of several characters)."""
        if self.kind != CSV or len(self.separator) != 1 or self.separator in "\r\n\"":
            return None
        return f"{csvfmt.NATIVE_PREFIX};delimiter={ord(self.separator)};encoding=utf-8"

    def chunk(self, records: list[bytes]) -> Chunk:
        """``records`` as one piece of that CSV text: a line each."""
        return Chunk(b"\n".join(r.rstrip(b"\r\n") for r in records) + b"\n", len(records))

    def split(self, record: bytes) -> list[str]:
        text = record.decode("utf-8", "replace").rstrip("\r\n")
        if len(self.separator) == 1:
            return next(csv.reader([text], delimiter=self.separator, strict=False), [""])
        return text.split(self.separator)

    def batch(self, records: list[bytes], schema: pa.Schema, dirty: DirtyRows | None) -> pa.RecordBatch:
        """One batch of ``records``; those that do not parse or fit go to ``dirty`` (or fail the run)."""
        if self.kind == BINARY:
            return pa.record_batch([pa.array(records, pa.binary())], schema=schema)
        if self.kind == CSV:
            fast = self._csv_batch(records, schema, dirty)
            if fast is not None:
                return fast
        rows, bad, reasons = [], [], []
        for record in records:
            row, reason = self._csv_row(record, len(schema)) if self.kind == CSV else self._json_row(record, schema)
            if row is not None:
                rows.append(row)
                continue
            if dirty is None:
                raise ExtractFailed(f"{reason} Record: {record[:200]!r}")
            bad.append(record.decode("utf-8", "replace"))
            reasons.append(reason)
        if bad:
            dirty.record(pa.table({"record": pa.array(bad, pa.string())}), reasons)
        columns = list(zip(*rows)) if rows else [[] for _ in schema]
        return pa.record_batch([pa.array(list(c), f.type) for c, f in zip(columns, schema)], schema=schema)

    def _csv_batch(self, records: list[bytes], schema: pa.Schema, dirty: DirtyRows | None) -> pa.RecordBatch | None:
        """The CSV records parsed by Arrow's C++ reader at once (ten times the csv module); None when it
        cannot take them (a separator of several characters, a line break inside a record)."""
        if len(self.separator) != 1 or self.separator in "\r\n":
            return None
        lines = [r.rstrip(b"\r\n") for r in records]
        if any(b"\n" in line or b"\r" in line for line in lines):
            return None
        width, bad, reasons = len(schema), [], []

        def invalid(row: pacsv.InvalidRow) -> str:
            bad.append(row.text)
            reasons.append(f"The record has {row.actual_columns} fields where {width} are expected "
                           f"(separator {self.separator!r}).")
            return "error" if dirty is None else "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(b"\n".join(lines) + b"\n"),
                read_options=pacsv.ReadOptions(column_names=schema.names, use_threads=False, block_size=64 << 20),
                parse_options=pacsv.ParseOptions(delimiter=self.separator, invalid_row_handler=invalid,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=False,
                                                     quoted_strings_can_be_null=False))
        except pa.ArrowInvalid as exc:
            if bad:
                raise ExtractFailed(f"{reasons[0]} Record: {bad[0][:200]!r}") from None
            raise ExtractFailed(f"Records could not be read as CSV: {str(exc)[:300]}") from None
        if bad:
            dirty.record(pa.table({"record": pa.array(bad, pa.string())}), reasons)
        return pa.record_batch([table.column(i).combine_chunks() for i in range(width)], schema=schema)

    def _csv_row(self, record: bytes, width: int) -> tuple[list | None, str]:
        fields = self.split(record)
        if len(fields) == width:
            return fields, ""
        return None, f"The record has {len(fields)} fields where {width} are expected (separator {self.separator!r})."

    def _json_row(self, record: bytes, schema: pa.Schema) -> tuple[list | None, str]:
        doc, reason = _object(record)
        if doc is None:
            return None, reason
        row = []
        for f in schema:
            value = doc.get(f.name)
            if pa.types.is_string(f.type):
                value = value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            elif value is not None and not _fits(value, f.type):
                return None, f"Field [{f.name}] holds {json.dumps(value)[:100]}, which is not {f.type}."
            row.append(value)
        return row, ""


def _object(record: bytes) -> tuple[dict | None, str]:
    try:
        doc = json.loads(record)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"The record is not valid JSON: {exc}."
    if not isinstance(doc, dict):
        return None, "The record is JSON but not an object."
    return doc, ""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "long" if isinstance(value, int) else "double" if isinstance(value, float) else "string"


def _fits(value: Any, t: pa.DataType) -> bool:
    if pa.types.is_boolean(t):
        return isinstance(value, bool)
    if pa.types.is_integer(t):
        return isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < (1 << 63)
    return isinstance(value, int | float) and not isinstance(value, bool)


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


#: What ``RecordFormat`` reads: the FROM inputs of every stream source.
RECORD_INPUTS = (
    enum("fromJobConfig.dataFormat", (BINARY, CSV, JSON), "How records become rows: their bytes, CSV fields, or "
                                                          "a JSON object (opencdm extension).", required=True),
    string("fromJobConfig.separator", "CSV: the field separator.", default=","),
    string("fromJobConfig.columnList", "Field names joined by & (JSON: name:type); default from the first record "
                                       "(opencdm extension)."),
)
#: What ``LineFormat`` reads: the TO inputs of every stream destination.
LINE_INPUTS = (
    string("toJobConfig.separator", "Separator of the values in each record.", default=" "),
    string("toJobConfig.columnList", "Columns to write, by number from 1, joined by &; default every column."),
    string("toJobConfig.identifierEnclose", "One character wrapped around every value."),
)
