"""The embedded default cluster: a pool of local worker processes (spawned, so nothing leaks in)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor

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


def _worker_init() -> None:
    from opencdm import connectors

    connectors.load()


def _ping() -> int:
    return 1


class LocalBackend:
    """``workers`` processes; tasks beyond that wait in the executor's queue."""

    def __init__(self, workers: int, control_root: str | None = None) -> None:
        self.workers = max(1, workers)
        self.control_root = control_root
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def executor(self) -> concurrent.futures.Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_ctx, initializer=_worker_init)
            return self._pool

    def control(self) -> LocalControl:
        return LocalControl(self.control_root)

    def warm_up(self) -> None:
        self.executor().submit(_ping).result(timeout=120)

    def reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()  # a stopped cluster must not keep writing anywhere
            pool.shutdown(wait=True, cancel_futures=True)
