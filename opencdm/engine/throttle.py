"""Rate limits for a run (CDM has none; opencdm reads ``throttlingConfig.recordRate`` / ``byteRate``).

The job-wide limit is split evenly among the partitions that run at once, and each partition
enforces its share with a token bucket, so the run as a whole never exceeds the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from opencdm.errors import InvalidInput

RECORD_RATE = "throttlingConfig.recordRate"  # rows per second for the whole job
BYTE_RATE = "throttlingConfig.byteRate"  # bytes per second for the whole job (Arrow in-memory size)


def job_limits(driver: Mapping[str, Any]) -> tuple[float, float]:
    """``(rows/s, bytes/s)`` from the driver inputs; 0 means unlimited."""
    out = []
    for name in (RECORD_RATE, BYTE_RATE):
        raw = driver.get(name)
        if raw in (None, "", 0, "0"):
            out.append(0.0)
            continue
        try:
            value = float(str(raw))
        except ValueError:
            raise InvalidInput(f"{name} must be a number, got {raw!r}.", code="Cdm.0004") from None
        if value < 0:
            raise InvalidInput(f"{name} must not be negative.", code="Cdm.0011")
        out.append(value)
    return out[0], out[1]


class TokenBucket:
    """At most ``rate`` units per second on average, with bursts of up to one second's worth.

    It starts empty: every partition gets a fresh bucket, and full ones would let each new
    partition burst past the job's limit.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.tokens = 0.0
        self.stamp = clock()

    def delay(self, amount: float) -> float:
        """Take ``amount`` units; the seconds to wait before going on (0 when within the rate)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        return max(0.0, -self.tokens / self.rate)


class Throttle:
    """Both buckets of one partition; ``wait`` sleeps in short steps so a stop is still noticed."""

    def __init__(self, rows_per_s: float, bytes_per_s: float) -> None:
        self.rows = TokenBucket(rows_per_s)
        self.bytes = TokenBucket(bytes_per_s)

    def wait(self, rows: int, nbytes: int, cancelled: Callable[[], bool]) -> None:
        pause = max(self.rows.delay(rows), self.bytes.delay(nbytes))
        deadline = time.monotonic() + pause
        while not cancelled() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
