"""A cluster on Dask distributed: partitions run on the workers of a Dask scheduler the user runs.

Why Dask: one machine is not always enough, and Dask distributed already does what a pool of
machines needs (membership, scheduling, noticing a dead worker and running its task elsewhere) and is
deployed by many tools (``dask scheduler`` / ``dask worker``, Kubernetes, YARN, SLURM); opencdm only
connects to a scheduler at an address. It never starts, stops or restarts the user's scheduler or
workers: ``close`` closes opencdm's client, nothing else.

What crosses the network: to the scheduler and on to a worker, the pickled ``PartitionTask`` (plain
data, link secrets included: use Dask's TLS, a ``tls://`` address, on networks you do not trust) and
the run's ``DaskControl`` (a name); back, the ``PartitionResult`` (counters and the loader's small
``LoadResult``). Rows never pass through the scheduler or the server: each worker reads the FROM
store and writes the TO store's staging itself. Workers share no files with the server, so the run's
control travels through the scheduler:

- stop: a ``distributed.Event`` named after the run, set while the run may go on; ``cancel`` (and
  ``close``) clear it, which also frees it on the scheduler. A worker reads "not set" as stopped, so a
  straggling task of an ended run, or one that outlived a scheduler restart, stops too.
- progress: workers ``log_event`` their partitions' running totals on one topic (fire and forget,
  batched with the worker's own traffic); the server's client subscribes and keeps the latest per
  partition, so ``drain`` costs nothing. One shared topic keeps the scheduler's memory bounded (it
  keeps the last ~1000 events of a topic).

The scheduler and every worker need the server's opencdm (same version, same Python minor version),
the workers also the drivers of the connectors they run: the scheduler unpickles the tasks it is
given, the workers run them (here: the same virtualenv). Every task checks the worker's version
before it runs; ``check_versions()`` asks the scheduler and every worker at once, and ``status()``
does when the workers change.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
import threading
import time
import uuid
from collections.abc import Callable

import distributed
from distributed.scheduler import KilledWorker

import opencdm
from opencdm import connectors
from opencdm.clusters.base import Slots
from opencdm.errors import CdmError, TransferError, WorkerLost

TOPIC = "opencdm-progress"  # where workers report partition totals
CHECK_EVERY = 0.25  # seconds a worker trusts its last look at the stop flag
INFO_EVERY = 2.0  # seconds ``workers`` trusts its last count of threads


def _versions() -> tuple[str, str]:
    """(opencdm version, Python major.minor) of this process."""
    return opencdm.__version__, "%d.%d" % sys.version_info[:2]


def _mismatch(where: str, theirs: tuple[str, str], ours: tuple[str, str], also: str = "") -> TransferError:
    return TransferError(f"Dask {where} runs opencdm {theirs[0]} on Python {theirs[1]}, but the server runs "
                         f"opencdm {ours[0]} on Python {ours[1]}: install the server's opencdm on {also}every worker.")


# -- worker side ------------------------------------------------------------------------------------

_here: list = [None, None]  # this worker process's (Worker, Client): reachable from any thread of a task
_initialised: set = set()
_init_lock = threading.Lock()


def _task(fn: Callable, args: tuple, kwargs: dict, init: Callable[[], None], expected: tuple[str, str]):
    """What a Dask worker runs instead of ``fn``: check the version, initialise the process once, run."""
    worker = distributed.get_worker()
    if _versions() != expected:
        raise _mismatch(f"worker {worker.address}", _versions(), expected)
    _here[:] = worker, distributed.get_client()
    with _init_lock:
        if init not in _initialised:
            init()
            _initialised.add(init)
    try:
        return fn(*args, **kwargs)
    except CdmError as exc:
        failure: BaseException = exc
    except Exception as exc:
        failure = TransferError(f"A task failed on Dask worker {worker.address}: {type(exc).__name__}: {exc}")
        failure.__traceback__ = exc.__traceback__
    # Only type, message and code travel, as from a local worker (CdmError.__reduce__), raised outside the
    # except block so no __context__ either. Dask would pickle the whole chain: a driver's exception in it
    # may not unpickle (Dask then sends a plain Exception: the type and retry policy are lost), and a
    # cyclic chain hangs Dask's error handling.
    rebuild, state = failure.__reduce__()[:2]
    raise rebuild(*state).with_traceback(failure.__traceback__)


def _worker_client():
    return _here[1] if _here[1] is not None else distributed.get_client()


# -- the run's control ------------------------------------------------------------------------------

class DaskControl:
    """Stop flag and progress of one run. Pickles as its name; works wherever a Dask worker runs.

    Server side (``backend.control()``): ``cancel``, ``drain``, ``close``, and ``cancelled`` from
    a local flag. Worker side (the unpickled copy in a task): ``report`` and ``cancelled``.
    """

    def __init__(self, backend: DaskBackend | None, name: str | None = None) -> None:
        self.name = name or f"opencdm-run-{uuid.uuid4().hex}"
        self._backend = backend  # None on a worker
        self._cancelled = False
        self._checked = 0.0
        self._ready = False  # server: the Event is set on the scheduler
        self._setup = threading.Lock()  # setting and clearing the Event (never held by the client's loop)
        self._lock = threading.Lock()  # the latest reports
        self._latest: dict[int, tuple[int, int, int, int]] = {}

    def __reduce__(self):
        return (DaskControl, (None, self.name))

    def _ensure(self) -> None:
        """Server side, before the first task: mark the run as going on, on the scheduler."""
        if self._ready or self._cancelled:
            return
        with self._setup:
            if not self._ready and not self._cancelled:
                client = self._backend.client()
                distributed.Event(self.name, client=client).set()
                self._backend._register(self, client)
                self._ready = True

    def cancel(self) -> None:
        self._cancelled = True
        with self._setup:
            self._clear()

    def cancelled(self) -> bool:
        if self._cancelled:
            return True
        if self._backend is not None:  # only the server stops a run: its own flag is the truth
            self._ensure()
            return False
        if time.monotonic() - self._checked < CHECK_EVERY:
            return False
        client = _worker_client()
        if client.status != "running":
            raise WorkerLost("This Dask worker lost the connection to its scheduler.")
        self._cancelled = not distributed.Event(self.name, client=client).is_set()
        self._checked = time.monotonic()
        return self._cancelled

    def report(self, index: int, rows_read: int, bytes_read: int, rows_written: int, bytes_written: int) -> None:
        msg = [self.name, index, rows_read, bytes_read, rows_written, bytes_written]
        if self._backend is not None:  # a worker thread in the server's process (no pickling happened)
            self._take(msg)
            return
        with contextlib.suppress(Exception):  # progress is best effort: never fail a partition over it
            worker = _here[0] if _here[0] is not None else distributed.get_worker()
            worker.log_event(TOPIC, msg)

    def _take(self, msg: list) -> None:
        with self._lock:
            self._latest[int(msg[1])] = tuple(int(v) for v in msg[2:6])

    def drain(self) -> list[tuple[int, int, int, int, int]]:
        with self._lock:
            return [(index, *totals) for index, totals in self._latest.items()]

    def close(self) -> None:
        with self._setup:
            self._clear()
        if self._backend is not None:
            self._backend._unregister(self)

    def _clear(self) -> None:
        """Clear (and so free) the run's Event: workers now read the run as stopped."""
        if self._backend is None or not self._ready:
            return
        client = self._backend._client
        if client is not None and client.status == "running":  # else the scheduler, and the Event, are gone
            with contextlib.suppress(Exception):
                distributed.Event(self.name, client=client).clear()


# -- the backend ------------------------------------------------------------------------------------

class DaskBackend:
    """Partitions run on the workers of the Dask scheduler at ``address`` (``tcp://host:port``).

    The client connects on first use and again after it was lost (``timeout``: seconds to connect).
    ``worker_init`` runs once in each worker process before its first task (default: load the
    connector registry).
    """

    def __init__(self, address: str, worker_init: Callable[[], None] | None = None, timeout: float = 3.0) -> None:
        self.address = address
        self.worker_init = worker_init or connectors.load
        self.timeout = timeout
        self._lock = threading.Lock()
        self._client: distributed.Client | None = None
        self._subscribed: distributed.Client | None = None  # the client that receives progress events
        self._runs: dict[str, DaskControl] = {}
        self._threads, self._threads_at = 1, 0.0
        self._versions_ok: set[str] = set()  # the workers check_versions() last found right
        self.slots = Slots(lambda: self.workers, lambda: self._threads)  # partitions at once: the workers' threads

    def client(self) -> distributed.Client:
        """The connected client (connecting first if needed); TransferError when the scheduler is unreachable."""
        with self._lock:
            client = self._client
            if client is None or client.status in ("closing", "closed"):
                try:
                    client = distributed.Client(self.address, set_as_default=False, timeout=self.timeout)
                except Exception as exc:
                    raise TransferError(f"The Dask scheduler at {self.address} is unreachable: {exc}") from exc
                self._client = client
            return client

    # -- ClusterBackend ----------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        """Worker threads on the scheduler (at least 1); counted again at most every ``INFO_EVERY`` s."""
        if time.monotonic() - self._threads_at >= INFO_EVERY:
            with contextlib.suppress(Exception):
                self._threads = max(1, sum(self.client().nthreads(callback_timeout=self.timeout).values()))
            self._threads_at = time.monotonic()
        return self._threads

    def executor(self) -> concurrent.futures.Executor:
        return _Executor(self)

    def control(self) -> DaskControl:
        return DaskControl(self)

    def reset(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=self.timeout)

    def release_idle(self, idle_seconds: float) -> bool:
        return False  # the workers are the user's: they stay

    def close(self) -> None:
        """Close opencdm's client. The user's scheduler and workers keep running."""
        self.reset()

    # -- beyond the protocol -----------------------------------------------------------------------

    def status(self) -> tuple[bool, str]:
        """(True, "N workers, M threads at ADDRESS") when the scheduler answers with a worker that runs the
        server's opencdm, else (False, why). Takes a few ``timeout`` at most; ``check_versions`` runs
        only when the set of workers changed."""
        try:
            client = self.client()
            if client.status != "running":
                return False, f"The Dask scheduler at {self.address} is unreachable (reconnecting)."
            threads = client.nthreads(callback_timeout=self.timeout)
        except TransferError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"The Dask scheduler at {self.address} does not answer: {type(exc).__name__}: {exc}"
        if not threads:
            return False, f"The Dask scheduler at {self.address} has no workers."
        self._threads, self._threads_at = max(1, sum(threads.values())), time.monotonic()
        if set(threads) != self._versions_ok:  # new workers (or a new scheduler): same opencdm?
            try:
                self.check_versions()
            except Exception as exc:
                return False, str(exc)
            self._versions_ok = set(threads)
        return True, f"{len(threads)} workers, {sum(threads.values())} threads at {self.address}"

    def check_versions(self) -> None:
        """Raise TransferError naming the scheduler or the first worker whose opencdm or Python differs from
        the server's (the scheduler unpickles the tasks it is given: it needs opencdm too)."""
        ours, client = _versions(), self.client()
        try:
            theirs = tuple(client.run_on_scheduler(_versions, callback_timeout=self.timeout))
        except Exception as exc:
            raise TransferError(f"The Dask scheduler at {self.address} cannot run opencdm ({type(exc).__name__}: "
                                f"{exc}): install opencdm {ours[0]} there and on every worker.") from exc
        if theirs != ours:
            raise _mismatch(f"scheduler {self.address}", theirs, ours, "the scheduler and ")
        for address, theirs in sorted(client.run(_versions, on_error="return", callback_timeout=self.timeout).items()):
            if isinstance(theirs, BaseException):
                raise TransferError(f"Dask worker {address} cannot run opencdm ({type(theirs).__name__}: {theirs}): "
                                    f"install opencdm {ours[0]} on every worker.")
            if tuple(theirs) != ours:
                raise _mismatch(f"worker {address}", tuple(theirs), ours)

    # -- internals ---------------------------------------------------------------------------------

    def _register(self, control: DaskControl, client: distributed.Client) -> None:
        with self._lock:
            self._runs[control.name] = control
            if self._subscribed is not client:
                client.subscribe_topic(TOPIC, self._on_event)
                self._subscribed = client

    def _unregister(self, control: DaskControl) -> None:
        with self._lock:
            self._runs.pop(control.name, None)
            if self._runs or self._subscribed is None:
                return
            client, self._subscribed = self._subscribed, None
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(TOPIC)

    def _on_event(self, event: tuple) -> None:
        """Runs on the client's event loop: a worker's report for one partition."""
        _, msg = event
        control = self._runs.get(msg[0])
        if control is not None:
            control._take(msg)

    def _submit(self, fn: Callable, args: tuple, kwargs: dict) -> concurrent.futures.Future:
        client = self.client()
        for arg in args:
            if isinstance(arg, DaskControl):
                arg._ensure()
        key = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"  # unique: a retry really runs again
        try:
            task = client.submit(_task, fn, args, kwargs, self.worker_init, _versions(), key=key, pure=False,
                                 retries=0)
        except Exception as exc:  # the client closed since client() returned it
            raise TransferError(f"Could not submit to the Dask scheduler at {self.address}: {exc}") from exc
        # Running from the start: Dask cannot take back a task a worker has begun, so the engine's
        # future.cancel() must not pretend it did; a started task ends on the run's stop flag instead.
        out: concurrent.futures.Future = concurrent.futures.Future()
        out.set_running_or_notify_cancel()
        out.dask_future = task  # keeps the task wanted until it ends
        task.add_done_callback(lambda done: self._settle(done, out))
        return out

    def _settle(self, task: distributed.Future, out: concurrent.futures.Future) -> None:
        try:
            out.set_result(task.result())
        except BaseException as exc:
            out.set_exception(self._translate(exc))
        finally:
            out.dask_future = None  # the worker may now forget the task and its result

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, CdmError):
            return exc
        if isinstance(exc, KilledWorker):
            return WorkerLost(f"Every Dask worker that ran this partition died: {exc}")
        if isinstance(exc, concurrent.futures.CancelledError):  # Dask's FutureCancelledError
            reason = getattr(exc, "reason", None) or "unknown"
            if reason == "scheduler-connection-lost":
                return TransferError(f"Lost the connection to the Dask scheduler at {self.address} while a "
                                     "partition ran.")
            return TransferError(f"The Dask scheduler at {self.address} cancelled a partition ({reason}).")
        return TransferError(f"A Dask task failed: {type(exc).__name__}: {exc}")


class _Executor(concurrent.futures.Executor):
    """The backend as a ``concurrent.futures.Executor`` (the engine asks for one per submit)."""

    def __init__(self, backend: DaskBackend) -> None:
        self.backend = backend

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        return self.backend._submit(fn, args, kwargs)
