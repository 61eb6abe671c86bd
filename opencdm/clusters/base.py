"""Where partition tasks execute. The engine sees this protocol and nothing else of a cluster."""

from __future__ import annotations

import concurrent.futures
from typing import Protocol


#: The system tag that binds a cluster to a Dask scheduler (``cluster.sys_tags`` on create).
DASK_TAG = "opencdm.dask-scheduler"


def dask_address(settings: dict | None) -> str | None:
    """The Dask scheduler address a cluster was created with (its ``sys_tags``), or None: a local pool."""
    for tag in (settings or {}).get("sys_tags") or []:
        if isinstance(tag, dict) and tag.get("key") == DASK_TAG:
            return str(tag.get("value") or "").strip() or None
    return None


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

    def executor(self) -> concurrent.futures.Executor: ...

    def control(self) -> RunControl: ...

    def reset(self) -> None:
        """Throw away a broken pool (a worker died) and start a fresh one."""

    def release_idle(self, idle_seconds: float) -> bool:
        """Let workers go when no task has run for ``idle_seconds`` (the next task starts them again)."""

    def close(self) -> None: ...
