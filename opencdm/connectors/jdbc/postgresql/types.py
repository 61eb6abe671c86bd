"""PostgreSQL types: which ones ADBC reads natively, the DDL for an Arrow type, and when ADBC can
write a batch straight into a table's columns (``write_plan``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from opencdm.connectors.arrow import field_dialect, field_type, plain_type
from opencdm.connectors.jdbc.dialect import Column
from opencdm.connectors.jdbc.sqltext import quote_ident

#: Types ADBC decodes natively, by ``pg_type.typname``. Any other type is selected as text.
NATIVE: dict[str, pa.DataType] = {
    "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(),
    "float4": pa.float32(), "float8": pa.float64(), "numeric": pa.string(),
    "bool": pa.bool_(), "date": pa.date32(), "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
    "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "bytea": pa.binary(),
}


#: Declared types that mean the same in most SQL dialects, so they survive a cross-dialect create.
PORTABLE = re.compile(
    r"^(numeric|decimal|varchar|character varying|char|character)\s*\(\s*\d+(\s*,\s*\d+)?\s*\)$|^(uuid|jsonb?)$", re.I)


NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def column(name: str, declared: str, typname: str, nullable: bool) -> Column:
    if typname in NATIVE:
        return Column(name, declared, nullable, NATIVE[typname])
    ident = quote_ident(name)
    return Column(name, declared, nullable, pa.string(), expr=f"CAST({ident} AS text) AS {ident}")


def arrow_ddl(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time without time zone"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if pa.types.is_interval(t):
        return "interval"
    return "text"


def write_plan(cols: Sequence[Column], source: pa.Schema) -> pa.Schema | None:
    """The Arrow schema that ADBC writes into ``cols`` from batches of ``source``; None when a column
    needs a database-side CAST. ADBC's binary COPY writes by Arrow type, so each Arrow type must be
    the one the column's type reads as, except that numeric(p,s) read as text from the very same
    declared type is written back as decimal128(p,s)."""
    if len(cols) != len(source):
        return None
    out = []
    for c, f in zip(cols, source):
        t = plain_type(f.type)
        m = NUMERIC.match(c.type)
        if m and int(m[1]) <= 38 and pa.types.is_string(t) and field_type(f) == c.type \
                and field_dialect(f) == "postgresql":
            out.append(pa.field(c.name, pa.decimal128(int(m[1]), int(m[2]))))
        elif m and pa.types.is_decimal128(t) and t.scale == int(m[2]) and t.precision <= int(m[1]) <= 38:
            out.append(pa.field(c.name, pa.decimal128(int(m[1]), int(m[2]))))  # exact decimals (MySQL): widen only
        elif c.expr is None and c.arrow == t and not c.type.startswith("numeric"):
            out.append(pa.field(c.name, t))
        else:
            return None
    return pa.schema(out)
