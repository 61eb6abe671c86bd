"""Submission rows: one per run. The engine writes status, progress and counters here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencdm.store.db import now_ms
from opencdm.store.status import ACTIVE, BOOTING
from opencdm.store.tables import Job, Submission


def create(session: Session, job: Job, user: str, variables: dict[str, Any], *, auto: bool = False,
           delete_job: bool = False) -> Submission:
    ts = now_ms()
    row = Submission(project_id=job.project_id, cluster_id=job.cluster_id, job_id=job.id, job_name=job.name,
                     status=BOOTING, progress=0.0, creation_user=user, creation_date=ts, last_update_date=ts,
                     execute_date=ts, variables=variables, is_execute_auto=auto, is_delete_job=delete_job)
    session.add(row)
    session.flush()
    row.external_id = f"job_local_{row.id:010d}"
    return row


def latest(session: Session, job_id: int) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.job_id == job_id).order_by(Submission.id.desc()).limit(1))


def active_for_job(session: Session, job_id: int) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.job_id == job_id, Submission.status.in_(ACTIVE))
                          .order_by(Submission.id.desc()).limit(1))


def active(session: Session, cluster_id: str | None = None) -> list[Submission]:
    query = select(Submission).where(Submission.status.in_(ACTIVE))
    if cluster_id is not None:
        query = query.where(Submission.cluster_id == cluster_id)
    return list(session.scalars(query.order_by(Submission.id)))


def history(session: Session, project_id: str, cluster_id: str, job_name: str | None, page_no: int,
            page_size: int) -> tuple[int, list[Submission]]:
    query = select(Submission).where(Submission.project_id == project_id, Submission.cluster_id == cluster_id)
    if job_name:
        query = query.where(Submission.job_name == job_name)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Submission.id.desc()).offset((page_no - 1) * page_size).limit(page_size))
    return total, list(rows)


def set_fields(session: Session, submission_id: int, **fields: Any) -> None:
    """Update a run's row; always bumps ``last_update_date``."""
    fields["last_update_date"] = now_ms()
    session.execute(update(Submission).where(Submission.id == submission_id).values(**fields))


def set_if_active(session: Session, submission_id: int, **fields: Any) -> bool:
    """``set_fields`` only while the run is BOOTING or RUNNING: an ended run is never revived or
    overwritten (a run stopped by the user stays stopped whatever its runner reports later)."""
    fields["last_update_date"] = now_ms()
    done = session.execute(update(Submission).where(Submission.id == submission_id, Submission.status.in_(ACTIVE))
                           .values(**fields))
    return done.rowcount == 1
