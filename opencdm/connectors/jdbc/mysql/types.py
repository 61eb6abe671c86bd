"""How MySQL / MariaDB values become Arrow, and Arrow values become MySQL text (docs/types.md).

* ``_column`` / ``result_column``: the Arrow type each source column is read as, and the SELECT
  expression that makes connectorx's decoding exact (see ``opencdm.connectors.jdbc.mysql``);
  ``convert`` turns what the reader returned into that type, failing on any value that would
  change (a TIME beyond a day, a ``TINYINT(1)`` boolean holding 2).
* ``ddl_type`` helpers: the column type a target table gets for an Arrow field.
* ``tsv`` / ``sql_rows``: batches as ``LOAD DATA`` text or SQL literals, formatted and escaped by
  pyarrow compute in C; no Python runs per value (except for JSON of nested types).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import plain_type
from opencdm.connectors.jdbc import arrays
from opencdm.connectors.jdbc.dialect import Column
from opencdm.connectors.jdbc.sqltext import quote_ident
from opencdm.errors import CDM_CODES, ExtractFailed, LoadFailed

TEXT_CHARSET = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
_EPOCH_DAYS = 719528  # TO_DAYS('1970-01-01')
_DAY_US = 86_400_000_000

_INTS = {"tinyint": (pa.int8(), pa.uint8()), "smallint": (pa.int16(), pa.uint16()),
         "mediumint": (pa.int32(), pa.uint32()), "int": (pa.int32(), pa.uint32()),
         "integer": (pa.int32(), pa.uint32()), "bigint": (pa.int64(), pa.decimal128(20, 0))}
_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"}
_AS_CHAR = {"uuid", "inet4", "inet6", "json"}  # read through CAST(... AS CHAR)
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


# --- types --------------------------------------------------------------------------------------

def column(name: str, data_type: str, declared: str, nullable: bool, precision: Any, scale: Any,
            tiny_bool: bool) -> Column:
    """How one column is read: Arrow type and the SELECT expression connectorx decodes exactly."""
    t = data_type.lower()
    c = quote_ident(name, "`")
    unsigned = "unsigned" in declared.lower()

    def via(expr: str, arrow: pa.DataType) -> Column:
        return Column(name, declared, nullable, arrow, expr=f"{expr} AS {c}")

    if t == "tinyint" and tiny_bool and declared.lower().startswith("tinyint(1)") and not unsigned:
        return Column(name, declared, nullable, pa.bool_())
    if t in _INTS:
        return Column(name, declared, nullable, _INTS[t][unsigned])
    if t in ("decimal", "numeric", "fixed"):
        p, s = int(precision or 10), int(scale or 0)
        if p <= 28 and s <= 10:  # connectorx decodes these exactly (as decimal128(38,10)): no text round trip
            return Column(name, declared, nullable, pa.decimal128(p, s))
        return via(f"CAST({c} AS CHAR)", pa.decimal128(p, s) if p <= 38 else pa.string())
    if t in ("float", "double", "real", "double precision"):
        return Column(name, declared, nullable, pa.float32() if t == "float" else pa.float64())
    if t == "bit":
        bits = int(precision or 1)
        arrow = pa.bool_() if bits == 1 else pa.int64() if bits < 64 else pa.decimal128(20, 0)
        return via(f"CAST({c} AS UNSIGNED)", arrow)
    if t == "year":
        return Column(name, declared, nullable, pa.int16())
    if t == "date":
        return via(f"TO_DAYS({c}) - {_EPOCH_DAYS}", pa.date32())
    if t == "datetime":
        return via(f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {c})", pa.timestamp("us"))
    if t == "timestamp":  # stored as UTC; zero (1970-01-01 00:00:00 is not storable) is the zero date
        return via(f"NULLIF(CAST(UNIX_TIMESTAMP({c}) * 1000000 AS SIGNED), 0)", pa.timestamp("us", tz="UTC"))
    if t == "time":
        return via(f"CAST(TIME_TO_SEC({c}) * 1000000 AS SIGNED)", pa.time64("us"))
    if t in _AS_CHAR:
        return via(f"CAST({c} AS CHAR)", pa.string())
    if t in _TEXT:
        return Column(name, declared, nullable, pa.string())
    if t in _BINARY:
        return Column(name, declared, nullable, pa.binary())
    return Column(name, declared, nullable, None)  # spatial and other types: Cdm.0921 when read


#: PyMySQL field type codes of a query's result columns, as information_schema DATA_TYPE names.
_FIELD_TYPES = {0: "decimal", 246: "decimal", 1: "tinyint", 2: "smallint", 9: "mediumint", 3: "int", 8: "bigint",
                4: "float", 5: "double", 16: "bit", 13: "year", 10: "date", 14: "date", 12: "datetime",
                7: "timestamp", 11: "time", 245: "json", 247: "enum", 248: "set", 15: "varchar", 253: "varchar",
                254: "char", 249: "text", 250: "text", 251: "text", 252: "text", 255: "geometry"}


def result_column(f: Any, tiny_bool: bool) -> Column:
    """How one result column of a custom query (``useSql``) is read, from its protocol metadata."""
    t = _FIELD_TYPES.get(f.type_code, "unknown")
    unsigned, binary = bool(f.flags & 32), f.charsetnr == 63
    scale = f.scale if t == "decimal" else None
    precision: int | None = None
    declared = t
    if t == "decimal":
        precision = f.length - (1 if f.scale else 0) - (0 if unsigned else 1)
        declared = f"decimal({precision},{f.scale})"
    elif t == "tinyint" and f.length == 1:
        declared = "tinyint(1)"
    elif t == "bit":
        precision = f.length
        declared = f"bit({f.length})"
    elif t in ("varchar", "char", "text") and binary:
        t = declared = {"varchar": "varbinary", "char": "binary", "text": "blob"}[t]
    declared += " unsigned" if unsigned and t in _INTS else ""
    return column(f.name, t, declared, True, precision, scale, tiny_bool)


def convert(arr: pa.Array, f: pa.Field) -> pa.Array:
    """An array as connectorx or PyMySQL returned it, as ``f.type``; values that would change raise."""
    import pyarrow.compute as pc  # here, not at import: workers that never touch MySQL skip ~10 MiB
    t = f.type
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == t:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), t)
    try:
        if pa.types.is_date32(t):
            return arr.cast(pa.int32()).cast(t)
        if pa.types.is_timestamp(t):
            return arr.cast(pa.int64()).cast(t)
        if pa.types.is_time64(t):
            lo, hi = pc.min_max(arr).values()
            if lo.is_valid and (lo.as_py() < 0 or hi.as_py() >= _DAY_US):
                bad = lo.as_py() if lo.as_py() < 0 else hi.as_py()
                raise ExtractFailed(CDM_CODES["Cdm.0233"] % (
                    f"column [{f.name}] holds the TIME {_fmt_time(bad)}, outside 00:00:00-23:59:59.999999, "
                    "which the time-of-day type cannot hold"), code="Cdm.0233")
            return arr.cast(pa.int64()).cast(t)
        if pa.types.is_boolean(t) and pa.types.is_integer(arr.type):
            lo, hi = pc.min_max(arr).values()
            if lo.is_valid and (lo.as_py() < 0 or hi.as_py() > 1):
                raise ExtractFailed(CDM_CODES["Cdm.0233"] % (
                    f"column [{f.name}] is read as a boolean but holds {hi.as_py() if hi.as_py() > 1 else lo.as_py()}; "
                    "set linkConfig.jdbcProperties {\"tinyInt1isBit\": \"false\"} to read it as an integer"),
                    code="Cdm.0233")
        return arr.cast(t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ExtractFailed(CDM_CODES["Cdm.0233"] % f"column [{f.name}] cannot be read as {t}: {exc}",
                            code="Cdm.0233") from exc


def _fmt_time(us: int) -> str:
    sign, us = ("-" if us < 0 else ""), abs(us)
    s, frac = divmod(us, 1_000_000)
    return f"{sign}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{frac:06d}"


def arrow_ddl(t: pa.DataType, pk: bool) -> str:
    """Target column type for an Arrow type (cross-dialect auto-create)."""
    if pa.types.is_boolean(t):
        return "tinyint(1)"
    for arrow, sql in ((pa.int8(), "tinyint"), (pa.int16(), "smallint"), (pa.int32(), "int"), (pa.int64(), "bigint"),
                       (pa.uint8(), "tinyint unsigned"), (pa.uint16(), "smallint unsigned"),
                       (pa.uint32(), "int unsigned"), (pa.uint64(), "bigint unsigned")):
        if t == arrow:
            return sql
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t) and t.precision <= 65:
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "datetime(6)"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time(6)"
    if pa.types.is_duration(t):
        return "bigint"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "varbinary(3072)" if pk else "longblob"
    return f"varchar(768) {TEXT_CHARSET}" if pk else f"longtext {TEXT_CHARSET}"


#: Declared types of other dialects with a faithful MySQL spelling (matched on the lower-cased type).
_PORTABLE = re.compile(r"^(numeric|decimal|varchar|character varying|char|character)\s*\((\d+)(?:\s*,\s*(\d+))?\)$")


def portable(declared: str | None, pk: bool, uuid_type: bool) -> str | None:
    if not declared:
        return None
    d = " ".join(declared.lower().split())
    m = _PORTABLE.match(d)
    if m:
        kind, n, s = m.group(1), int(m.group(2)), m.group(3)
        if kind in ("numeric", "decimal"):
            return f"decimal({n},{s or 0})" if n <= 65 and int(s or 0) <= 38 else None
        base = "varchar" if kind in ("varchar", "character varying") else "char"
        return f"{base}({n}) {TEXT_CHARSET}" if base == "char" or n <= 16383 else None
    if d == "uuid":
        return "uuid" if uuid_type else f"char(36) {TEXT_CHARSET}"
    if d in ("json", "jsonb"):
        return "json"
    if d == "numeric":  # unconstrained: the widest MySQL decimal; values beyond it fail the move
        return "decimal(65,30)"
    return None


# --- writing: values as LOAD DATA text or SQL literals, formatted by pyarrow in C ---------------

_TSV_ESCAPES = ((b"\\", b"\\\\"), (b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r"), (b"\x00", b"\\0"))
_SQL_ESCAPES = ((b"\\", b"\\\\"), (b"'", b"\\'"), (b"\x00", b"\\0"), (b"\x1a", b"\\Z"))


def _text(arr: pa.Array, f: pa.Field) -> pa.Array:
    """Column ``f`` as large_binary text the way MySQL parses each value (NULLs kept, nothing escaped yet)."""
    import pyarrow.compute as pc
    name = f.name
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    t = arr.type
    if pa.types.is_dictionary(t):
        return _text(arr.dictionary_decode(), f)
    if arrays.is_pg_array(f):
        arr = arrays.to_json(f, arr)
    if pa.types.is_boolean(t):
        arr = arr.cast(pa.int8())
    elif pa.types.is_floating(t):
        if pc.all(pc.is_finite(arr)).as_py() is False:
            raise LoadFailed(CDM_CODES["Cdm.0234"] % (
                f"column [{name}] holds NaN or infinity, which MySQL and MariaDB cannot store"), code="Cdm.0234")
        arr = arr.cast(pa.float64())  # float32's shortest text can round past FLT_MAX when read as a double
    elif pa.types.is_timestamp(t):
        arr = arr.cast(pa.timestamp(t.unit))  # tz-aware: the UTC wall time
    elif pa.types.is_fixed_size_binary(t):
        arr = arr.cast(pa.binary())
    elif pa.types.is_duration(t):
        arr = arr.cast(pa.int64())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return arr.cast(pa.large_binary())
    try:
        return arr.cast(pa.string()).cast(pa.large_binary())
    except pa.ArrowNotImplementedError:  # lists, structs, maps, intervals: JSON text, value by value
        values = [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in arr.to_pylist()]
        return pa.array(values, pa.large_string()).cast(pa.large_binary())


def _is_quoted(t: pa.DataType) -> bool:
    t = plain_type(t)
    return not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or pa.types.is_decimal(t) or pa.types.is_duration(t))


def _escape(arr: pa.Array, pairs: Sequence[tuple[bytes, bytes]]) -> pa.Array:
    import pyarrow.compute as pc
    for old, new in pairs:
        arr = pc.replace_substring(arr, old, new)
    return arr


def values_buffer(lines: pa.Array) -> memoryview:
    """The bytes of a large_binary array's values, end to end (no separators added)."""
    offsets = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, lines.buffers()[1]], offset=lines.offset)
    start, end = offsets[0].as_py(), offsets[len(lines)].as_py()
    return memoryview(lines.buffers()[2])[start:end] if end > start else memoryview(b"")


def _lb(value: bytes) -> pa.Scalar:
    return pa.scalar(value, pa.large_binary())


def tsv(batch: pa.RecordBatch) -> memoryview:
    """``batch`` as LOAD DATA text: tab-separated, backslash escapes, ``\\N`` for NULL, one line per row."""
    import pyarrow.compute as pc
    cols = [_escape(_text(c, f), _TSV_ESCAPES).fill_null(_lb(b"\\N")) for c, f in zip(batch.columns, batch.schema)]
    cols[-1] = pc.binary_join_element_wise(cols[-1], _lb(b"\n"), _lb(b""))
    return values_buffer(pc.binary_join_element_wise(*cols, _lb(b"\t")))


def sql_rows(batch: pa.RecordBatch) -> pa.Array:
    """Each row of ``batch`` as an SQL ``(v1,v2,...)`` tuple of literals."""
    import pyarrow.compute as pc
    cols = []
    for c, f in zip(batch.columns, batch.schema):
        text = _text(c, f)
        if _is_quoted(f.type):
            intro = _lb(b"_binary'" if _is_binary(f.type) else b"'")
            text = pc.binary_join_element_wise(intro, _escape(text, _SQL_ESCAPES), _lb(b"'"), _lb(b""))
        cols.append(text.fill_null(_lb(b"NULL")))
    row = pc.binary_join_element_wise(*cols, _lb(b","))
    return pc.binary_join_element_wise(_lb(b"("), row, _lb(b"),"), _lb(b""))


def _is_binary(t: pa.DataType) -> bool:
    t = plain_type(t)
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def stage_type(t: pa.DataType) -> str:
    """Column type of an Arrow-typed stage: ``arrow_ddl``'s, with integers widened and plain LOBs."""
    t = plain_type(t)
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return "bigint"
    if _is_binary(t):
        return "longblob"
    sql = arrow_ddl(t, pk=False)
    return "longtext" if sql.startswith("longtext") else sql


