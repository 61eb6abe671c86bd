"""CSV_FILE: Arrow's multithreaded CSV parser and writer, and a line reader for what Arrow's parser
cannot split (a regular expression, a multi-character field separator, an unusual line end).

Values are text: a CSV column is an Arrow ``string`` column, and the target's types decide what
it becomes. NULL and the empty string stay apart: an unquoted empty field is NULL, a quoted one
(``""``) is the empty string, and the writer quotes every text value, so a table written and read
back keeps both. Without ``quoteChar`` nothing is quoted and an empty field is NULL. Binary values
are written as ``\\x`` and hex digits (PostgreSQL's ``bytea`` text).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from opencdm.connectors.formats import BATCH_ROWS, BLOCK_BYTES, TextOptions
from opencdm.errors import ExtractFailed, InvalidInput

#: Called with (line number or None, line text, why) for a line that does not parse; None: fail.
BadLine = Callable[[int | None, str, str], None]


#: A native stream of CSV text: the bytes of the files (headers removed, each file ending its last
#: line), described by ``native_format`` so a loader that reads CSV itself (PostgreSQL's COPY) can
#: take them as they are.
NATIVE_PREFIX = "text/csv"


def native_format(opts: TextOptions) -> str | None:
    """The descriptor of a CSV byte stream in this layout, or None when it cannot be passed on as is
    (unquoted CSV, regular expressions, unusual separators: only Arrow's parser reads those right)."""
    if not opts.standard or not opts.quote or opts.line_sep == "\r":
        return None
    return f"{NATIVE_PREFIX};delimiter={ord(opts.field_sep)};encoding={opts.encoding}"


def parse_native(fmt: str) -> tuple[str, str] | None:
    """``(field separator, Python codec)`` of a ``native_format`` descriptor; None for other formats."""
    head, _, rest = fmt.partition(";")
    if head != NATIVE_PREFIX:
        return None
    params = dict(item.split("=", 1) for item in rest.split(";") if "=" in item)
    return chr(int(params["delimiter"])), params["encoding"]


def names_for(count: int) -> list[str]:
    """Column names of a file without a header row: ``col_1`` ... ``col_N``."""
    return [f"col_{i}" for i in range(1, count + 1)]


def first_row(stream: BinaryIO, opts: TextOptions) -> list[str]:
    """The fields of the first record (the header, or a sample row to count columns)."""
    if not opts.standard:
        for row in _rows(stream, opts):
            return [v or "" for v in row]
        return []
    read_opts = pacsv.ReadOptions(autogenerate_column_names=not opts.header, block_size=BLOCK_BYTES,
                                  encoding=opts.encoding)
    parse = pacsv.ParseOptions(delimiter=opts.field_sep, quote_char='"' if opts.quote else False,
                               newlines_in_values=opts.quote, invalid_row_handler=lambda row: "skip")
    try:
        return list(pacsv.open_csv(stream, read_options=read_opts, parse_options=parse).schema.names)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return []
        raise ExtractFailed(f"The file does not parse as CSV: {str(exc)[:500]}") from None


def read(stream: BinaryIO, opts: TextOptions, names: Sequence[str], *, skip_header: bool,
         keep: Sequence[int] | None = None, bad_line: BadLine | None = None) -> Iterator[pa.RecordBatch]:
    """Batches of the string columns ``names`` (all of them, or the 0-based positions ``keep``)."""
    chosen = [names[i] for i in keep] if keep else list(names)
    if not opts.standard:
        yield from _read_lines(stream, opts, names, skip_header, chosen, bad_line)
        return

    def invalid(row: Any) -> str:
        if bad_line is None:
            return "error"
        bad_line(row.number, row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}")
        return "skip"

    read_opts = pacsv.ReadOptions(column_names=list(names), skip_rows=1 if skip_header else 0,
                                  block_size=BLOCK_BYTES, encoding=opts.encoding)
    parse = pacsv.ParseOptions(delimiter=opts.field_sep, quote_char='"' if opts.quote else False,
                               newlines_in_values=opts.quote, invalid_row_handler=invalid)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=chosen,
                                   strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""])
    try:
        reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse, convert_options=convert)
        for batch in reader:
            if batch.num_rows:
                yield batch
    except pa.ArrowInvalid as exc:
        raise ExtractFailed(f"The file does not parse as CSV: {str(exc)[:500]}") from None


def _rows(stream: BinaryIO, opts: TextOptions) -> Iterator[list[str | None]]:
    """Each line split into fields, for the line reader (and the header): no multi-line values."""
    text = io.TextIOWrapper(stream, encoding=opts.encoding, newline="" if opts.line_sep else None)
    splitter = re.compile(opts.regex) if opts.regex else None
    for line in _lines(text, opts.line_sep):
        fields = splitter.split(line) if splitter else line.split(opts.field_sep)
        yield [_unquote(f) if opts.quote and splitter is None else (f or None) for f in fields]


def _lines(text: io.TextIOBase, sep: str | None) -> Iterator[str]:
    if sep is None:
        for line in text:
            yield line.rstrip("\r\n")
        return
    rest = ""
    for block in iter(lambda: text.read(1 << 20), ""):
        parts = (rest + block).split(sep)
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _unquote(field: str) -> str | None:
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field or None


def _read_lines(stream: BinaryIO, opts: TextOptions, names: Sequence[str], skip_header: bool,
                chosen: Sequence[str], bad_line: BadLine | None) -> Iterator[pa.RecordBatch]:
    positions = [list(names).index(n) for n in chosen]
    schema = pa.schema([(n, pa.string()) for n in chosen])
    columns: list[list[str | None]] = [[] for _ in chosen]
    for number, row in enumerate(_rows(stream, opts), start=1):
        if number == 1 and skip_header:
            continue
        if len(row) != len(names):
            why = f"expected {len(names)} fields, found {len(row)}"
            if bad_line is None:
                raise ExtractFailed(f"Line {number} does not parse: {why}.")
            bad_line(number, opts.field_sep.join(v or "" for v in row), why)
            continue
        for col, i in zip(columns, positions):
            col.append(row[i])
        if len(columns[0]) >= BATCH_ROWS:
            yield pa.record_batch([pa.array(c, pa.string()) for c in columns], schema=schema)
            columns = [[] for _ in chosen]
    if columns and columns[0]:
        yield pa.record_batch([pa.array(c, pa.string()) for c in columns], schema=schema)


def _text_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns Arrow's writer cannot print as text, made text: binary as ``\\x``+hex, nested as JSON-ish."""
    cols, changed = [], False
    for col in batch.columns:
        t = col.type
        if isinstance(t, pa.ExtensionType):
            col, t, changed = col.storage, col.storage.type, True
        if pa.types.is_dictionary(t):
            col, t, changed = col.dictionary_decode(), col.type.value_type, True
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col, changed = pc.binary_join_element_wise("\\x", pc.utf8_upper(_hex(col)), ""), True
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names) if changed else batch


def _hex(col: pa.Array) -> pa.Array:
    return pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())


class Writer:
    """Writes batches as CSV text to ``sink`` (header first when asked); ``close`` ends the text, not the sink."""

    def __init__(self, sink: BinaryIO, schema: pa.Schema, opts: TextOptions) -> None:
        if len(opts.field_sep) != 1 or opts.regex:
            raise InvalidInput("toJobConfig.fieldSeparator must be one character when writing CSV.", code="Cdm.0014")
        self.sink, self.opts, self.names = sink, opts, schema.names
        self._header = opts.header
        self._options = pacsv.WriteOptions(include_header=False, delimiter=opts.field_sep,
                                           eol=opts.line_sep or "\n", quoting_style="needed" if opts.quote else "none",
                                           quoting_header="needed" if opts.quote else "none")

    def write(self, batch: pa.RecordBatch) -> None:
        if self._header:
            self._header = False
            line = self.opts.field_sep.join(f'"{n}"' if self.opts.quote else n for n in self.names)
            self.sink.write((line + (self.opts.line_sep or "\n")).encode(self.opts.encoding))
        if not batch.num_rows:
            return
        out = pa.BufferOutputStream()
        try:
            pacsv.write_csv(_text_ready(batch), out, self._options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(f"A row cannot be written as CSV with these options: {str(exc)[:300]}",
                               code="Cdm.0014") from None
        data = out.getvalue()
        if self.opts.encoding != "utf-8":
            data = data.to_pybytes().decode("utf-8").encode(self.opts.encoding)
        self.sink.write(data)

    def close(self) -> None:
        if self._header:
            self.write(pa.RecordBatch.from_pylist([], schema=pa.schema([(n, pa.string()) for n in self.names])))
