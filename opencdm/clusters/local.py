"""The embedded default cluster: a pool of local worker processes (spawned, so nothing leaks in)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from opencdm.clusters.base import Slots

_ctx = multiprocessing.get_context("spawn")


class LocalControl:
    """Cancel flag and progress of one run as small files in a private directory.

    Local workers share the server's filesystem, so no broker process is needed; the object is just
    a path and pickles as one. A run's directory disappears when the run ends (``close``), and a
    straggling worker then reads the run as cancelled.
    """

    def __init__(self, root: str | None = None) -> None:
        self.path = tempfile.mkdtemp(prefix="run-", dir=root)

    def cancel(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            open(os.path.join(self.path, "cancel"), "w").close()

    def cancelled(self) -> bool:
        return not os.path.isdir(self.path) or os.path.exists(os.path.join(self.path, "cancel"))

    def report(self, index: int, rows_read: int, bytes_read: int, rows_written: int, bytes_written: int) -> None:
        final = os.path.join(self.path, f"part-{index}")
        with contextlib.suppress(FileNotFoundError):  # the run is over: nobody reads this any more
            with open(final + ".tmp", "w") as out:
                out.write(f"{rows_read} {bytes_read} {rows_written} {bytes_written}")
            os.replace(final + ".tmp", final)  # readers never see half a line

    def drain(self) -> list[tuple[int, int, int, int, int]]:
        """The latest totals of every partition that reported."""
        out = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.path):
                if name.startswith("part-") and not name.endswith(".tmp"):
                    with contextlib.suppress(FileNotFoundError, ValueError):
                        with open(os.path.join(self.path, name)) as f:
                            totals = [int(v) for v in f.read().split()]
                        if len(totals) == 4:
                            out.append((int(name[5:]), *totals))
        return out

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class LocalBackend:
    """Up to ``workers`` processes; tasks beyond that wait in the executor's queue.

    The processes start with the first task and stop again (``release_idle``) once no task has
    run for a while, so an idle cluster holds no process.
    """

    def __init__(self, workers: int, control_root: str | None = None,
                 worker_init: Callable[[], None] | None = None) -> None:
        self.workers = max(1, workers)
        self.slots = Slots(lambda: self.workers)
        self.control_root = control_root
        self.worker_init = worker_init
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0
        self._last_used = time.monotonic()

    def executor(self) -> concurrent.futures.Executor:
        return _Counted(self)

    def _submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_ctx, initializer=self.worker_init)
            self._busy += 1
            self._last_used = time.monotonic()
            pool = self._pool
        try:
            future = pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()

    def control(self) -> LocalControl:
        return LocalControl(self.control_root)

    def release_idle(self, idle_seconds: float) -> bool:
        """Stop the worker processes when no task has run for ``idle_seconds``; True if it did."""
        with self._lock:
            if self._pool is None or self._busy or time.monotonic() - self._last_used < idle_seconds:
                return False
            pool, self._pool = self._pool, None
        pool.shutdown(wait=True)
        return True

    def reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()  # a stopped cluster must not keep writing anywhere
            pool.shutdown(wait=True, cancel_futures=True)


class _Counted(concurrent.futures.Executor):
    """The backend's pool as an executor that counts tasks in flight (for ``release_idle``)."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        return self.backend._submit(fn, *args, **kwargs)
