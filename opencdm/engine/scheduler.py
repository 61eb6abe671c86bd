"""The scheduler: starts the planned runs of scheduled jobs (``schedulerConfig``, spec §13 and §14.2).

Every ``OPENCDM_SCHEDULER_INTERVAL_SECONDS`` it looks for schedules whose next planned time has come
and, for each, computes with ``Schedule.due`` what to start: **at most one run per schedule, for the
latest planned time that passed** (after a server was down across several planned times, one run
catches up, at once, and the others are skipped; no storm, no planned time twice). The claim of a
planned time and the run it starts commit in one transaction that moves the schedule on from the
value read, so with several servers on one PostgreSQL metadata store each planned run starts once.
A planned time that finds the job still running, or its cluster not running, is skipped (logged).
Runs it starts show ``is-execute-auto: true`` and take the planned time as their macros' reference.

The clock is a parameter (``tick(now)``), so tests drive it without sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from opencdm.errors import CdmError
from opencdm.schedule import Schedule
from opencdm.store import schedules as schedule_store
from opencdm.store.db import Store
from opencdm.store.tables import Cluster, Job
from opencdm.wire.common import flat_inputs

log = logging.getLogger("opencdm.scheduler")

#: ``start(session, cluster, job, planned)``: create the run in ``session`` (it commits with the claim).
Starter = Callable[[object, Cluster, Job, datetime], None]


class Scheduler:
    def __init__(self, store: Store, timezone: str, start: Starter, interval: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.tz, self.start = store, ZoneInfo(timezone), start
        self.interval, self.clock = interval, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_in_background(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick(self.clock())
            except Exception:
                log.exception("scheduler tick failed")

    def tick(self, now: datetime) -> list[tuple[str, datetime]]:
        """Start what is due at ``now``; returns ``(job name, planned time)`` of the runs started here."""
        with self.store.session() as s:
            due = [(row.job_id, row.next_planned) for row in schedule_store.due(s, now)]
        started = []
        for job_id, read_next in due:
            try:
                planned = self._one(job_id, read_next, now)
            except Exception:
                log.exception("scheduled run of job id %s not started", job_id)
                continue
            if planned is not None:
                started.append(planned)
        return started

    def _one(self, job_id: int, read_next: int, now: datetime) -> tuple[str, datetime] | None:
        with self.store.session() as s:
            row = s.get(schedule_store.JobSchedule, job_id)
            job = s.get(Job, job_id)
            if row is None or job is None or row.next_planned != read_next:
                return None  # deleted, or another server moved it on meanwhile
            schedule = Schedule.parse(flat_inputs(job.driver_config), self.tz)
            if schedule is None:
                return None
            run_now, nxt = schedule.due(schedule_store.at(row.last_planned), now)
            if not schedule_store.claim(s, row, read_next, run_now, nxt):
                return None
            if run_now is None:
                return None
            cluster = s.get(Cluster, job.cluster_id)
            try:
                with s.begin_nested():  # a refused start undoes itself; the claim stays: the time is spent
                    self.start(s, cluster, job, run_now)
            except CdmError as exc:  # still running, cluster stopped, a variable without value: skip this time
                log.warning("scheduled run of job=%s planned=%s skipped: %s", job.name, run_now.isoformat(), exc)
                return None
            log.info("scheduled run of job=%s planned=%s started; next %s", job.name, run_now.isoformat(),
                     nxt.isoformat() if nxt else "none")
            return job.name, run_now
