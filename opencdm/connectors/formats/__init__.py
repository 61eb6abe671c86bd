"""Record formats every family that reads or writes files shares: CSV, JSON, Parquet (and the
raw bytes of BINARY_FILE, which need no format).

A reader turns one input stream (already decompressed and cut to its byte range) into Arrow
batches; a writer turns Arrow batches into bytes on one output stream. Readers and writers take
the typed options below, parsed once by the connector's config classes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from opencdm.errors import InvalidInput

CSV, JSON, PARQUET, BINARY = "CSV_FILE", "JSON_FILE", "PARQUET_FILE", "BINARY_FILE"
FORMATS = (CSV, JSON, PARQUET, BINARY)
EXTENSIONS = {CSV: ".csv", JSON: ".json", PARQUET: ".parquet", BINARY: ""}

#: Rows per batch a reader aims for (memory per batch stays a few MiB for ordinary rows).
BATCH_ROWS = 65_536
#: Bytes a CSV reader parses at a time.
BLOCK_BYTES = 4 << 20

_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\r\\n": "\r\n", "\\0": "\0", "\\\\": "\\"}


def unescape(value: str) -> str:
    """A separator as CDM clients send it: a real character, or its escape text (``\\t``, ``\\r\\n``)."""
    if value in _ESCAPES:
        return _ESCAPES[value]
    out = value
    for text, char in (("\\r", "\r"), ("\\n", "\n"), ("\\t", "\t")):
        out = out.replace(text, char)
    return out


def encoding(value: str | None, name: str) -> str:
    """A Python codec name for CDM's ``encodeType`` (``UTF_8``, ``UTF-8``, ``GBK``, ...)."""
    if not value:
        return "utf-8"
    try:
        return codecs.lookup(value.replace("_", "-")).name
    except LookupError:
        raise InvalidInput(f"Unknown encoding [{value}] for {name}.", code="Cdm.0014") from None


@dataclass(frozen=True)
class TextOptions:
    """How records are laid out as text (CSV_FILE, and the encoding of JSON_FILE)."""

    field_sep: str = ","
    #: None: ``\\n``, ``\\r\\n`` and ``\\r`` all end a line (reading); ``\\n`` (writing).
    line_sep: str | None = None
    quote: bool = True
    header: bool = False
    encoding: str = "utf-8"
    #: A regular expression that splits a line into fields (``regexSeparator``); no quoting then.
    regex: str | None = None

    @property
    def standard(self) -> bool:
        """Whether Arrow's CSV parser reads this layout (else the line-by-line reader does)."""
        return (self.regex is None and len(self.field_sep) == 1
                and self.line_sep in (None, "\n", "\r\n", "\r"))
