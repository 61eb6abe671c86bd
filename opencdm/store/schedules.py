"""Scheduled jobs' state (``tables.JobSchedule``): kept in step with each job's scheduler inputs, and
claimed planned run by planned run so that one server starts each (see ``engine.scheduler``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opencdm.schedule import Schedule
from opencdm.store.tables import Job, JobSchedule


def ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def sync(session: Session, job: Job, schedule: Schedule | None, now: datetime) -> None:
    """After a job is created or updated: no schedule, no row; a new or changed schedule starts from
    ``now`` (a time already passed is not caught up); an unchanged one keeps its state."""
    row = session.get(JobSchedule, job.id)
    if schedule is None:
        if row is not None:
            session.delete(row)
        return
    config = json.dumps([schedule.cycle_type, schedule.cycle, list(schedule.run_at), str(schedule.start),
                         str(schedule.stop)])
    if row is not None and row.config == config:
        return
    if row is None:
        row = JobSchedule(job_id=job.id)
        session.add(row)
    row.config, row.last_planned, row.next_planned = config, ms(now), ms(schedule.next_after(now))


def due(session: Session, now: datetime) -> list[JobSchedule]:
    return list(session.scalars(select(JobSchedule).where(JobSchedule.next_planned <= ms(now))))


def claim(session: Session, row: JobSchedule, read_next: int, last: datetime | None, nxt: datetime | None) -> bool:
    """Move the job's schedule on from ``read_next`` (the next time this server saw); False when another
    server moved it first. In the caller's transaction: the run it starts commits with the claim."""
    values = {"next_planned": ms(nxt)}
    if last is not None:
        values["last_planned"] = ms(last)
    done = session.execute(update(JobSchedule).where(JobSchedule.job_id == row.job_id,
                                                     JobSchedule.next_planned == read_next).values(**values))
    return done.rowcount == 1
