"""The live side of clusters: one runtime (worker pool + runner threads) per running cluster.

Workers are not started with the cluster: a pool starts its processes when a run submits work and
stops them once it has been idle for ``OPENCDM_WORKER_IDLE_SECONDS``, so an idle cluster costs no
process. Start, stop, restart and delete may race (two operators, a retrying client): every
lifecycle request takes a new *generation* of its cluster, and background work of an older
generation never sets a status or installs a runtime, so the last request wins and nothing is
left running behind a stopped or deleted cluster.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from opencdm.clusters.base import ClusterBackend, dask_address
from opencdm.clusters.local import LocalBackend
from opencdm.store import clusters as cluster_store
from opencdm.store.db import Store
from opencdm.wire.clusters import DEFAULT_FLAVOR, FLAVORS

log = logging.getLogger("opencdm.supervisor")


def workers_for(flavor_id: str) -> int:
    """One worker per flavor vCPU, but never more than twice this machine's cores."""
    vcpus = FLAVORS.get(flavor_id, FLAVORS[DEFAULT_FLAVOR])[1]
    return max(1, min(vcpus, 2 * (os.cpu_count() or 1)))


#: How often a Dask cluster's status follows its scheduler (200 with workers, else 300).
DASK_REFRESH_SECONDS = 2.0


@dataclass
class ClusterRuntime:
    backend: ClusterBackend
    runners: ThreadPoolExecutor
    active: dict[int, object] = field(default_factory=dict)  # submission id -> Runner


class Runtimes:
    """Runtimes of the running clusters, and the background work that brings them up and down."""

    def __init__(self, store: Store, settings, worker_init: Callable[[], None]) -> None:
        self.store, self.settings, self.worker_init = store, settings, worker_init
        self._lock = threading.RLock()
        self._runtimes: dict[str, ClusterRuntime] = {}
        #: Runtimes taken out of service whose runs are still draining: their runs can still be stopped.
        self._retired: list[ClusterRuntime] = []
        self._generation: dict[str, int] = {}
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="cluster-reaper", daemon=True)
        self._reaper.start()

    # -- lookups -------------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> ClusterRuntime | None:
        with self._lock:
            return self._runtimes.get(cluster_id)

    def all(self) -> list[ClusterRuntime]:
        with self._lock:
            return list(self._runtimes.values())

    def items(self) -> list[tuple[str, ClusterRuntime]]:
        """(cluster id, runtime) of every cluster in service."""
        with self._lock:
            return list(self._runtimes.items())

    def with_runs(self) -> list[ClusterRuntime]:
        """Every runtime that may hold runs: in service, and retired ones still draining."""
        with self._lock:
            return [*self._runtimes.values(), *self._retired]

    # -- lifecycle -------------------------------------------------------------------------------------

    def _next(self, cluster_id: str) -> int:
        with self._lock:
            self._generation[cluster_id] = self._generation.get(cluster_id, 0) + 1
            return self._generation[cluster_id]

    def _set_status(self, cluster_id: str, status: str, generation: int | None = None) -> bool:
        """Set the cluster's status, unless a newer lifecycle request took over (then False)."""
        with self._lock:
            if generation is not None and self._generation.get(cluster_id) != generation:
                return False
            with self.store.session() as s:
                cluster_store.set_status(s, cluster_id, status)
            return True

    def _current(self, cluster_id: str, generation: int) -> bool:
        with self._lock:
            return self._generation.get(cluster_id) == generation and not self._closed.is_set()

    def _background(self, name: str, fn, *args) -> None:
        """Lifecycle work runs on a thread of its own: a long drain of one cluster never delays another's."""
        threading.Thread(target=fn, args=args, name=name, daemon=True).start()

    def bring_up(self, cluster_id: str, flavor_id: str, *, via: str | None = None) -> None:
        """Make the cluster runnable (200). Workers start later, with the first run."""
        generation = self._next(cluster_id)
        if via:
            self._set_status(cluster_id, via)
        self._background(f"up-{cluster_id[:8]}", self._up, cluster_id, flavor_id, generation)

    def _up(self, cluster_id: str, flavor_id: str, generation: int) -> None:
        with self._lock:
            if not self._current(cluster_id, generation):
                return
            with self.store.session() as s:
                if not cluster_store.exists(s, cluster_id):  # deleted meanwhile
                    return
            with self.store.session() as s:
                address = dask_address(cluster_store.settings_of(s, cluster_id))
            if cluster_id not in self._runtimes:
                if address:
                    from opencdm.clusters.dask import DaskBackend  # imports distributed: only when used

                    backend = DaskBackend(address, self.worker_init)
                else:
                    backend = LocalBackend(workers_for(flavor_id), str(self.settings.control_root), self.worker_init)
                capacity = self.settings.max_concurrent_runs or 2 * (2 if address else backend.workers)
                self._runtimes[cluster_id] = ClusterRuntime(
                    backend, ThreadPoolExecutor(capacity, thread_name_prefix=f"run-{cluster_id[:8]}"))
            rt = self._runtimes[cluster_id]
            if not address:
                self._set_status(cluster_id, cluster_store.RUNNING, generation)
        if address:  # a Dask cluster is 200 only while its scheduler answers with workers (asked unlocked)
            self._refresh(cluster_id, rt, generation)

    def _refresh(self, cluster_id: str, rt: ClusterRuntime, generation: int | None = None) -> None:
        """A Dask cluster's status from its scheduler: 200 with workers, else 300 with the reason."""
        ok, detail = rt.backend.status()
        with self._lock:
            if generation is not None and self._generation.get(cluster_id) != generation:
                return
            with self.store.session() as s:
                cluster_store.set_status(s, cluster_id, cluster_store.RUNNING if ok else cluster_store.FAILED,
                                         detail=detail)

    def _retire(self, cluster_id: str, status: str | None) -> tuple[ClusterRuntime | None, int]:
        """Take the cluster's runtime out of service: new runs are refused from here on."""
        generation = self._next(cluster_id)
        if status:
            self._set_status(cluster_id, status)
        with self._lock:
            rt = self._runtimes.pop(cluster_id, None)
            if rt is not None:
                self._retired.append(rt)
            return rt, generation

    def _drained(self, rt: ClusterRuntime | None) -> None:
        with self._lock:
            if rt in self._retired:
                self._retired.remove(rt)

    def stop(self, cluster_id: str, *, drain: float | None = 0) -> None:
        """Refuse new runs at once (910), let running ones finish for ``drain`` seconds (None: as long
        as they take) and cancel the rest, release the workers, then 900. A newer request (a stop
        IMMEDIATELY, a start) ends the drain at once."""
        rt, generation = self._retire(cluster_id, cluster_store.STOPPING)

        def down() -> None:
            wind_down(rt, drain=drain, until=lambda: not self._current(cluster_id, generation))
            self._drained(rt)
            self._set_status(cluster_id, cluster_store.STOPPED, generation)

        self._background(f"stop-{cluster_id[:8]}", down)

    def restart(self, cluster_id: str, flavor_id: str, *, delay: float = 0, drain: float | None = 0) -> None:
        """500 at once (new runs refused); after ``delay`` seconds runs are drained or cancelled and
        the workers replaced, then 200. A newer request ends the wait (the old runs still stop)."""
        rt, generation = self._retire(cluster_id, cluster_store.RESTARTING)

        def cycle() -> None:
            deadline = time.monotonic() + delay
            while self._current(cluster_id, generation) and time.monotonic() < deadline:
                self._closed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            wind_down(rt, drain=drain, until=lambda: not self._current(cluster_id, generation))
            self._drained(rt)
            self._up(cluster_id, flavor_id, generation)

        self._background(f"restart-{cluster_id[:8]}", cycle)

    def forget(self, cluster_id: str) -> None:
        """The cluster was deleted: stop whatever it still runs."""
        rt, _ = self._retire(cluster_id, None)

        def down() -> None:
            wind_down(rt)
            self._drained(rt)

        self._background(f"forget-{cluster_id[:8]}", down)

    def shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            runtimes = list(self._runtimes.values())
            self._runtimes.clear()
        for rt in runtimes:  # cancel everything first, so the runs end in parallel
            for runner in list(rt.active.values()):
                runner.cancel()
        for rt in runtimes:
            wind_down(rt)

    def _reap(self) -> None:
        """Stop the workers of clusters that have been idle long enough; refresh Dask clusters' status."""
        idle = self.settings.worker_idle_seconds
        last_refresh = 0.0
        while not self._closed.wait(max(0.5, min(idle / 4, DASK_REFRESH_SECONDS))):
            for rt in self.all():
                try:
                    rt.backend.release_idle(idle)
                except Exception:  # a pool that broke on its own; the next run starts a new one
                    log.warning("could not stop idle workers", exc_info=True)
            if time.monotonic() - last_refresh >= DASK_REFRESH_SECONDS:
                last_refresh = time.monotonic()
                with self._lock:
                    dask = [(cid, rt) for cid, rt in self._runtimes.items() if hasattr(rt.backend, "status")]
                for cluster_id, rt in dask:
                    try:
                        self._refresh(cluster_id, rt)
                    except Exception:
                        log.warning("could not refresh the status of Dask cluster %s", cluster_id, exc_info=True)


def wind_down(rt: ClusterRuntime | None, *, drain: float | None = 0, until: Callable[[], bool] = lambda: False) -> None:
    """Let the runtime's runs finish for ``drain`` seconds (None: however long; ``until()`` true: stop
    waiting), cancel the rest, wait for them, and release its workers."""
    if rt is None:
        return
    deadline = None if drain is None else time.monotonic() + drain
    while rt.active and (deadline is None or time.monotonic() < deadline) and not until():
        time.sleep(0.2)
    for runner in list(rt.active.values()):
        runner.cancel()
    rt.runners.shutdown(wait=True, cancel_futures=False)
    rt.backend.close()
