"""Link rows. Sensitive input values are stored encrypted, bound to their link and input.

The secret-reuse rule: a client that sends a sensitive input back masked (``******``) or leaves
it out of an update keeps the stored secret only while everything that secret authenticates to
is unchanged: the connector and every non-secret input except the ones the connector declares
harmless (``Connector.unbound_inputs``, e.g. ``fetchSize``). Otherwise the secret must be given
again, so a stored password can never be sent to a host, port, database or user the attacker picks.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from opencdm.errors import CdmError, Conflict, InvalidInput, NotFound
from opencdm.extended import extended_inputs
from opencdm.store.db import now_ms
from opencdm.store.secrets import LEGACY_PREFIX, SecretBox, link_context
from opencdm.store.tables import Job, Link

log = logging.getLogger("opencdm.store")

#: What responses show instead of a secret. A client that PUTs it back keeps the stored secret.
MASK = "******"


def get(session: Session, project_id: str, cluster_id: str, name: str) -> Link:
    row = session.scalar(
        select(Link).where(Link.project_id == project_id, Link.cluster_id == cluster_id, Link.name == name)
    )
    if row is None:
        raise NotFound(f"Link [{name}] does not exist.", code="Cdm.0101")
    return row


def list_(session: Session, project_id: str, cluster_id: str) -> list[Link]:
    return list(session.scalars(select(Link).where(Link.project_id == project_id, Link.cluster_id == cluster_id)
                                .order_by(Link.name)))


def _items(config: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
    for group in (config or {}).get("configs", []):
        yield from group.get("inputs", [])


def _norm(value: Any) -> str | None:
    """One spelling per value, so ``5432`` and ``"5432"`` (or a missing and an empty input) compare equal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def seal(config: dict[str, Any], connector: str, sensitive: frozenset[str], unbound: frozenset[str],
         box: SecretBox, where: tuple[str, str, str], old: Link | None = None) -> dict[str, Any]:
    """Encrypt the sensitive values of a ``link-config-values`` dict for link ``where``
    (project, cluster, name); a masked or missing one keeps ``old``'s under the secret-reuse rule."""
    previous = {i["name"]: i.get("value") for i in _items(old.config if old else None)}
    changed: list[str] | None = None
    for item in _items(config):
        name = item["name"]
        if name not in sensitive:
            continue
        value = item.get("value")
        if value is None or value == MASK:
            if previous.get(name) is None:
                if value == MASK:
                    raise InvalidInput(f"{name} is {MASK}, the mask of a stored secret, but this link has none "
                                       "stored: enter the secret itself.", code="Cdm.0014")
                continue
            if changed is None:
                changed = _bound_changes(config, old, sensitive, unbound, connector)
            if changed:
                raise InvalidInput(f"{name} must be entered again: the stored one is only kept while the link "
                                   f"points where it did, and {', '.join(changed)} changed.", code="Cdm.0014")
            item["value"] = previous[name]
        else:
            item["value"] = box.encrypt(str(value), link_context(*where, name))
    return config


def _bound_changes(config: dict[str, Any], old: Link | None, sensitive: frozenset[str], unbound: frozenset[str],
                   connector: str) -> list[str]:
    """The inputs (and the connector) a kept secret is bound to that differ between ``old`` and ``config``."""
    if old is None:
        return []
    new = {**extended_inputs(config), **{i["name"]: _norm(i.get("value")) for i in _items(config)}}
    was = {**extended_inputs(old.config), **{i["name"]: _norm(i.get("value")) for i in _items(old.config)}}
    names = (set(new) | set(was)) - sensitive - unbound
    changed = sorted(n for n in names if new.get(n) != was.get(n))
    return (["connector-name"] if connector != old.connector_name else []) + changed


def unsealed_inputs(row: Link, box: SecretBox | None, sensitive: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Flat ``{"linkConfig.x": value}`` with the ``sensitive`` inputs decrypted (left sealed without a
    ``box``): for connectors only, never for responses. Nothing else is ever decrypted."""
    return unseal(row.config, (row.project_id, row.cluster_id, row.name), box, sensitive)


def unseal(config: dict[str, Any], where: tuple[str, str, str], box: SecretBox | None,
           sensitive: frozenset[str]) -> dict[str, Any]:
    """``unsealed_inputs`` of a sealed config of link ``where`` (project, cluster, name) not saved yet."""
    out: dict[str, Any] = dict(extended_inputs(config))  # linkConfig.httpsAccess and the like
    for item in _items(config):
        value = item.get("value")
        if box is not None and item["name"] in sensitive and value is not None:
            value = box.decrypt(value, link_context(*where, item["name"]))
        out[item["name"]] = value
    return out


def upgrade_legacy_secrets(session: Session, box: SecretBox, sensitive_for: Callable[[str], frozenset[str]],
                           taken: Counter[str]) -> int:
    """Re-seal ``enc:v1:`` link secrets for their own link and input; returns how many.

    A v1 value found twice (``taken`` counts every v1 ciphertext in the store) was copied from
    elsewhere (v1 had no context, and each encryption is unique): it is dropped, not re-sealed.
    """
    count = 0
    for row in session.scalars(select(Link)):
        config, touched = json.loads(json.dumps(row.config)), False
        for item in _items(config):
            value = item.get("value")
            if not (isinstance(value, str) and value.startswith(LEGACY_PREFIX)) \
                    or item["name"] not in sensitive_for(row.connector_name):
                continue
            touched = True
            if taken[value] > 1:
                item["value"] = None
                log.warning("link %s: stored %s was a copy of another stored secret and was removed; enter it "
                            "again", row.name, item["name"])
                continue
            try:
                plain = box.decrypt_legacy(value)
            except CdmError:  # sealed with another key: unusable either way
                item["value"] = None
                log.warning("link %s: stored %s does not decrypt with this key and was removed; enter it again",
                            row.name, item["name"])
                continue
            item["value"] = box.encrypt(plain, link_context(row.project_id, row.cluster_id, row.name, item["name"]))
            count += 1
        if touched:
            row.config = config
    return count


def legacy_values(session: Session) -> list[str]:
    """Every ``enc:v1:`` value stored in a link."""
    return [i["value"] for row in session.scalars(select(Link)) for i in _items(row.config)
            if isinstance(i.get("value"), str) and i["value"].startswith(LEGACY_PREFIX)]


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
