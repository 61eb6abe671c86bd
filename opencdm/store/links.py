"""Link rows. Sensitive input values are stored encrypted and only decrypted for the engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from opencdm.errors import Conflict, NotFound
from opencdm.store.db import now_ms
from opencdm.store.secrets import SecretBox
from opencdm.store.tables import Job, Link

#: What responses show instead of a secret. A client that PUTs it back keeps the stored secret.
MASK = "******"


def get(session: Session, project_id: str, cluster_id: str, name: str) -> Link:
    row = session.scalar(
        select(Link).where(Link.project_id == project_id, Link.cluster_id == cluster_id, Link.name == name)
    )
    if row is None:
        raise NotFound(f"Link [{name}] does not exist.", code="Cdm.0101")
    return row


def seal(config: dict[str, Any], sensitive: frozenset[str], box: SecretBox, old: dict[str, Any] | None = None) -> dict:
    """Encrypt sensitive values of a ``link-config-values`` dict; a masked or missing one keeps ``old``'s."""
    previous = {i["name"]: i.get("value") for c in (old or {}).get("configs", []) for i in c.get("inputs", [])}
    for group in config.get("configs", []):
        for item in group.get("inputs", []):
            if item["name"] not in sensitive:
                continue
            value = item.get("value")
            if (value is None or value == MASK) and item["name"] in previous:
                item["value"] = previous[item["name"]]
            elif value is not None and not box.is_encrypted(str(value)):
                item["value"] = box.encrypt(str(value))
    return config


def unsealed_inputs(row: Link, box: SecretBox | None) -> dict[str, Any]:
    """Flat ``{"linkConfig.x": value}`` with secrets decrypted (left sealed without a ``box``):
    for connectors only, never for responses."""
    out: dict[str, Any] = {}
    for group in row.config.get("configs", []):
        for item in group.get("inputs", []):
            value = item.get("value")
            if box is not None and isinstance(value, str) and box.is_encrypted(value):
                value = box.decrypt(value)
            out[item["name"]] = value
    return out


def create(session: Session, project_id: str, cluster_id: str, name: str, connector: str,
           config: dict[str, Any], enabled: bool, user: str) -> Link:
    taken = session.scalar(select(Link.id).where(Link.cluster_id == cluster_id, Link.name == name))
    if taken:
        raise Conflict(f"Link name [{name}] already exist or created by other user.", code="Cdm.0315")
    ts = now_ms()
    row = Link(project_id=project_id, cluster_id=cluster_id, name=name, connector_name=connector, config=config,
               enabled=enabled, creation_user=user, creation_date=ts, update_user=user, update_date=ts)
    session.add(row)
    session.flush()
    return row


def jobs_using(session: Session, row: Link) -> list[str]:
    return list(session.scalars(select(Job.name).where(
        Job.cluster_id == row.cluster_id, or_(Job.from_link == row.name, Job.to_link == row.name))))


def delete(session: Session, row: Link) -> None:
    users = jobs_using(session, row)
    if users:
        raise Conflict(f"Link {row.name} has been used by job(s) {', '.join(sorted(users))}.", code="Cdm.0321")
    session.delete(row)
