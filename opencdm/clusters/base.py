"""Where partition tasks execute. The engine sees this protocol and nothing else of a cluster."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Protocol


#: The system tag that binds a cluster to a Dask scheduler (``cluster.sys_tags`` on create).
DASK_TAG = "opencdm.dask-scheduler"


def dask_address(settings: dict | None) -> str | None:
    """The Dask scheduler address a cluster was created with (its ``sys_tags``), or None: a local pool."""
    for tag in (settings or {}).get("sys_tags") or []:
        if isinstance(tag, dict) and tag.get("key") == DASK_TAG:
            return str(tag.get("value") or "").strip() or None
    return None


class Slots:
    """The cluster-wide cap on partitions running at once, shared by every run on one cluster.

    CDM sizes a cluster's concurrent extractors from its vCPUs; here the cap is what the workers can
    run at once (``capacity()``: the local pool's processes, or the Dask workers' threads, counted
    again as workers come and go). A run takes a slot before it submits a partition and gives it back
    when the partition ends, so extra partitions wait in opencdm (stoppable, visible as ``waiting``)
    rather than piling onto the workers. ``take`` never blocks; ``wait`` sleeps until a slot may be free.
    """

    def __init__(self, capacity: Callable[[], int], known: Callable[[], int] | None = None) -> None:
        self._capacity = capacity
        self._known = known or capacity  # the capacity without asking anyone (for status pages)
        self._free = threading.Condition()
        self.in_use = 0
        self._waiting: set[int] = set()  # id() of the runs refused a slot since they last got one

    @property
    def capacity(self) -> int:
        return max(1, int(self._capacity()))

    def usage(self) -> dict[str, int]:
        """``{"slots", "in-use", "waiting"}`` as last known: never blocks (a cluster's status shows it)."""
        with self._free:
            in_use, waiting = self.in_use, len(self._waiting)
        return {"slots": max(1, int(self._known())), "in-use": in_use, "waiting": waiting}

    @property
    def waiting(self) -> int:
        """How many runs wait for a slot."""
        with self._free:
            return len(self._waiting)

    def take(self, run: object) -> bool:
        cap = self.capacity  # may ask a Dask scheduler: outside the lock
        with self._free:
            if self.in_use < cap:
                self.in_use += 1
                self._waiting.discard(id(run))
                return True
            self._waiting.add(id(run))
            return False

    def give_back(self) -> None:
        with self._free:
            self.in_use = max(0, self.in_use - 1)
            self._free.notify_all()

    def leave(self, run: object) -> None:
        """The run no longer wants a slot (it ended, or has all it needs)."""
        with self._free:
            self._waiting.discard(id(run))

    def wait(self, timeout: float) -> None:
        with self._free:
            self._free.wait(timeout)


class RunControl(Protocol):
    """Shared between the server-side runner and the workers of one run. Must pickle."""

    def cancel(self) -> None: ...

    def cancelled(self) -> bool: ...

    def report(self, index: int, rows_read: int, bytes_read: int, rows_written: int, bytes_written: int) -> None:
        """Worker side: the partition's running totals so far (not deltas)."""

    def drain(self) -> list[tuple[int, int, int, int, int]]:
        """Server side: the latest report of each partition (index, then the four totals)."""

    def close(self) -> None:
        """Server side, when the run has ended: release what the control holds."""


class ClusterBackend(Protocol):
    """A pool of workers. ``executor()`` may be replaced after a worker is lost: ask for it each time."""

    workers: int
    slots: Slots

    def executor(self) -> concurrent.futures.Executor: ...

    def control(self) -> RunControl: ...

    def reset(self) -> None:
        """Throw away a broken pool (a worker died) and start a fresh one."""

    def release_idle(self, idle_seconds: float) -> bool:
        """Let workers go when no task has run for ``idle_seconds`` (the next task starts them again)."""

    def close(self) -> None: ...
