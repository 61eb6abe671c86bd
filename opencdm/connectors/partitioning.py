"""Where to cut a relational source into partitions: pure maths, no I/O.

The JDBC extractor gives the planner the partition key's smallest and largest value (``MIN``/``MAX``,
or the user's ``boundaryQuery``) and a random sample of the key sorted by the database
(``Dialect.sample_keys``), and gets back the cut points of up to ``n`` contiguous key ranges:

* **Integers, floats, decimals, dates and timestamps** are cut arithmetically into ranges of equal
  width. The sample then estimates how many rows each range holds; when one holds more than
  ``SKEW_FACTOR`` times its share, the cuts are taken at the sample's quantiles instead, so one hot
  range does not serialise the run (SeaTunnel's evenness test with sampling fallback).
* **Anything else the database can order** (text, SQLite dates stored as text, PostgreSQL NaN...)
  is cut at the sample's quantiles directly. Python never compares those values: the database
  sorted the sample, so the cuts follow its own collation and type rules.

Ranges cover every non-NULL key exactly once: neighbours share a cut (``lo <= key < hi``). A
single key value is never split, so a value holding most rows still lands in one range.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from opencdm.connectors.base import KeyRange, Partition, WholeSource

#: A range estimated to hold more than this many times its fair share of rows is "skewed".
SKEW_FACTOR = 2.0
#: Below this many sampled keys per range the sample says too little to judge skew.
MIN_SAMPLE_PER_RANGE = 5
COMPARABLE = ("int", "float", "decimal", "date", "datetime")


@dataclass(frozen=True)
class TablePart(Partition):
    """``part`` (a key range or the whole table) of one table of a wildcard source.

    Several tables matched by ``schemaName``/``tableName`` patterns are read as one source, so a
    partition names its table; the inner ``part`` carries the same ``index``.
    """

    schema: str | None = None
    table: str = ""
    part: Partition = WholeSource(0)


@dataclass(frozen=True)
class Window(Partition):
    """``part`` of an incremental run: only rows whose check column passes ``where`` (the run's window,
    after the last value a committed run read and up to ``upper``, the largest value when it started)."""

    where: str = ""
    upper: str | None = None
    part: Partition = WholeSource(0)


@dataclass(frozen=True)
class NoRows(Partition):
    """A partition that reads nothing (a ``boundaryQuery`` found no keys and NULL keys are not wanted)."""


def sample_size(ranges: int) -> int:
    """How many keys to sample for ``ranges`` ranges: about 200 per range, within [1000, 10000]."""
    return min(10_000, max(1_000, 200 * ranges))


def key_kind(lo: Any, hi: Any, numeric: bool = False) -> str:
    """How to cut a key whose extremes the database returned as ``lo`` and ``hi``.

    ``numeric``: the column is declared numeric/decimal (drivers may hand those back as text).
    One of ``COMPARABLE`` (cut arithmetically), or ``"ordered"`` (cut at sample quantiles).
    """
    if type(lo) is int and type(hi) is int:
        return "int"
    if numeric or isinstance(lo, Decimal) or isinstance(hi, Decimal):
        try:
            if Decimal(str(lo)).is_finite() and Decimal(str(hi)).is_finite():
                return "decimal"
        except (InvalidOperation, ValueError):
            pass
        return "ordered"
    if all(type(v) in (int, float) for v in (lo, hi)):
        return "float" if math.isfinite(lo) and math.isfinite(hi) else "ordered"
    if isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime):
        return "datetime" if (lo.tzinfo is None) == (hi.tzinfo is None) else "ordered"
    if type(lo) is dt.date and type(hi) is dt.date:
        return "date"
    return "ordered"


def _parse(kind: str, value: Any) -> Any:
    """``value`` as a Python value that compares the way the database does; ValueError if it cannot."""
    if kind == "decimal":
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(value) from None
        if not d.is_finite():
            raise ValueError(value)
        return d
    if kind in ("int", "float"):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise ValueError(value)
        return value
    if kind == "datetime" and isinstance(value, dt.datetime):
        return value
    if kind == "date" and type(value) is dt.date:
        return value
    raise ValueError(value)


def _render(kind: str, value: Any, raw: Any) -> Any:
    """A cut as the value to bind in SQL: decimals go back as text when the driver gave text."""
    return str(value) if kind == "decimal" and not isinstance(raw, Decimal) else value


def even_cuts(kind: str, lo: Any, hi: Any, n: int) -> list:
    """Up to ``n - 1`` increasing cuts strictly inside ``(lo, hi]`` splitting it into equal widths."""
    if n <= 1 or not lo < hi:
        return []
    if kind == "int":
        n = min(n, hi - lo + 1)
        raw = [lo + ((hi - lo + 1) * i) // n for i in range(1, n)]
    elif kind == "float":
        raw = [lo + (hi - lo) * i / n for i in range(1, n)]
        if not all(math.isfinite(c) for c in raw):  # hi - lo overflowed
            raw = [lo * (1 - i / n) + hi * (i / n) for i in range(1, n)]
    elif kind == "decimal":
        with localcontext() as ctx:
            ctx.prec = max(40, len(lo.as_tuple().digits) + 10, len(hi.as_tuple().digits) + 10)
            raw = [lo + (hi - lo) * i / n for i in range(1, n)]
    elif kind == "date":
        days = (hi - lo).days
        raw = [lo + dt.timedelta(days=days * i // n) for i in range(1, n)]
    elif kind == "datetime":
        raw = [lo + (hi - lo) * i // n for i in range(1, n)]
    else:
        raise ValueError(f"cannot cut {kind} keys arithmetically")
    return _increasing(raw, lo, hi)


def _increasing(cuts: Sequence, lo: Any, hi: Any) -> list:
    out: list = []
    for c in cuts:
        if lo < c <= hi and (not out or c > out[-1]):
            out.append(c)
    return out


def quantile_cuts(ordered: Sequence, n: int) -> list:
    """``n - 1`` cuts at the quantiles of ``ordered`` (sorted), equal neighbours merged.

    Compares values only for equality, so it is safe for values only the database can order.
    """
    if n <= 1 or not ordered:
        return []
    out: list = []
    for i in range(1, n):
        c = ordered[(len(ordered) * i) // n]
        if not out or c != out[-1]:
            out.append(c)
    if out and out[0] == ordered[0]:
        out.pop(0)  # a range below the smallest sampled key would hold almost nothing
    return out


def range_counts(cuts: Sequence, sample: Sequence) -> list[int]:
    """How many of ``sample`` fall in each of the ``len(cuts) + 1`` ranges the cuts make."""
    counts = [0] * (len(cuts) + 1)
    for v in sample:
        counts[bisect.bisect_right(cuts, v)] += 1
    return counts


def skewed(cuts: Sequence, sample: Sequence, factor: float = SKEW_FACTOR) -> bool:
    """True when the sample puts more than ``factor`` times its share in one range."""
    ranges = len(cuts) + 1
    if ranges <= 1 or len(sample) < MIN_SAMPLE_PER_RANGE * ranges:
        return False
    return max(range_counts(cuts, sample)) > factor * len(sample) / ranges


def plan_cuts(lo: Any, hi: Any, sample: Sequence, n: int, numeric: bool = False) -> tuple[list, str]:
    """Cuts splitting the keys between ``lo`` and ``hi`` into up to ``n`` ranges, and how they were made.

    ``sample``: sampled non-NULL keys, sorted by the database. The method is ``"even"``
    (equal widths), ``"quantiles"`` (equal widths were skewed, or the key cannot be cut
    arithmetically) or ``"none"`` (one range).
    """
    if n <= 1:
        return [], "none"
    kind = key_kind(lo, hi, numeric)
    if kind == "ordered":
        cuts = quantile_cuts(sample, n)
        return cuts, "quantiles" if cuts else "none"
    plo, phi = _parse(kind, lo), _parse(kind, hi)
    parsed = []
    for v in sample:
        try:
            parsed.append(_parse(kind, v))
        except (ValueError, TypeError):
            continue  # a value of another type (SQLite stores anything anywhere): ignore it
    parsed.sort()
    cuts = even_cuts(kind, plo, phi, n)
    method = "even" if cuts else "none"
    if skewed(cuts, parsed):
        cuts, method = _increasing(quantile_cuts(parsed, n), plo, phi), "quantiles"
    return [_render(kind, c, lo) for c in cuts], method


def key_ranges(column: str, cuts: Sequence, lo: Any = None, hi: Any = None, nulls: bool = False,
               start: int = 0) -> list[Partition]:
    """Ranges ``[lo, c1), [c1, c2), ..., [ck, hi]`` on ``column``, then ``IS NULL`` when ``nulls``.

    ``lo``/``hi`` None leave that end open, so keys beyond the extremes seen at planning time
    (rows inserted since) are still read. Indexes run from ``start``.
    """
    edges = [lo, *cuts, hi]
    parts: list[Partition] = [
        KeyRange(start + i, column, edges[i], edges[i + 1], last=i == len(edges) - 2) for i in range(len(edges) - 1)
    ]
    if nulls:
        parts.append(KeyRange(start + len(parts), column, nulls=True))
    return parts


def allocate(weights: Sequence[int], n: int) -> list[int]:
    """Split ``n`` partitions among tables in proportion to ``weights`` (row counts); each gets at least 1."""
    if not weights:
        return []
    total = sum(max(0, w) for w in weights)
    if total == 0:
        return [1] * len(weights)
    shares = [max(0, w) * n / total for w in weights]
    out = [max(1, int(s)) for s in shares]
    spare = n - sum(out)
    for i in sorted(range(len(weights)), key=lambda i: int(shares[i]) - shares[i])[:max(0, spare)]:
        out[i] += 1
    return out


def split_range(lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    """Split the inclusive integer range [lo, hi] into at most ``n`` contiguous, non-empty pieces.

    Each piece is ``(start, stop)`` meaning ``start <= key < stop``, except the last, which is
    ``start <= key <= stop``. Pieces differ in width by at most one.
    """
    if hi < lo:
        raise ValueError(f"empty range [{lo}, {hi}]")
    n = max(1, min(n, hi - lo + 1))
    width = hi - lo + 1
    bounds = [lo + (width * i) // n for i in range(n)] + [hi]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]

