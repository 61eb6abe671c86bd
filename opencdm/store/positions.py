"""Stream positions of a job's source, kept between runs and across restarts (``tables.StreamPosition``).
A job is named ``<cluster id>/<job name>`` here (``job_key``): names are unique per cluster."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from opencdm.store.db import now_ms
from opencdm.store.tables import StreamPosition


def job_key(cluster_id: str, job_name: str) -> str:
    return f"{cluster_id}/{job_name}"


def forget(session: Session, project_id: str, job: str) -> None:
    """Drop every position of ``job`` (a ``job_key``): a job deleted and created again starts afresh."""
    session.execute(delete(StreamPosition).where(StreamPosition.project_id == project_id,
                                                 StreamPosition.job_name == job))


def get(session: Session, project_id: str, job_name: str, source: str) -> dict[str, Any]:
    row = session.get(StreamPosition, (project_id, job_name, source))
    return dict(row.positions) if row is not None else {}


def save(session: Session, project_id: str, job_name: str, source: str, positions: dict[str, Any]) -> None:
    row = session.get(StreamPosition, (project_id, job_name, source))
    if row is None:
        session.add(StreamPosition(project_id=project_id, job_name=job_name, source=source,
                                   positions=dict(positions), updated=now_ms()))
    else:
        row.positions, row.updated = dict(positions), now_ms()
