"""The embedded default cluster: a pool of local worker processes (spawned, so nothing leaks in)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import queue
import threading
from concurrent.futures import ProcessPoolExecutor

_ctx = multiprocessing.get_context("spawn")
_manager = None
_manager_lock = threading.Lock()


def _shared_manager():
    """One manager process per server holds the cancel flags and progress queues of every run."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = _ctx.Manager()
        return _manager


class LocalControl:
    """Cancel flag + progress queue living in the manager process; the proxies pickle to workers."""

    def __init__(self) -> None:
        manager = _shared_manager()
        self._event = manager.Event()
        self._queue = manager.Queue()

    def cancel(self) -> None:
        self._event.set()

    def cancelled(self) -> bool:
        return self._event.is_set()

    def report(self, index: int, rows_read: int, bytes_read: int, rows_written: int, bytes_written: int) -> None:
        self._queue.put((index, rows_read, bytes_read, rows_written, bytes_written))

    def drain(self) -> list[tuple[int, int, int, int, int]]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out


def _worker_init() -> None:
    from opencdm import connectors

    connectors.load()


def _ping() -> int:
    return 1


class LocalBackend:
    """``workers`` processes; tasks beyond that wait in the executor's queue."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def executor(self) -> concurrent.futures.Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_ctx, initializer=_worker_init)
            return self._pool

    def control(self) -> LocalControl:
        return LocalControl()

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
