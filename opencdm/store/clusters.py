"""Cluster rows. Functions take the session first and the project second; absent rows raise NotFound."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opencdm.errors import Conflict, InvalidInput, NotFound
from opencdm.store.db import now_ms
from opencdm.store.tables import Cluster

CREATING, RUNNING, FAILED, RESTARTING, STOPPED, STOPPING, STARTING = "100", "200", "300", "500", "900", "910", "920"


def get(session: Session, project_id: str, cluster_id: str) -> Cluster:
    row = session.get(Cluster, cluster_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Cluster [{cluster_id}] does not exist.", code="Cdm.0001")
    return row


def exists(session: Session, cluster_id: str) -> bool:
    return session.get(Cluster, cluster_id) is not None


def list_(session: Session, project_id: str) -> list[Cluster]:
    return list(session.scalars(select(Cluster).where(Cluster.project_id == project_id).order_by(Cluster.created)))


def all_rows(session: Session) -> list[Cluster]:
    return list(session.scalars(select(Cluster)))


def create(session: Session, project_id: str, name: str, flavor_id: str, settings: dict[str, Any]) -> Cluster:
    taken = session.scalar(select(Cluster.id).where(Cluster.project_id == project_id, Cluster.name == name))
    if taken:
        raise Conflict(f"Cluster name [{name}] already exists.", code="Cdm.0014")
    ts = now_ms()
    row = Cluster(
        id=str(uuid.uuid4()), project_id=project_id, name=name, status=CREATING,
        flavor_id=flavor_id, created=ts, updated=ts, settings=settings,
    )
    session.add(row)
    return row


def set_status(session: Session, cluster_id: str, status: str, detail: str | None = None) -> None:
    """Set the status; ``detail`` (a Dask cluster's scheduler state) is shown as ``statusDetail``."""
    row = session.get(Cluster, cluster_id)
    if row is not None and (row.status != status or detail != (row.settings or {}).get("statusDetail")):
        row.status = status
        row.updated = now_ms()
        settings = dict(row.settings or {})
        settings.pop("statusDetail", None)
        if detail:
            settings["statusDetail"] = detail
        row.settings = settings


def settings_of(session: Session, cluster_id: str) -> dict:
    row = session.get(Cluster, cluster_id)
    return dict(row.settings or {}) if row is not None else {}


def require_running(row: Cluster) -> None:
    """Jobs only start on a cluster in status 200."""
    if row.status != RUNNING:
        raise InvalidInput(
            f"Cluster [{row.id}] is not running (status {row.status}); start it before running jobs.",
            code="Cdm.0037",
        )
