"""Arrow helpers every connector family shares: the field metadata a FROM side may attach (the
source's declared type and dialect, primary-key position) and conversions to plain Arrow types."""

from __future__ import annotations

import re

import pyarrow as pa

from opencdm.errors import InvalidInput

#: Field metadata: the source's declared column type, and the dialect that declared it.
TYPE_KEY, DIALECT_KEY = b"opencdm.type", b"opencdm.dialect"


#: Field metadata: the column's 1-based position in the source's primary key (kept on auto-create).
PK_KEY = b"opencdm.pk"

#: Schema metadata: the source's columns have no names of their own (a CSV file without a header);
#: a loader maps them onto an existing target by position.
POSITIONAL_KEY = b"opencdm.positional"


def renamed(schema: pa.Schema, names: tuple[str, ...] | list[str], what: str) -> pa.Schema:
    """``schema`` with its columns renamed, in order, to ``names`` (a TO side's ``columnList``, named
    ``what`` in the error); unchanged when ``names`` is empty."""
    if not names:
        return schema
    if len(names) != len(schema):
        raise InvalidInput(f"{what} names {len(names)} columns but the source has {len(schema)}: "
                           f"{', '.join(schema.names)}.", code="Cdm.0014")
    return pa.schema([f.with_name(n) for f, n in zip(schema, names)])


def positional(schema: pa.Schema) -> bool:
    return (schema.metadata or {}).get(POSITIONAL_KEY) == b"true"


def plain_type(t: pa.DataType) -> pa.DataType:
    """Storage type for extension types; dictionaries decoded; nulls as strings."""
    if isinstance(t, pa.ExtensionType):
        return plain_type(t.storage_type)
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_null(t):
        return pa.string()
    return t


def plain_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """``arr`` as ``target``: unwrap extension storage, then cast when the types still differ."""
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    return arr if arr.type == target else arr.cast(target)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema`` (names, types and field metadata)."""
    cols = [plain_array(batch.column(i), f.type) for i, f in enumerate(schema)]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def row_bytes(schema: pa.Schema, unknown: int = 256) -> int:
    """A guess at a row's Arrow size from ``schema`` alone, to size read batches when the source gives
    no statistics: fixed-width types exactly, strings and binaries by their declared length
    (``varchar(16)``: 16) or ``unknown`` bytes, each column's validity bit rounded up to a byte."""
    total = 0
    for f in schema:
        try:
            total += max(f.type.bit_width // 8, 1) + 1
        except ValueError:  # variable width
            length = re.search(r"\((\d+)\)", field_type(f) or "")
            total += (int(length.group(1)) if length else unknown) + 5  # an offset and a validity bit
    return max(total, 1)


def field_type(f: pa.Field) -> str | None:
    meta = f.metadata or {}
    return meta[TYPE_KEY].decode() if TYPE_KEY in meta else None


def field_dialect(f: pa.Field) -> str | None:
    meta = f.metadata or {}
    return meta[DIALECT_KEY].decode() if DIALECT_KEY in meta else None

