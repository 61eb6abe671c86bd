"""The scheduler over a real metadata store, with the clock in the test's hands (``Scheduler.tick(now)``):
each planned run starts once, a restart between planned runs catches up one run and no more, two
servers on one PostgreSQL store never both start a planned run (the SDK suite runs one for real)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from opencdm.engine.scheduler import Scheduler
from opencdm.errors import Conflict
from opencdm.schedule import Schedule
from opencdm.store import clusters as cluster_store
from opencdm.store import jobs as job_store
from opencdm.store import schedules as schedule_store
from opencdm.store.db import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SCHEDULE = {"schedulerConfig.isSchedulerJob": "true", "schedulerConfig.cycleType": "minute",
            "schedulerConfig.cycle": "10", "schedulerConfig.startDate": "2026-03-02 08:00:00"}


class Starts:
    """A starter that records what the scheduler started (and can refuse, as a running job does)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, datetime]] = []
        self.refuse = False
        self.lock = threading.Lock()

    def __call__(self, session, cluster, job, planned) -> None:
        if self.refuse:
            raise Conflict(f"Job {job.name} is running.", code="Cdm.0052")
        with self.lock:
            self.started.append((job.name, planned))


def make_store(url: str) -> Store:
    store = Store(url)
    store.migrate()
    return store


def add_job(store: Store, name: str, driver: dict, enabled_at: datetime) -> None:
    body = {"name": name, "job_type": "NORMAL_JOB", "from-connector-name": "generic-jdbc-connector",
            "to-connector-name": "generic-jdbc-connector", "from-link-name": "a", "to-link-name": "b",
            "from-config-values": {"configs": []}, "to-config-values": {"configs": []},
            "driver-config-values": {"configs": [{"name": "schedulerConfig", "inputs": [
                {"name": k, "value": v} for k, v in driver.items()]}]}}
    with store.session() as s:
        cluster = cluster_store.create(s, "p", f"c-{name}", "f", {})
        s.flush()
        row = job_store.create(s, "p", cluster.id, body, "u")
        schedule_store.sync(s, row, Schedule.parse(driver, UTC), enabled_at)


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    return make_store(f"sqlite:///{tmp_path / 'meta.db'}")


def test_each_planned_run_starts_once_and_a_restart_catches_up_one(sqlite_store, tmp_path):
    add_job(sqlite_store, "every10", SCHEDULE, T0 - timedelta(minutes=1))
    starts = Starts()
    sched = Scheduler(sqlite_store, "UTC", starts)
    for minute in range(0, 31):  # a tick a minute for half an hour
        sched.tick(T0 + timedelta(minutes=minute, seconds=1))
    assert [p for _, p in starts.started] == [T0 + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    # the server is down from 08:31 to 09:15: a new server on the same store catches up once (09:10), then 09:20
    restarted = Scheduler(make_store(f"sqlite:///{tmp_path / 'meta.db'}"), "UTC", starts)
    restarted.tick(T0 + timedelta(minutes=75))
    restarted.tick(T0 + timedelta(minutes=76))
    restarted.tick(T0 + timedelta(minutes=80))
    assert [p for _, p in starts.started][4:] == [T0 + timedelta(minutes=70), T0 + timedelta(minutes=80)]


def test_a_refused_start_spends_its_planned_time_and_stop_date_ends_the_schedule(sqlite_store):
    add_job(sqlite_store, "busy", dict(SCHEDULE, **{"schedulerConfig.stopDate": "2026-03-02 08:20:00"}), T0)
    starts = Starts()
    sched = Scheduler(sqlite_store, "UTC", starts)
    starts.refuse = True  # the job is still running at 08:10: that run is skipped, not postponed
    sched.tick(T0 + timedelta(minutes=10))
    starts.refuse = False
    for minute in (11, 20, 30, 40):
        sched.tick(T0 + timedelta(minutes=minute))
    assert [p for _, p in starts.started] == [T0 + timedelta(minutes=20)]
    with sqlite_store.session() as s:
        assert schedule_store.due(s, T0 + timedelta(days=365)) == []


def test_two_servers_on_one_postgresql_store_start_each_planned_run_once(pg):
    db = pg.create_database()
    url = pg.dsn(db).replace("postgresql://", "postgresql+psycopg://")
    store_a, store_b = make_store(url), make_store(url)
    for i in range(5):
        add_job(store_a, f"j{i}", SCHEDULE, T0 - timedelta(minutes=1))
    starts = Starts()
    servers = [Scheduler(store_a, "UTC", starts), Scheduler(store_b, "UTC", starts)]
    for minute in (0, 10, 20):
        now = T0 + timedelta(minutes=minute, seconds=2)
        threads = [threading.Thread(target=srv.tick, args=(now,)) for srv in servers for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(starts.started) == sorted((f"j{i}", T0 + timedelta(minutes=m)) for i in range(5) for m in (0, 10, 20))
