"""CDM's job schedule (``schedulerConfig.*``, spec §13 and §14.2) as a calendar: when a job runs.

Pure: no I/O and no clock. Callers pass every time in, as aware datetimes in any zone; planned
times come back as aware datetimes in the schedule's zone (the ``tzinfo`` given to
:meth:`Schedule.parse`). Everything not given by the cycle comes from ``startDate``: the time of
day, the seconds, and the default ``runAt``.

How each ``cycleType`` plans runs (nothing is ever planned before ``startDate``, and a planned
time equal to ``stopDate`` still runs, as in Quartz):

- ``minute``: ``start``, ``start + cycle`` minutes, ... (shorter than the recommended 5 is allowed).
- ``hour``: in every ``cycle``-th hour counted from ``start``'s hour, at the minutes in ``runAt``
  (default: ``start``'s minute) and ``start``'s second.
- ``day``: every ``cycle``-th day counted from ``start``'s date, at ``start``'s time of day. So a
  daily job whose start time has already passed today runs first at that time tomorrow.
- ``week``: in every ``cycle``-th week (Monday to Sunday) counted from the week holding ``start``,
  on the ``runAt`` weekdays (``mon`` ... ``sun``; default: ``start``'s weekday), at ``start``'s time.
- ``month``: in every ``cycle``-th month counted from ``start``'s month, on the ``runAt`` days
  (1-31; default: ``start``'s day), at ``start``'s time. A day the month lacks (31 in April,
  30 in February) is skipped, as Quartz does, not moved to the month's last day. A schedule whose
  days never occur (``runAt`` 31 every 12 months from February) is refused.

``runAt`` is ignored for ``minute`` and ``day``, which do not use it.

Time zones: ``minute`` and ``hour`` count elapsed time, so runs are always exactly ``cycle``
minutes or hours apart, also across a DST change (an hourly job runs in both copies of a
repeated hour; with ``cycle`` > 1 the wall-clock hours shift by the change, the minutes past the
hour stay). ``day``, ``week`` and ``month`` follow the wall clock in the zone: a time of day that
does not exist that day (02:30 when clocks jump from 02:00 to 03:00) runs that much later (03:30),
and one that occurs twice runs once, at its first occurrence.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from opencdm.errors import InvalidInput

CYCLE_TYPES = ("minute", "hour", "day", "week", "month")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CYCLE = 2_147_483_647  # CDM's integer range (Cdm.0009)

_PREFIX = "schedulerConfig."
_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UTC = timezone.utc
_GREGORIAN_MONTHS = 4800  # the Gregorian calendar repeats every 400 years


def _invalid(name: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(f"Invalid value {str(value)[:100]!r} for {_PREFIX}{name}: expected {expected}.",
                        code="Cdm.0014")


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, not {t!r}")
    return t.astimezone(_UTC)


@dataclass(frozen=True)
class Schedule:
    """A parsed ``schedulerConfig``. Plain data: it pickles, compares and hashes by value."""

    cycle_type: str
    cycle: int
    run_at: tuple[Any, ...]  # hour: minutes (int); week: "mon".."sun"; month: days (int); else ()
    start: datetime  # aware; its wall-clock fields are startDate as given
    stop: datetime | None = None

    @classmethod
    def parse(cls, driver: Mapping[str, Any], tz: tzinfo) -> Schedule | None:
        """The schedule in flat driver inputs (``{"schedulerConfig.cycle": "10", ...}``), dates read
        in ``tz``; None unless ``schedulerConfig.isSchedulerJob`` is true. Values may be strings or
        JSON scalars; an empty string counts as not given. Raises ``InvalidInput`` (Cdm.0014)
        naming the input."""

        def raw(name: str) -> Any:
            value = driver.get(_PREFIX + name)
            return None if value is None or (isinstance(value, str) and not value.strip()) else value

        enabled = raw("isSchedulerJob")
        if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false"):
            enabled = enabled.strip().lower() == "true"
        if enabled is None or enabled is False:
            return None
        if enabled is not True:
            raise _invalid("isSchedulerJob", enabled, "true or false")
        for name in ("cycleType", "cycle", "startDate"):
            if raw(name) is None:
                raise InvalidInput(f"{_PREFIX}{name} is required for a scheduled job.", code="Cdm.0014")

        cycle_type = raw("cycleType")
        if not isinstance(cycle_type, str) or cycle_type.strip().lower() not in CYCLE_TYPES:
            raise _invalid("cycleType", cycle_type, "one of " + ", ".join(CYCLE_TYPES))
        cycle = raw("cycle")
        if isinstance(cycle, str) and re.fullmatch(r"\s*\+?\d+\s*", cycle):
            cycle = int(cycle)
        elif isinstance(cycle, float) and cycle.is_integer():
            cycle = int(cycle)
        run_at = raw("runAt")
        if isinstance(run_at, str):
            run_at = [item.strip() for item in run_at.split(",") if item.strip()]
        elif run_at is None:
            run_at = []
        elif not isinstance(run_at, (list, tuple)):
            run_at = [run_at]
        start = _parse_date("startDate", raw("startDate"), tz)
        stop = raw("stopDate")
        return cls(cycle_type.strip().lower(), cycle, tuple(run_at), start,
                   None if stop is None else _parse_date("stopDate", stop, tz))

    def __post_init__(self) -> None:
        if self.cycle_type not in CYCLE_TYPES:
            raise _invalid("cycleType", self.cycle_type, "one of " + ", ".join(CYCLE_TYPES))
        if isinstance(self.cycle, bool) or not isinstance(self.cycle, int) or not 1 <= self.cycle <= MAX_CYCLE:
            raise _invalid("cycle", self.cycle, f"an integer from 1 to {MAX_CYCLE}")
        start = _utc(self.start)
        if self.stop is not None and _utc(self.stop) < start:
            raise _invalid("stopDate", f"{self.stop:%Y-%m-%d %H:%M:%S}", "a time not before startDate")
        object.__setattr__(self, "run_at", self._check_run_at())
        if self._next(start - timedelta(microseconds=1)) is None:
            if self.cycle_type == "month":
                raise _invalid("runAt", _text(self.run_at), f"days that occur in the months this schedule "
                               f"runs (every {self.cycle} months from {self.start:%Y-%m})")
            raise _invalid("startDate", f"{self.start:%Y-%m-%d %H:%M:%S}", "a date with a run before year 10000")

    def _check_run_at(self) -> tuple[Any, ...]:
        kind = self.cycle_type
        if kind in ("minute", "day"):
            return ()
        if not self.run_at:
            s = self.start
            return ((s.minute,), (WEEKDAYS[s.weekday()],), (s.day,))[("hour", "week", "month").index(kind)]
        values: list[Any] = []
        for item in self.run_at:
            if kind == "week":
                text = item.strip().lower() if isinstance(item, str) else None
                if text in _FULL_DAYS:
                    text = text[:3]
                if text not in WEEKDAYS:
                    raise _invalid("runAt", item, "weekdays mon, tue, wed, thu, fri, sat, sun")
                value: Any = text
            else:
                low, high = (0, 59) if kind == "hour" else (1, 31)
                if isinstance(item, str) and item.strip().isdigit():
                    value = int(item)
                elif isinstance(item, int) and not isinstance(item, bool):
                    value = item
                else:
                    value = None
                if value is None or not low <= value <= high:
                    unit = "minutes" if kind == "hour" else "days of the month"
                    raise _invalid("runAt", item, f"{unit} from {low} to {high}")
            if value in values:
                raise _invalid("runAt", item, "each value once")
            values.append(value)
        return tuple(sorted(values, key=WEEKDAYS.index if kind == "week" else None))

    # -- the calendar ---------------------------------------------------------------------------

    def next_after(self, t: datetime) -> datetime | None:
        """The first planned time strictly after ``t``; None when there is none by ``stop``."""
        found = self._next(_utc(t))
        if found is None or (self.stop is not None and found > _utc(self.stop)):
            return None
        return found.astimezone(self.start.tzinfo)

    def latest_at_or_before(self, t: datetime) -> datetime | None:
        """The last planned time at or before ``t`` (and ``stop``); None when there is none."""
        end = _utc(t) if self.stop is None else min(_utc(t), _utc(self.stop))
        if end < _utc(self.start):
            return None
        block = self._block_of(end) + 1
        for _ in range(_GREGORIAN_MONTHS + 3):
            if block < 0:
                return None
            for planned in reversed(self._block(block) or ()):
                if planned <= end:
                    return planned.astimezone(self.start.tzinfo)
            block -= 1
        return None

    def due(self, last_planned: datetime | None, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The catch-up policy: ``(run_now, next_planned)``.

        ``last_planned`` is the planned time of the last run started, or, before the first run,
        the moment the schedule was enabled; nothing at or before it is ever returned, so no
        planned time runs twice. ``None`` catches nothing up: the job just waits for its next time.

        ``run_now`` is the latest planned time in ``(last_planned, now]``, or None. When the server
        was down across several planned times, only that latest one runs, once, as soon as the
        server is back, however late; the others are skipped, not run in a burst. That includes a
        run planned before ``stop`` when the server comes back after it. ``next_planned`` is the
        first planned time after both ``now`` and ``last_planned`` (None past ``stop``): sleep
        until then, call again, and store ``run_now`` as the new ``last_planned`` when starting it.
        """
        if last_planned is None:
            return None, self.next_after(now)
        latest = self.latest_at_or_before(now)
        after = max(_utc(now), _utc(last_planned))
        run_now = latest if latest is not None and _utc(latest) > _utc(last_planned) else None
        return run_now, self.next_after(after)

    def describe(self) -> str:
        """A short text for logs, e.g. ``every 2 weeks on mon, wed, fri at 09:00:00, from ...``."""
        unit = self.cycle_type if self.cycle == 1 else f"{self.cycle} {self.cycle_type}s"
        at = f"{self.start:%H:%M:%S}"
        detail = {
            "minute": "",
            "hour": f" at minute{'s' * (len(self.run_at) > 1)} {_text(self.run_at)}",
            "day": f" at {at}",
            "week": f" on {_text(self.run_at)} at {at}",
            "month": f" on day{'s' * (len(self.run_at) > 1)} {_text(self.run_at)} at {at}",
        }[self.cycle_type]
        until = "forever" if self.stop is None else f"until {self.stop:%Y-%m-%d %H:%M:%S}"
        return f"every {unit}{detail}, from {self.start:%Y-%m-%d %H:%M:%S} {until} ({self.start.tzinfo})"

    def _next(self, t: datetime) -> datetime | None:
        """The first planned time (UTC) after ``t`` (UTC), ignoring ``stop``."""
        block = max(0, self._block_of(t) - 1)
        # Month cycles may hold no existing day for a while; all other cycles end within 3 blocks.
        for _ in range(_GREGORIAN_MONTHS + 3):
            planned = self._block(block)
            if planned is None:
                return None  # past year 9999
            for time in planned:
                if time > t:
                    return time
            block += 1
        return None

    def _block_of(self, t: datetime) -> int:
        """The index of the cycle holding ``t`` (UTC), counted from the one holding ``start``."""
        s = self.start
        if self.cycle_type in ("minute", "hour"):
            return (t - self._anchor()) // timedelta(**{self.cycle_type + "s": self.cycle})
        local = t.astimezone(s.tzinfo).date()
        if self.cycle_type == "day":
            return (local - s.date()).days // self.cycle
        if self.cycle_type == "week":
            return (local.toordinal() - local.weekday() - s.toordinal() + s.weekday()) // 7 // self.cycle
        return (local.year * 12 + local.month - s.year * 12 - s.month) // self.cycle

    def _anchor(self) -> datetime:
        s = self.start
        return _utc(s if self.cycle_type == "minute" else s.replace(minute=0, second=0, microsecond=0))

    def _block(self, index: int) -> list[datetime] | None:
        """Planned times (UTC, ascending, none before start) of cycle ``index``; None past year 9999."""
        s = self.start
        every = index * self.cycle
        try:
            if self.cycle_type == "minute":
                times = [self._anchor() + timedelta(minutes=every)]
            elif self.cycle_type == "hour":
                base = self._anchor() + timedelta(hours=every, seconds=s.second, microseconds=s.microsecond)
                times = [base + timedelta(minutes=minute) for minute in self.run_at]
            elif self.cycle_type == "day":
                times = [self._wall(s.date() + timedelta(days=every))]
            elif self.cycle_type == "week":
                monday = s.date() - timedelta(days=s.weekday()) + timedelta(weeks=every)
                times = [self._wall(monday + timedelta(days=WEEKDAYS.index(day))) for day in self.run_at]
            else:
                year, month = divmod(s.year * 12 + s.month - 1 + every, 12)
                last = calendar.monthrange(year, month + 1)[1]
                times = [self._wall(date(year, month + 1, day)) for day in self.run_at if day <= last]
        except (OverflowError, ValueError):
            return None
        start = _utc(s)
        return [time for time in times if time >= start]

    def _wall(self, day: date) -> datetime:
        """``start``'s time of day on ``day`` in the zone, as UTC: a time in a gap moves forward by
        the gap, a repeated time is its first occurrence (fold 0)."""
        wall = datetime.combine(day, self.start.time().replace(fold=0), tzinfo=self.start.tzinfo)
        return wall.astimezone(_UTC)


def _parse_date(name: str, value: Any, tz: tzinfo) -> datetime:
    expected = "a date yyyy-MM-dd HH:mm:ss"
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise _invalid(name, value, expected)
    try:
        parsed = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
        parsed.astimezone(_UTC)
    except (ValueError, OverflowError):
        raise _invalid(name, value, expected) from None
    return parsed


def _text(values: tuple[Any, ...]) -> str:
    return ", ".join(str(value) for value in values)
