"""Job rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opencdm.errors import Conflict, NotFound
from opencdm.store.db import now_ms
from opencdm.store.tables import Job

#: Keys of a job body that live in their own columns; everything else goes to ``extra``.
MODELLED = {
    "job_type", "from-connector-name", "to-connector-name", "from-link-name", "to-link-name", "name",
    "from-config-values", "to-config-values", "driver-config-values",
}
#: Output-only keys a client may echo back from a GET; never stored as extras.
OUTPUT_ONLY = {
    "creation-user", "creation-date", "update-date", "update-user", "id", "status", "external_id",
    "execute_start_date", "execute_update_date", "execute_create_date", "rows_read", "rows_written",
    "bytes_read", "bytes_written", "write_rows", "update_rows", "delete_rows", "files_read", "files_written",
}


def get(session: Session, project_id: str, cluster_id: str, name: str, *, code: str = "Cdm.0100") -> Job:
    row = session.scalar(select(Job).where(Job.project_id == project_id, Job.cluster_id == cluster_id, Job.name == name))
    if row is None:
        raise NotFound(f"Job [{name}] does not exist.", code=code)
    return row


def exists(session: Session, cluster_id: str, name: str) -> bool:
    return session.scalar(select(Job.id).where(Job.cluster_id == cluster_id, Job.name == name)) is not None


def apply(row: Job, body: dict[str, Any]) -> None:
    """Fill ``row`` from a validated job body (wire names)."""
    row.job_type = body.get("job_type") or "NORMAL_JOB"
    row.from_connector = body["from-connector-name"]
    row.to_connector = body["to-connector-name"]
    row.from_link = body.get("from-link-name") or ""
    row.to_link = body["to-link-name"]
    row.from_config = body["from-config-values"]
    row.to_config = body["to-config-values"]
    row.driver_config = body["driver-config-values"]
    row.extra = {k: v for k, v in body.items() if k not in MODELLED and k not in OUTPUT_ONLY}


def create(session: Session, project_id: str, cluster_id: str, body: dict[str, Any], user: str) -> Job:
    if exists(session, cluster_id, body["name"]):
        raise Conflict(f"Job name [{body['name']}] already exist or created by other.", code="Cdm.0104")
    ts = now_ms()
    row = Job(project_id=project_id, cluster_id=cluster_id, name=body["name"], creation_user=user,
              creation_date=ts, update_user=user, update_date=ts)
    apply(row, body)
    session.add(row)
    session.flush()
    return row


def update(row: Job, body: dict[str, Any], user: str) -> None:
    apply(row, body)
    row.update_user = user
    row.update_date = now_ms()


def page(session: Session, project_id: str, cluster_id: str, *, name_filter: str | None, job_type: str,
         page_no: int, page_size: int) -> tuple[int, list[Job]]:
    query = select(Job).where(Job.project_id == project_id, Job.cluster_id == cluster_id, Job.job_type == job_type)
    if name_filter:
        escaped = name_filter.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Job.name.like(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.id).offset((page_no - 1) * page_size).limit(page_size))
    return total, list(rows)
