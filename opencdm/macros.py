"""CDM's ``${...}`` date/time macros and job variables (spec §14.1), as pure functions.

API::

    expand(text, now, variables=None, *, tz, field="", month_units=True) -> str  # at run start
    check(text, variables=None, *, field="", month_units=True) -> None  # at create / start: 400
    names(text, *, field="") -> set[str]                        # the job variables text uses

What may stand inside ``${...}``:

- ``dateformat(fmt)`` and ``dateformat(fmt, offset, unit)``: ``now`` shifted by ``offset`` units
  and written with the Java ``SimpleDateFormat`` pattern ``fmt`` in the time zone ``tz``.
- ``timestamp()``, ``timestamp(offset, unit)``: epoch milliseconds of ``now`` (shifted).
- ``timestamp(dateformat(...))``: the formatted text read back in ``tz`` to epoch milliseconds, so
  fields the pattern leaves out take Java's parse defaults (1970, January, day 1, 00:00:00.000):
  ``timestamp(dateformat(yyyyMMdd))`` is local midnight. The week fields ``Y w W F`` cannot be read
  back and are refused there; two-digit ``yy`` keeps its century.
- ``name``: the job variable ``name`` (letters, digits, ``_ . -``), inserted as is (not expanded again).

Spaces just inside ``${`` and ``}`` are ignored. DST gaps and overlaps resolve as Java resolves them.

``unit`` is ``SECOND MINUTE HOUR DAY MONTH YEAR`` in any case; ``offset`` an integer that fits in a
Java int. SECOND to HOUR move the instant; DAY to YEAR move the wall-clock date in ``tz`` (as Java's
``Calendar.add``), and a MONTH or YEAR that lands past a month's end clamps to its last day.
Arguments are split at commas outside quotes and trimmed, so ``-1,DAY`` and ``-1, DAY`` both work;
a comma or ``}`` meant for the pattern is quoted: ``EEE',' d MMM``.

Pattern letters (Java ``SimpleDateFormat``, English names, weeks as in ``Locale.US``: they start on
Sunday and week 1 holds 1 January): ``G y Y M L w W D d F E u a H k K h m s S z Z X``. Numbers are
zero-padded to the letter count (``SSS`` is milliseconds), except ``yy``/``YY``, the last two digits.
``MMM``/``MMMM`` and ``E``-``EEE``/``EEEE`` are short/full names; ``a`` is ``AM``/``PM``; ``Z`` is
``+0800``; ``X``/``XX``/``XXX`` are ``+08``/``+0800``/``+08:00`` (``Z`` at UTC); ``z`` is the tz
database's abbreviation (``CST``, ``EDT``; Java names a few zones differently), else ``GMT+08:00``;
``zzzz`` (Java's full zone names) is refused.
Text in single quotes is literal, ``''`` is one quote, and every character that is not an ASCII
letter is literal. Other letters are refused.

A ``$`` not followed by ``{`` is literal. Every problem raises :class:`InvalidInput` (``Cdm.0014``)
naming ``field`` and the macro. :func:`check` parses exactly as :func:`expand` does, without a clock:
with ``variables=None`` (job create, values not known yet) any well-formed name passes; with a mapping
(job start) each name must be in it. ``month_units=False`` refuses MONTH and YEAR, which the spec
forbids in the time-filter start and end.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from opencdm.errors import InvalidInput

__all__ = ["check", "expand", "names"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LETTERS = frozenset("GyYMLwWDdFEuaHkKhmsSzZX")
_UNREADABLE = frozenset("YwWF")  # week fields timestamp(dateformat(...)) cannot read back
_UNITS = ("SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")
_OFFSET = re.compile(r"[+-]?[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class _Macro:
    source: str                       # "${...}" as written, for messages
    kind: str                         # "var", "dateformat", "timestamp"
    name: str = ""                    # variable name
    pattern: tuple = ()               # compiled tokens; empty for a plain timestamp
    offset: int = 0
    unit: str = "SECOND"


def expand(text: str, now: datetime, variables: Mapping[str, str] | None = None, *, tz: tzinfo,
           field: str = "", month_units: bool = True) -> str:
    """``text`` with every ``${...}`` replaced, for a run whose reference time is ``now`` (aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    out = []
    for part in _parse(text, field, month_units):
        if isinstance(part, str):
            out.append(part)
        elif part.kind == "var":
            out.append(_lookup(part, variables or {}, field))
        else:
            out.append(_evaluate(part, now, tz, field))
    return "".join(out)


def check(text: str, variables: Mapping[str, str] | None = None, *, field: str = "",
          month_units: bool = True) -> None:
    """Raise :class:`InvalidInput` for whatever :func:`expand` would refuse, without a clock.

    With ``variables=None`` variable names are not resolved (they are given only at start)."""
    for part in _parse(text, field, month_units):
        if variables is not None and isinstance(part, _Macro) and part.kind == "var":
            _lookup(part, variables, field)


def names(text: str, *, field: str = "") -> set[str]:
    """The job-variable names ``text`` uses (macros excluded); malformed text raises as in check."""
    return {p.name for p in _parse(text, field) if isinstance(p, _Macro) and p.kind == "var"}


# -- parsing ---------------------------------------------------------------------------------------

def _fail(source: str, field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid macro {source}{' in ' + field if field else ''}: {reason}", code="Cdm.0014")


def _unknown(source: str, field: str) -> InvalidInput:
    return InvalidInput(f"Unknown variable or macro {source}{' in ' + field if field else ''}.", code="Cdm.0014")


def _parse(text: str, field: str, month_units: bool = True) -> list:
    """Split ``text`` into literal strings and :class:`_Macro` items."""
    parts: list = []
    pos = 0
    while (start := text.find("${", pos)) >= 0:
        if start > pos:
            parts.append(text[pos:start])
        end, quoted = start + 2, False
        while end < len(text) and (quoted or text[end] != "}"):
            quoted ^= text[end] == "'"
            end += 1
        if end >= len(text):
            reason = "unterminated quote" if quoted else "missing closing }"
            raise _fail(text[start:start + 40], field, reason)
        macro = _parse_macro(text[start:end + 1], text[start + 2:end].strip(), field)
        if not month_units and macro.unit in ("MONTH", "YEAR"):
            raise _fail(macro.source, field, f"unit {macro.unit} is not allowed here")
        parts.append(macro)
        pos = end + 1
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def _parse_macro(source: str, body: str, field: str) -> _Macro:
    if _NAME.fullmatch(body):
        return _Macro(source, "var", name=body)
    call = _split_call(body, source, field)
    if call is None or call[0] not in ("dateformat", "timestamp"):
        raise _unknown(source, field)
    name, args = call
    if name == "dateformat":
        return _dateformat(args, source, field)
    if args == [""]:
        return _Macro(source, "timestamp")
    if len(args) == 2:
        offset, unit = _offset_unit(args, source, field)
        return _Macro(source, "timestamp", offset=offset, unit=unit)
    inner = _split_call(args[0], source, field) if len(args) == 1 else None
    if inner is None or inner[0] != "dateformat":
        raise _fail(source, field, "timestamp takes (), (offset, unit) or (dateformat(...))")
    macro = _dateformat(inner[1], source, field)
    unreadable = sorted({t[0] for t in macro.pattern if isinstance(t, tuple)} & _UNREADABLE)
    if unreadable:
        raise _fail(source, field, f"week fields {', '.join(unreadable)} cannot be read back by timestamp()")
    return _Macro(source, "timestamp", pattern=macro.pattern, offset=macro.offset, unit=macro.unit)


def _split_call(body: str, source: str, field: str) -> tuple[str, list[str]] | None:
    """``name(a, b(c, d), 'e,f')`` -> ``("name", ["a", "b(c, d)", "'e,f'"])``; None if not a call."""
    match = _CALL.match(body)
    if match is None:
        return None
    args, depth, quoted, begin = [], 1, False, match.end()
    for i in range(match.end(), len(body)):
        char = body[i]
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                if body[i + 1:].strip():
                    raise _fail(source, field, f"unexpected text after ')': {body[i + 1:].strip()!r}")
                return match.group(1), [*args, body[begin:i].strip()]
        elif char == "," and depth == 1:
            args.append(body[begin:i].strip())
            begin = i + 1
    raise _fail(source, field, "unterminated quote" if quoted else "unbalanced parentheses")


def _dateformat(args: list[str], source: str, field: str) -> _Macro:
    if len(args) not in (1, 3):
        raise _fail(source, field, f"dateformat takes (pattern) or (pattern, offset, unit), got {len(args)} "
                                   "arguments (quote a comma that belongs to the pattern: ',')")
    if not args[0]:
        raise _fail(source, field, "dateformat needs a pattern")
    offset, unit = _offset_unit(args[1:], source, field) if len(args) == 3 else (0, "SECOND")
    return _Macro(source, "dateformat", pattern=_compile(args[0], source, field), offset=offset, unit=unit)


def _offset_unit(args: list[str], source: str, field: str) -> tuple[int, str]:
    offset, unit = args
    if not _OFFSET.fullmatch(offset):
        raise _fail(source, field, f"offset {offset!r} is not an integer")
    if not -2**31 <= int(offset) < 2**31:
        raise _fail(source, field, f"offset {offset} is out of range")
    if unit.upper() not in _UNITS:
        raise _fail(source, field, f"unit {unit!r} is not one of {', '.join(_UNITS)}")
    return int(offset), unit.upper()


def _compile(fmt: str, source: str, field: str) -> tuple:
    """A SimpleDateFormat pattern as literal strings and (letter, count) pairs."""
    tokens: list = []
    literal: list[str] = []
    bad: set[str] = set()
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "'":
            if fmt.startswith("''", i):
                literal.append("'")
                i += 2
                continue
            j = i + 1
            while True:
                k = fmt.find("'", j)
                if k < 0:
                    raise _fail(source, field, f"unterminated quote in date pattern {fmt!r}")
                literal.append(fmt[j:k])
                if not fmt.startswith("''", k):
                    break
                literal.append("'")
                j = k + 2
            i = k + 1
        elif char.isascii() and char.isalpha():
            j = i
            while j < len(fmt) and fmt[j] == char:
                j += 1
            if char not in _LETTERS or (char in "Xz" and j - i > 3):  # no XXXX in Java; no long zone names
                bad.add(char * (j - i) if char in "Xz" else char)
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append((char, j - i))
            i = j
        else:
            literal.append(char)
            i += 1
    if bad:
        raise _fail(source, field, f"unsupported letter(s) {', '.join(sorted(bad))} in date pattern {fmt!r}"
                                   " (quote literal text: 'T')")
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens)


# -- evaluation ------------------------------------------------------------------------------------

def _lookup(macro: _Macro, variables: Mapping[str, str], field: str) -> str:
    if macro.name not in variables:
        raise _unknown(macro.source, field)
    return str(variables[macro.name])


def _evaluate(macro: _Macro, now: datetime, tz: tzinfo, field: str) -> str:
    try:
        when = _shifted(now, tz, macro.offset, macro.unit)
        if macro.kind == "dateformat":
            return "".join(t if isinstance(t, str) else _format(when, *t) for t in macro.pattern)
        if macro.pattern:
            when = _read_back(when, macro.pattern, tz)
        return str((when - _EPOCH) // timedelta(milliseconds=1))
    except (OverflowError, ValueError) as exc:
        raise _fail(macro.source, field, f"date out of range ({exc})") from exc


def _shifted(now: datetime, tz: tzinfo, offset: int, unit: str) -> datetime:
    """``now`` in ``tz``, moved as Java's ``GregorianCalendar.add`` moves it (DST included)."""
    if unit in ("SECOND", "MINUTE", "HOUR"):
        seconds = offset * {"SECOND": 1, "MINUTE": 60, "HOUR": 3600}[unit]
        return (now.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(tz)
    local = now.astimezone(tz)
    wall = local.replace(tzinfo=None)
    if unit == "DAY":  # keep the old offset; correct once for a changed one unless that changes the date
        wall += timedelta(days=offset)
        moved = (wall - local.utcoffset()).replace(tzinfo=timezone.utc)
        fixed = (moved + local.utcoffset() - moved.astimezone(tz).utcoffset()).astimezone(tz)
        return fixed if fixed.date() == wall.date() else moved.astimezone(tz)
    months = local.month - 1 + offset * (12 if unit == "YEAR" else 1)
    year, month = local.year + months // 12, months % 12 + 1
    if not 1 <= year <= 9999:
        raise ValueError(f"year {year}")
    return _wall(wall.replace(year=year, month=month, day=min(wall.day, calendar.monthrange(year, month)[1])), tz)


def _wall(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall time in ``tz`` as Java resolves it: in a DST gap or overlap, the smaller offset."""
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    chosen = second if second.utcoffset() < first.utcoffset() else first
    return chosen.astimezone(timezone.utc).astimezone(tz)


def _read_back(when: datetime, pattern: tuple, tz: tzinfo) -> datetime:
    """What Java's ``parse`` returns for ``when`` formatted with ``pattern``: fields the pattern
    lacks take their defaults, a zone field in it gives the offset, else ``tz`` resolves the wall time."""
    counts = {t[0]: t[1] for t in pattern if isinstance(t, tuple)}
    if counts.keys() & {"H", "k"}:
        hour = when.hour
    elif counts.keys() & {"h", "K"}:
        hour = when.hour % 12 + (12 if "a" in counts and when.hour >= 12 else 0)
    else:
        hour = 12 if "a" in counts and when.hour >= 12 else 0
    whole_date = "D" in counts
    wall = datetime(when.year if "y" in counts else 1970,
                    when.month if whole_date or counts.keys() & {"M", "L"} else 1, 1,
                    hour, when.minute if "m" in counts else 0, when.second if "s" in counts else 0,
                    when.microsecond // 1000 * 1000 if "S" in counts else 0)
    wall += timedelta(days=(when.day if whole_date or "d" in counts else 1) - 1)  # lenient: 02-29 of 1970
    if not counts.keys() & {"z", "Z", "X"}:
        return _wall(wall, tz)
    minutes = _minutes(when)
    if counts.get("X") == 1 and not counts.keys() & {"z", "Z"}:  # "+05" reads back as +05:00
        minutes = int(minutes / 60) * 60
    return wall.replace(tzinfo=timezone(timedelta(minutes=minutes)))


def _format(t: datetime, letter: str, count: int) -> str:
    """One SimpleDateFormat field (Locale.US)."""
    if letter == "G":
        return "AD"
    if letter in "ML" and count >= 3:
        return _MONTHS[t.month - 1] if count >= 4 else _MONTHS[t.month - 1][:3]
    if letter == "E":
        return _DAYS[t.weekday()] if count >= 4 else _DAYS[t.weekday()][:3]
    if letter == "a":
        return "AM" if t.hour < 12 else "PM"
    if letter in "zZX":
        return _zone(t, letter, count)
    if letter in "yY":
        year = t.year if letter == "y" else _week(t.date())[0]
        return f"{year % 100:02d}" if count == 2 else f"{year:0{count}d}"
    value = {
        "M": t.month, "L": t.month, "w": _week(t.date())[1],
        "W": (t.day - 1 + (t.replace(day=1).weekday() + 1) % 7) // 7 + 1,
        "D": t.timetuple().tm_yday, "d": t.day, "F": (t.day - 1) // 7 + 1, "u": t.isoweekday(),
        "H": t.hour, "k": t.hour or 24, "K": t.hour % 12, "h": t.hour % 12 or 12,
        "m": t.minute, "s": t.second, "S": t.microsecond // 1000,
    }[letter]
    return f"{value:0{count}d}"


def _week(day: date) -> tuple[int, int]:
    """(week year, week of year) with weeks from Sunday and week 1 holding 1 January (Locale.US)."""
    to_saturday = 6 - (day.weekday() + 1) % 7
    if day.month == 12 and day.day + to_saturday > 31:
        return day.year + 1, 1
    jan1 = date(day.year, 1, 1)
    first_sunday = jan1 - timedelta(days=(jan1.weekday() + 1) % 7)
    return day.year, (day - first_sunday).days // 7 + 1


def _zone(t: datetime, letter: str, count: int) -> str:
    minutes = _minutes(t)
    sign, hh, mm = "-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60
    if letter == "Z":
        return f"{sign}{hh:02d}{mm:02d}"
    if letter == "X":
        if minutes == 0:
            return "Z"
        return f"{sign}{hh:02d}" + ("" if count == 1 else f"{mm:02d}" if count == 2 else f":{mm:02d}")
    name = t.tzname()
    if not name or name[0] in "+-" or name.startswith(("UTC+", "UTC-")):
        return f"GMT{sign}{hh:02d}:{mm:02d}"
    return name


def _minutes(t: datetime) -> int:
    """The UTC offset in whole minutes, truncated toward zero as Java does (LMT has seconds)."""
    return int(t.utcoffset().total_seconds() / 60)
