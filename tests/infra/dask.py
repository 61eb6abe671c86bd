"""A real Dask cluster on 127.0.0.1: a scheduler and two worker processes from the ``dask`` CLI.

Each worker runs in a directory of its own (its working and local directory), with no ``OPENCDM_*``
variable in its environment: like a worker on another machine it shares no files with the server
side, only the installed opencdm. Workers run under Dask's nanny, which starts a worker process again
when it dies; every worker exits when it loses its scheduler (Dask's behaviour), so after
``stop_scheduler()`` a test starts the scheduler and workers again (``restore()``). Started once per
session; stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra import secrets
from tests.infra.postgres import free_port
from tests.infra.procs import port_open, stop_process, wait_until_up

DASK = str(Path(sys.executable).with_name("dask"))
WORKERS = 2
THREADS = 2  # per worker


class DaskCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._started = 0

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_")}

    def start_scheduler(self) -> None:
        log = self.root / "scheduler.log"
        with open(log, "ab") as out:
            self.scheduler = subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
                cwd=self.root, env=self._env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        wait_until_up(self.scheduler, lambda: port_open(self.port), log, "dask scheduler")

    def stop_scheduler(self) -> None:
        """The scheduler vanishes (SIGKILL); its workers exit on their own soon after."""
        if self.scheduler is not None:
            if self.scheduler.poll() is None:
                os.kill(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait()
            self.scheduler = None

    def start_worker(self) -> subprocess.Popen:
        """One more worker process (under its nanny), in a fresh directory of its own."""
        self._started += 1
        home = self.root / f"worker-{self._started}"
        home.mkdir()
        with open(home / "worker.log", "ab") as out:
            proc = subprocess.Popen(
                [DASK, "worker", self.address, "--nworkers", "1", "--nthreads", str(THREADS), "--no-dashboard",
                 "--local-directory", str(home)],
                cwd=home, env=self._env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.workers.append(proc)
        return proc

    def _ask(self, what: str):
        from distributed import Client

        with Client(self.address, set_as_default=False, timeout=5) as client:
            return client.run(os.getpid) if what == "pids" else client.nthreads()

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes connected to the scheduler (not their nannies)."""
        return sorted(self._ask("pids").values())

    def kill_worker(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def _connected(self) -> int:
        try:
            return len(self._ask("threads"))
        except Exception:
            return 0

    def wait_workers(self, n: int = WORKERS, timeout: float = 30, replace: bool = False) -> None:
        """Until ``n`` workers are connected; ``replace``: start new ones for those that exited."""
        deadline = time.monotonic() + timeout
        while self._connected() < n:
            if replace:
                self.workers = [p for p in self.workers if p.poll() is None]
                while len(self.workers) < n:
                    self.start_worker()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n} dask workers did not connect; logs under {self.root}")
            time.sleep(0.2)

    def restore(self) -> None:
        """Back to a scheduler with ``WORKERS`` workers, whatever a test did to them (workers of a
        stopped scheduler exit a moment after it: they are replaced once they have)."""
        if self.scheduler is None or self.scheduler.poll() is not None:
            self.start_scheduler()
        self.wait_workers(replace=True)

    def stop(self) -> None:
        for proc in self.workers:
            stop_process(proc)
        self.workers.clear()
        if self.scheduler is not None:
            stop_process(self.scheduler)
            self.scheduler = None


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    root = Path(tempfile.mkdtemp(prefix="opencdm-dask-"))
    cluster = DaskCluster(root)
    try:
        cluster.restore()
        yield cluster
    finally:
        cluster.stop()
        secrets.scan(root.rglob("*.log"))  # the workers ran tasks that carry link secrets
        shutil.rmtree(root, ignore_errors=True)
