"""Following a run until it ends: a live bar on a terminal, plain lines otherwise.

The bar shows the job's progress, rows read, rows/s (over the last few seconds) and the ETA (from
the progress so far); without a terminal one line is printed when the status changes and at most
every ``every`` seconds while it runs, so a CI log stays short.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from opencdm.store.status import FINAL

SQOOP = "org.apache.sqoop.submission.counter.SqoopCounters"


def rows_of(sub: dict[str, Any]) -> int:
    return int(((sub.get("counters") or {}).get(SQOOP) or {}).get("ROWS_READ") or 0)


class Rate:
    """Rows/s over a sliding window of samples, and the ETA from the progress so far."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()
        self.started: float | None = None

    def add(self, now: float, rows: int) -> None:
        if self.started is None:
            self.started = now
        self.samples.append((now, rows))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    def per_second(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, r0), (t1, r1) = self.samples[0], self.samples[-1]
        return (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self, now: float, progress: float) -> float | None:
        if self.started is None or not 0 < progress < 100:
            return None
        return (now - self.started) * (100 - progress) / progress


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60:02d}:{seconds % 60:02d}"


def line(name: str, sub: dict[str, Any], rate: Rate, now: float) -> str:
    progress = float(sub.get("progress") or 0)
    return (f"{name} {sub.get('status')} {progress:.0f}% rows={rows_of(sub):,} "
            f"rows/s={rate.per_second():,.0f} eta={clock(rate.eta(now, progress))}")


def follow(name: str, poll: Callable[[], dict[str, Any]], *, interval: float = 0.5, every: float = 5.0,
           timeout: float | None = None, tty: bool | None = None, out=None) -> dict[str, Any] | None:
    """Poll until the run's status is final; return its last submission (None on timeout)."""
    out = out or sys.stderr
    tty = out.isatty() if tty is None else tty
    rate, deadline = Rate(), None if timeout is None else time.monotonic() + timeout
    if tty:
        return _bar(name, poll, rate, interval, deadline, out)
    last_status, last_print = None, 0.0
    while True:
        sub, now = poll(), time.monotonic()
        rate.add(now, rows_of(sub))
        if sub.get("status") != last_status or now - last_print >= every or sub.get("status") in FINAL:
            print(line(name, sub, rate, now), file=out, flush=True)
            last_status, last_print = sub.get("status"), now
        if sub.get("status") in FINAL:
            return sub
        if deadline is not None and now >= deadline:
            return None
        time.sleep(interval)


def _bar(name, poll, rate: Rate, interval: float, deadline: float | None, out) -> dict[str, Any] | None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rows]} rows"), TextColumn("{task.fields[rate]} rows/s"),
               TextColumn("ETA {task.fields[eta]}"))
    with Progress(*columns, console=Console(file=out), transient=False) as bar:
        task = bar.add_task(name, total=100, rows="0", rate="0", eta="--:--")
        while True:
            sub, now = poll(), time.monotonic()
            rate.add(now, rows_of(sub))
            progress = float(sub.get("progress") or 0)
            bar.update(task, completed=progress, description=f"{name} {sub.get('status')}",
                       rows=f"{rows_of(sub):,}", rate=f"{rate.per_second():,.0f}", eta=clock(rate.eta(now, progress)))
            if sub.get("status") in FINAL or (deadline is not None and now >= deadline):
                return sub if sub.get("status") in FINAL else None
            time.sleep(interval)
