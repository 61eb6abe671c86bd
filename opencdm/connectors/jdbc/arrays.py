"""PostgreSQL arrays for targets without arrays: the array's text form rewritten as JSON.

The PostgreSQL dialect reads an array column as its own text (``{1,NULL,3}``), which is what a
PostgreSQL target needs back. A MySQL or SQLite target stores JSON text instead (``[1,null,3]``):
numbers stay numbers, ``t``/``f`` of a ``boolean[]`` become ``true``/``false``, everything else
becomes a JSON string, and nested arrays nest.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from opencdm.connectors.arrow import field_dialect, field_type

_NUMBER = re.compile(r"^(smallint|integer|bigint|int[248]?|real|double precision|float[48]|numeric|decimal)\b")
_JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


def is_pg_array(f: pa.Field) -> bool:
    declared = field_type(f) or ""
    return field_dialect(f) == "postgresql" and declared.endswith("]") and pa.types.is_string(f.type)


def to_json(f: pa.Field, arr: pa.Array) -> pa.Array:
    """``arr`` (PostgreSQL array text of column ``f``) as JSON text; NULLs stay NULL."""
    element = (field_type(f) or "").split("[", 1)[0].strip().lower()
    kind = "number" if _NUMBER.match(element) else "bool" if element == "boolean" else "string"
    return pa.array([None if v is None else array_json(v, kind) for v in arr.to_pylist()], pa.string())


def array_json(text: str, kind: str = "string") -> str:
    """One PostgreSQL array literal (``[1:2]={...}`` bounds allowed) as JSON text."""
    if text.startswith("["):  # explicit bounds: "[0:1]={1,2}"
        text = text.split("=", 1)[1]
    value, end = _parse(text, 0, kind)
    if end != len(text):
        raise ValueError(f"unexpected text after the array: {text[end:end + 20]!r}")
    return value


def _scalar(raw: str, quoted: bool, kind: str) -> str:
    if not quoted and raw == "NULL":
        return "null"
    if kind == "number" and _JSON_NUMBER.fullmatch(raw):
        return raw
    if kind == "bool" and raw in ("t", "f"):
        return "true" if raw == "t" else "false"
    return json.dumps(raw, ensure_ascii=False)


def _parse(s: str, i: int, kind: str) -> tuple[str, int]:
    if s[i] != "{":
        raise ValueError(f"not an array literal: {s[:20]!r}")
    items: list[str] = []
    i += 1
    if s[i] == "}":
        return "[]", i + 1
    while True:
        if s[i] == "{":
            item, i = _parse(s, i, kind)
        elif s[i] == '"':
            buf, i = [], i + 1
            while s[i] != '"':
                if s[i] == "\\":
                    i += 1
                buf.append(s[i])
                i += 1
            item, i = _scalar("".join(buf), True, kind), i + 1
        else:
            j = i
            while s[j] not in ",}":
                j += 1
            item, i = _scalar(s[i:j].strip(), False, kind), j
        items.append(item)
        if s[i] == ",":
            i += 1
            continue
        if s[i] == "}":
            return "[" + ",".join(items) + "]", i + 1
        raise ValueError(f"unexpected {s[i]!r} in an array literal")
