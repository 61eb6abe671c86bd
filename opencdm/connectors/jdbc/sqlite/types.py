"""SQLite types: the Arrow type a declared type reads as (SQLite's affinity rules plus dates and
timestamps), converting what SQLite's dynamic typing returns, and values as SQLite stores them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from opencdm.connectors.jdbc import arrays
from opencdm.errors import CDM_CODES, ExtractFailed, LoadFailed

UTC = dt.timezone.utc


_BOOL_WORDS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def arrow_type(declared: str) -> pa.DataType:
    """Arrow type for a declared SQLite column type (affinity rules first, then dates and times)."""
    d = declared.upper()
    if "INT" in d:
        return pa.int64()
    if any(k in d for k in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in d or "BINARY" in d:
        return pa.binary()
    if any(k in d for k in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    if "BOOL" in d:
        return pa.bool_()
    if "TIMESTAMPTZ" in d or "WITH TIME ZONE" in d:
        return pa.timestamp("us", tz="UTC")
    if "DATETIME" in d or "TIMESTAMP" in d:
        return pa.timestamp("us")
    if "DATE" in d:
        return pa.date32()
    return pa.string()  # NUMERIC/DECIMAL (kept exact as text), untyped, anything else


def to_array(values: Sequence[Any], f: pa.Field) -> pa.Array:
    t = f.type
    try:
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return pa.array(values, pa.string()).cast(t)
        if pa.types.is_boolean(t):
            return pa.array(values, pa.int64()).cast(t)
        return pa.array(values, t)
    except _ARROW_ERRORS:
        pass
    if pa.types.is_string(t):
        try:  # numbers in a NUMERIC or untyped column: Arrow formats them in C
            return pa.array(values).cast(t)
        except _ARROW_ERRORS:
            pass
    # mixed storage classes (SQLite is dynamically typed): convert value by value
    try:
        return pa.array([None if v is None else _convert(v, t) for v in values], t)
    except (ValueError, TypeError, OverflowError, pa.ArrowException) as exc:
        raise ExtractFailed(CDM_CODES["Cdm.0233"] % f"column [{f.name}] cannot be read as {t}: {exc}",
                            code="Cdm.0233") from exc


def _convert(v: Any, t: pa.DataType) -> Any:
    if pa.types.is_string(t):
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    if pa.types.is_integer(t):
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"{v!r} is not an integer")
        return int(v)
    if pa.types.is_floating(t):
        return float(v)
    if pa.types.is_binary(t):
        return v if isinstance(v, bytes) else str(v).encode()
    if pa.types.is_boolean(t):
        if isinstance(v, str):
            word = v.strip().lower()
            if word not in _BOOL_WORDS:
                raise ValueError(f"{v!r} is not a boolean")
            return _BOOL_WORDS[word]
        return bool(v)
    stamp = _timestamp(v, t)
    return stamp.date() if pa.types.is_date(t) else stamp


def _timestamp(v: Any, t: pa.DataType) -> dt.datetime:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            stamp = dt.datetime.fromisoformat(v.strip())
        else:
            stamp = dt.datetime.fromtimestamp(v, UTC)
    else:
        stamp = dt.datetime.fromtimestamp(v, UTC)  # epoch seconds
    if getattr(t, "tz", None):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def storable(arr: pa.Array, f: pa.Field | None = None) -> pa.Array:
    """``arr`` as a type SQLite stores readably: ISO text for dates and times, 0/1 for booleans.

    A PostgreSQL array column (``f`` says so) becomes JSON text (``opencdm.connectors.jdbc.arrays``).
    """
    import pyarrow.compute as pc  # here, not at import: workers that never write SQLite skip ~10 MiB

    if f is not None and arrays.is_pg_array(f):
        arr = arrays.to_json(f, arr)
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    t = arr.type
    if f is not None and pa.types.is_floating(t) and pc.any(pc.is_nan(arr)).as_py():
        raise LoadFailed(CDM_CODES["Cdm.0234"] % f"column [{f.name}] holds NaN, which SQLite stores as NULL",
                         code="Cdm.0234")
    if pa.types.is_dictionary(t):
        return storable(arr.dictionary_decode())
    if pa.types.is_boolean(t):
        return arr.cast(pa.int64())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) \
            or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return arr
    if pa.types.is_fixed_size_binary(t):
        return arr.cast(pa.binary())
    if pa.types.is_timestamp(t):  # SQLite's own text form: no fraction when it is zero
        text = pc.replace_substring_regex(arr.cast(pa.timestamp(t.unit)).cast(pa.string()), r"\.0+$", "")
        # formatting in UTC directly is ~8x faster than via the tz
        return pc.binary_join_element_wise(text, "+00:00", "") if t.tz else text
    try:
        return arr.cast(pa.string())
    except pa.ArrowNotImplementedError:
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def stage_sql_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_floating(t):
        return "REAL"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    return "TEXT"


def storage_decl(kinds: set[str]) -> str:
    """A declared type for values of these storage classes (``typeof``); '' when unknown or mixed."""
    if kinds and kinds <= {"integer"}:
        return "INTEGER"
    if kinds and kinds <= {"integer", "real"}:
        return "REAL"
    return {frozenset({"text"}): "TEXT", frozenset({"blob"}): "BLOB"}.get(frozenset(kinds), "")
