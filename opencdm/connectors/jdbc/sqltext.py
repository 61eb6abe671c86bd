"""SQL text for the JDBC dialects: quoting, key-range predicates, bounded SELECTs, the one check of
user-supplied SQL (``sql_input``), literals, stage names and DDL. Pure (no I/O): unit-tested without
a database. The ``Dialect`` contract lives in ``opencdm.connectors.jdbc.dialect``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from opencdm.connectors.arrow import PK_KEY
from opencdm.connectors.base import KeyRange, Partition
from opencdm.errors import InvalidInput

#: Hidden stage column tagging each row with the index of the partition that wrote it.
PART_COLUMN = "_opencdm_part"


def quote_ident(name: str, q: str = '"') -> str:
    """``name`` as a quoted identifier; embedded quote characters are doubled."""
    return q + name.replace(q, q + q) + q


def _no_inline(value: Any) -> str | None:
    return None


def range_predicate(
    part: Partition, q: str, param: Callable[[int], str], inline: Callable[[Any], str | None] = _no_inline,
) -> tuple[str, list]:
    """SQL condition selecting ``part``, and its parameters (a ``None`` bound leaves that end open).

    ``param(i)`` renders the i-th placeholder. ``inline(value)`` may instead return a literal for
    a value of a type that cannot carry SQL (a dialect uses it for plain ``int`` bounds, because
    PostgreSQL's binary ``COPY (query) TO STDOUT`` cannot take parameters).
    """
    if not isinstance(part, KeyRange):
        return "", []
    col = quote_ident(part.column, q)
    if part.nulls:
        return f"{col} IS NULL", []
    params: list = []

    def bind(value: Any) -> str:
        literal = inline(value)
        if literal is not None:
            return literal
        params.append(value)
        return param(len(params))

    conds = []
    if part.lo is not None:
        conds.append(f"{col} >= {bind(part.lo)}")
    if part.hi is not None:
        conds.append(f"{col} {'<=' if part.last else '<'} {bind(part.hi)}")
    return " AND ".join(conds) or f"{col} IS NOT NULL", params


def int_literal(value: Any) -> str | None:
    """A literal for an exact ``int`` (never a bool, str or anything user-shaped); else None."""
    return str(value) if type(value) is int else None


def select_sql(
    table: str, exprs: Sequence[str], where: str | None, part: Partition, q: str,
    param: Callable[[int], str], inline: Callable[[Any], str | None] = _no_inline,
) -> tuple[str, list]:
    """``SELECT exprs FROM table WHERE (where) AND <part's range>`` and its parameters."""
    conds: list[str] = []
    if where:
        conds.append(where_group(where))
    pred, params = range_predicate(part, q, param, inline)
    if pred:
        conds.append(pred)
    sql = f"SELECT {', '.join(exprs)} FROM {table}"
    return (sql + " WHERE " + " AND ".join(conds) if conds else sql), params


_WORD = re.compile(r"[0-9A-Za-z_\x80-\U0010ffff][0-9A-Za-z_$\x80-\U0010ffff]*")  # a name or a number
_DOLLAR = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][0-9A-Za-z_\x80-\U0010ffff]*)?\$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLOCK = re.compile(r"/\*|\*/")
_LINE_END = {True: re.compile(r"[\r\n]"), False: re.compile(r"\n")}


def sql_code(sql: str, dialect: str = "postgresql") -> str:
    """``sql`` with its string literals, quoted identifiers and comments blanked out (same length), lexed
    as the ``dialect``'s server does (``mysql``, ``sqlite``; any other name: PostgreSQL). ValueError for
    unterminated quotes or comments, control characters, and what servers lex differently by version or
    setting: a backslash right before a closing quote (an escape under MySQL's default sql_mode or in a
    PostgreSQL E'' string, a character otherwise), MySQL ``/*! */`` and nested comments, a PostgreSQL
    ``$`` right after a number, SQLite parameters (``$x(...)`` may hold any text)."""
    my, lite = dialect == "mysql", dialect == "sqlite"
    pg = not (my or lite)
    if m := _CONTROL.search(sql):
        raise ValueError(f"contains the control character U+{ord(m.group(0)):04X}")
    out, i, n = [], 0, len(sql)
    while i < n:
        c, start = sql[i], i
        if c in "'\"`" or c == "[" and lite:
            close, j = "]" if c == "[" else c, i + 1
            slashes = c == "'" and not lite or c == '"' and my  # the server may read backslash escapes
            while True:
                k = sql.find(close, j)
                if k < 0:
                    raise ValueError(f"has an unterminated {c} quote")
                if slashes and (k - j - len(sql[j:k].rstrip("\\"))) % 2:
                    raise ValueError("has a backslash right before a closing quote (an escape or not, depending "
                                     "on server settings)")
                if close == "]" or sql[k + 1:k + 2] != close:
                    break
                j = k + 2  # a doubled quote
            i = k + 1
        elif sql.startswith("/*", i):
            if my and (sql[i + 2:i + 3] == "!" or sql[i + 2:i + 4] == "M!"):
                raise ValueError("has a MySQL executable comment (/*! ... */)")
            depth, i = 1, i + 2
            while depth:  # PostgreSQL nests block comments; MySQL and SQLite end at the first */
                if (m := _BLOCK.search(sql, i)) is None:
                    raise ValueError("has an unterminated /* comment")
                if m.group(0) == "/*" and my:
                    raise ValueError("has a nested /* comment")
                depth += (1 if pg else 0) if m.group(0) == "/*" else -1
                i = m.end() if pg or m.group(0) == "*/" else m.start() + 1
        elif sql.startswith("--", i) and not (my and sql[i + 2:i + 3] not in ("", " ", "\t", "\r", "\n")) \
                or c == "#" and my:  # MySQL: "--" starts a comment only before a blank
            m = _LINE_END[pg].search(sql, i)
            i = m.start() if m else n
        elif c == "$" and pg and (m := _DOLLAR.match(sql, i)):
            if (k := sql.find(m.group(0), m.end())) < 0:
                raise ValueError("has an unterminated $$ quote")
            i = k + len(m.group(0))
        else:
            if m := _WORD.match(sql, i):
                if pg and m.group(0)[0].isdigit() and "$" in m.group(0):
                    raise ValueError(f"has a '$' right after a number ({m.group(0)})")
                i = m.end()
            elif lite and c in "$@:#?":
                raise ValueError(f"has a parameter ({c}...), which SQLite reads with any text after it")
            else:
                i += 1
            out.append(sql[start:i])
            continue
        out.append(" " * (i - start))
    return "".join(out)


def sql_input(sql: str | None, name: str, dialect: str = "postgresql", statement: bool = False) -> str | None:
    """The one check of SQL a user supplies (``whereClause`` of either side, ``sql``, ``boundaryQuery``):
    the text, stripped (None when empty), or InvalidInput (Cdm.0014) naming the input ``name``.

    A condition must be one expression: no ``;``, balanced parentheses, nothing unterminated or lexed
    differently by different servers (``sql_code``), so that wrapped by ``where_group`` it can neither
    end the statement nor leave its parentheses. A ``statement`` must be one SELECT (or WITH ... SELECT);
    trailing ``;`` are removed. Run by ``check_job`` and again where the extractor or loader reads the
    input, so a stored job cannot skip it; the dialects' ``query`` refuses a second statement anyway."""
    text = (sql or "").strip()
    if not text and not statement:
        return None
    try:
        code = sql_code(text, dialect)
    except ValueError as exc:
        raise InvalidInput(f"{name} {exc}.", code="Cdm.0014") from None
    what = "a single SELECT statement" if statement else "a single condition"
    if statement:
        while code.rstrip().endswith(";"):
            code = code.rstrip()[:-1]
        text = text[:len(code)].rstrip()
        m = re.match(r"[\s(]*([A-Za-z]+)", code)
        word = m.group(1).upper() if m else ""
        if word not in ("SELECT", "WITH"):
            raise InvalidInput(f"{name} must be a SELECT statement, not [{word or text[:30]}].", code="Cdm.0014")
    if ";" in code:
        raise InvalidInput(f"{name} must be {what} (it contains ';').", code="Cdm.0014")
    if min(itertools.accumulate((ch == "(") - (ch == ")") for ch in code), default=0) < 0 \
            or code.count("(") != code.count(")"):
        raise InvalidInput(f"{name} must be {what} with balanced parentheses.", code="Cdm.0014")
    return text


def select_statement(sql: str | None, name: str, dialect: str = "postgresql") -> str:
    """``sql`` if it is one ``SELECT`` (or ``WITH ... SELECT``) statement, trailing ``;`` removed
    (``sql_input``). The extractor also only ever runs it as a derived table (``derived_table``), on a
    read-only connection where the dialect offers one, which no data-modifying statement survives."""
    return sql_input(sql, name, dialect, statement=True)


def where_group(condition: str) -> str:
    """A validated condition (``sql_input``) in parentheses; a newline first ends a trailing comment."""
    return f"({condition}\n)" if "--" in condition or "#" in condition else f"({condition})"


def derived_table(sql: str, alias: str = "q") -> str:
    """A validated query as a FROM item; the newline ends any trailing ``--`` comment."""
    return f"({sql}\n) AS {alias}"


def wildcard(pattern: str | None) -> bool:
    return "*" in (pattern or "")


def match_tables(tables: Iterable[tuple[str | None, str]], schema: str | None, table: str,
                 exclude_prefix: str = "opencdm_stage_") -> list[tuple[str | None, str]]:
    """The ``(schema, name)`` pairs matching ``schema``/``table`` patterns (``*``: any run of characters), sorted.

    Case-sensitive first; when nothing matches, case-insensitive (``ORDERS*`` finds ``orders_1``).
    Tables without a schema (SQLite) match any schema pattern; opencdm's own stage tables never match.
    """
    def regex(pattern: str, flags: int) -> re.Pattern:
        return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), flags)

    pool = sorted({(s, t) for s, t in tables if not t.startswith(exclude_prefix)}, key=lambda st: (st[0] or "", st[1]))
    for flags in (0, re.I):
        rs, rt = regex(schema or "*", flags), regex(table, flags)
        hits = [(s, t) for s, t in pool if rt.fullmatch(t) and (s is None or rs.fullmatch(s))]
        if hits:
            return hits
    return []


def sql_literal(value: Any) -> str | None:
    """An SQL literal for a bound of a key range, or None when the value should be a parameter.

    Exact ints and finite floats become numbers; decimals, non-finite floats, dates, times and
    timestamps become quoted text that the database coerces to the compared column's type.
    Strings and bytes return None: quoting them safely is the dialect's business.
    """
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if math.isfinite(value):
            return repr(value)
        text = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        return None
    return f"'{text}'"


def stage_name(run_id: str) -> str:
    """Stage table name derived only from ``run_id`` (so ``abort`` works after a crash); <= 63 chars."""
    safe = re.sub(r"[^a-z0-9_]", "_", run_id.lower())
    if len(safe) > 40 or safe != run_id:
        safe = safe[:30] + "_" + hashlib.sha1(run_id.encode()).hexdigest()[:10]
    return f"opencdm_stage_{safe}"


def match_columns(wanted: Sequence[str], available: Sequence[str], table: str) -> list[str]:
    """Resolve ``wanted`` names against a table's columns: exact match first, then case-insensitive."""
    out = []
    for name in wanted:
        if name in available:
            out.append(name)
            continue
        hits = [a for a in available if a.lower() == name.lower()]
        if len(hits) != 1:
            raise InvalidInput(f"Column [{name}] does not exist in table [{table}].", code="Cdm.0014")
        out.append(hits[0])
    return out


def create_table_sql(table: str, columns: Iterable[tuple[str, str, bool]], q: str,
                     primary_key: Sequence[str] = (), options: str = "") -> str:
    """``CREATE TABLE table (...)`` from ``(name, sql type, not null)`` triples, with an optional primary key
    and trailing table options (``options`` starts with a space)."""
    cols = [f"{quote_ident(n, q)} {t}{' NOT NULL' if nn else ''}".rstrip() for n, t, nn in columns]
    if primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(n, q) for n in primary_key)})")
    return f"CREATE TABLE {table} ({', '.join(cols)}){options}"


_CHAR_TYPE = re.compile(
    r"^\s*((?:national\s+)?(?:var)?char(?:acter)?(?:\s+varying)?|n?varchar2?)\s*\(\s*(\d+)\s*\)", re.I)


def extend_char_length(sql_type: str, factor: int = 3) -> str:
    """``toJobConfig.extendCharLength``: ``varchar(20)`` -> ``varchar(60)``; any other type unchanged."""
    return _CHAR_TYPE.sub(lambda m: f"{m.group(1)}({int(m.group(2)) * factor})", sql_type, count=1)


def primary_key_targets(targets: Sequence[str], fields: pa.Schema) -> list[str]:
    """Target names of the source's primary-key columns in key order; empty unless all of them are mapped."""
    marked = [(int((f.metadata or {})[PK_KEY]), t) for t, f in zip(targets, fields) if PK_KEY in (f.metadata or {})]
    total = {int((f.metadata or {}).get(PK_KEY, 0)) for f in fields} - {0}
    return [t for _, t in sorted(marked)] if marked and len(marked) == len(total) else []


