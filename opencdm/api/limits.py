"""In-memory gates against guessing: bad signatures per AK and address, failed logins per user and
per address, and a cap on password hashes computed at once.

Gates live in one server process; several servers behind a balancer each keep their own (the
limits then apply per server). Memory is bounded: each gate forgets its oldest keys past
``max_keys``, so a flood of made-up user names or addresses cannot grow it without end.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable


class FailureGate:
    """Locks a key after ``limit`` failures, each within ``seconds`` of the one before.

    Without ``backoff`` the lock lasts ``seconds`` and counting starts afresh when it runs out
    (Huawei's gateway: 5 bad signatures lock an AK for 5 minutes). With ``backoff`` every further
    failure doubles the lock, from ``seconds`` up to ``max_seconds``, until a success resets the key
    or ``max_seconds`` pass without a failure. ``limit=0`` disables the gate.
    """

    def __init__(self, limit: int, seconds: float, *, backoff: bool = False, max_seconds: float | None = None,
                 max_keys: int = 100_000, clock=time.monotonic) -> None:
        self.limit, self.seconds, self.backoff, self.clock = limit, seconds, backoff, clock
        self.max_seconds = max(max_seconds or seconds, seconds)
        self.max_keys = max_keys
        #: key -> (failures, locked until, last failure)
        self._state: OrderedDict[Hashable, tuple[int, float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remaining(self, key: Hashable) -> float:
        """Seconds ``key`` stays locked; 0 when it may try."""
        with self._lock:
            failures, until, _last = self._state.get(key, (0, 0.0, 0.0))
            if not until:
                return 0.0
            left = until - self.clock()
            if left > 0:
                return left
            if not self.backoff:
                self._state.pop(key, None)  # the lock ran out: start counting afresh
            return 0.0

    def failure(self, key: Hashable) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            now = self.clock()
            failures, _until, last = self._state.pop(key, (0, 0.0, now))
            quiet = self.max_seconds if self.backoff else self.seconds
            failures = 1 if now - last > quiet else failures + 1  # an old streak is forgotten
            until = 0.0
            if failures >= self.limit:
                extra = failures - self.limit if self.backoff else 0
                until = now + min(self.seconds * 2 ** min(extra, 30), self.max_seconds)
            self._state[key] = (failures, until, now)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)

    def success(self, key: Hashable) -> None:
        with self._lock:
            self._state.pop(key, None)


class LoginThrottle:
    """Failed logins per user (doubling back-off) and per client address (a fixed lock), and a cap
    on the password hashes computed at once, so a flood of wrong passwords stays cheap."""

    def __init__(self, settings, clock=time.monotonic) -> None:
        window = settings.login_window_seconds
        self.per_user = FailureGate(settings.login_failures_per_user, 1.0, backoff=True, max_seconds=window,
                                    clock=clock)
        self.per_client = FailureGate(settings.login_failures_per_client, window, clock=clock)
        self.hashing = threading.BoundedSemaphore(settings.login_concurrency)

    def wait(self, user: str, client: str) -> float:
        return max(self.per_user.remaining(user), self.per_client.remaining(client))

    def failed(self, user: str, client: str) -> None:
        self.per_user.failure(user)
        self.per_client.failure(client)

    def succeeded(self, user: str) -> None:
        self.per_user.success(user)
