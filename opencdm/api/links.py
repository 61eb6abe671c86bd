"""Link routes: create (optionally validate only), show, update, delete."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opencdm import connectors
from opencdm.api import views
from opencdm.api.deps import BoxDep, CallerDep, StoreDep
from opencdm.api.errors import error_body
from opencdm.connectors.base import Connector
from opencdm.errors import CdmError, Conflict, InvalidInput, LinkError
from opencdm.store import clusters as cluster_store
from opencdm.store import links as link_store
from opencdm.store.db import now_ms
from opencdm.wire.jobs import LinkIn, LinksIn

log = logging.getLogger("opencdm.api")

router = APIRouter(prefix="/v1.1/{project_id}/clusters/{cluster_id}/cdm", tags=["links"])

#: Which pairs CDM can migrate table-to-table / entire-DB: reported on GET link (spec §4.2).
def _mappings() -> tuple[str, str]:
    """``fromTo-unMapping`` (per source, the connectors it cannot write to: those that are sources only)
    and ``batchFromTo-mapping`` (per entire-database source, the connectors its tables can go to),
    from what the registered connectors can do."""
    names = connectors.names()
    sources = [n for n in names if "from" in connectors.get(n).directions]
    no_target = sorted(n for n in names if "to" not in connectors.get(n).directions)
    unmapped = {s: no_target for s in sources if no_target}
    batch_sources = [n for n in sources if type(connectors.get(n)).batch_items is not Connector.batch_items]
    targets = []
    for n in names:
        try:
            connectors.get(n).batch_job({}, "t", "to")
            targets.append(n)
        except CdmError:
            pass
    return json.dumps(unmapped, separators=(",", ":")), json.dumps({s: targets for s in batch_sources},
                                                                     separators=(",", ":"))


def _one(body: LinksIn) -> LinkIn:
    if len(body.links) != 1:
        raise InvalidInput("Send exactly one link per request.", code="Cdm.0018")
    link = body.links[0]
    connectors.get(link.connector_name)  # an unknown connector is a Cdm.0102 error naming the known ones
    groups = {c.name for c in link.link_config_values.configs}
    unknown = groups - {"linkConfig", "dialect"}
    if unknown:
        raise InvalidInput(f"Unknown link config group(s): {', '.join(sorted(unknown))}.", code="Cdm.0089")
    return link


def _config(link: LinkIn) -> dict[str, Any]:
    return link.link_config_values.dump()


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    return {i["name"]: i.get("value") for c in config.get("configs", []) for i in c.get("inputs", [])}


async def _check(request: Request, project_id: str, connector_name: str,
                 inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Connect with the link's inputs; a failure is reported CDM-style (400 with validation-result).
    What the connector found (a server's product and version) goes to ``request.state.link_check``."""
    connector = connectors.get(connector_name)
    ctx = request.app.state.supervisor.context(project_id)
    try:
        found = await anyio.to_thread.run_sync(connector.check_link, inputs, ctx)
    except InvalidInput:
        raise
    except LinkError as exc:
        return [{"linkConfig": [{"message": f"{exc.code}: {exc.message}", "status": "ERROR"}]}]
    request.state.link_check = found
    if found:
        log.info("link check request=%s connector=%s: %s", getattr(request.state, "request_id", ""),
                 connector_name, found)
    return []


def _passed(request: Request, **fields: Any) -> JSONResponse:
    """A link that passed its check: CDM's empty validation-result, plus (an opencdm extension)
    ``link-check``, what the connector found at the other end when it says (e.g. "OpenSearch 3.8.0")."""
    found = getattr(request.state, "link_check", None)
    return JSONResponse({**fields, "validation-result": [], **({"link-check": found} if found else {})})


def _failed(request: Request, results: list[dict[str, Any]], name: str) -> JSONResponse:
    message = results[0]["linkConfig"][0]["message"]
    code = message.split(":", 1)[0]
    body = error_body(code, f"Link [{name}] is invalid: {message}", getattr(request.state, "request_id", ""))
    return JSONResponse({"validation-result": results, **body}, status_code=400)


@router.post("/link")
async def create_link(project_id: str, cluster_id: str, body: LinksIn, request: Request, caller: CallerDep,
                      store: StoreDep, box: BoxDep, validate: bool = False) -> JSONResponse:
    link = _one(body)
    config = _config(link)
    connector = connectors.get(link.connector_name)
    where = (project_id, cluster_id, link.name)

    def exists() -> None:
        with store.session() as s:
            cluster_store.get(s, project_id, cluster_id)
            try:
                link_store.get(s, project_id, cluster_id, link.name)
            except CdmError:
                return
            raise Conflict(f"Link name [{link.name}] already exist or created by other user.",
                                      code="Cdm.0315")

    await anyio.to_thread.run_sync(exists)
    sealed = link_store.seal(config, link.connector_name, connector.sensitive_inputs, connector.unbound_inputs,
                             box, where)
    inputs = link_store.unseal(sealed, where, box, connector.sensitive_inputs)
    results = await _check(request, project_id, link.connector_name, inputs)
    if results:
        return _failed(request, results, link.name)
    if validate:
        return _passed(request, name=link.name)

    def save() -> None:
        with store.session() as s:
            link_store.create(s, project_id, cluster_id, link.name, link.connector_name, sealed,
                              True if link.enabled is None else link.enabled, caller.user_name)

    await anyio.to_thread.run_sync(save)
    return _passed(request, name=link.name)


@router.get("/link")
def list_links(project_id: str, cluster_id: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    """An opencdm extension (CDM has no list route): every link of the cluster, secrets masked as in show."""
    with store.session() as s:
        cluster_store.get(s, project_id, cluster_id)
        return JSONResponse({"links": [views.link(row, _sensitive(row))
                                       for row in link_store.list_(s, project_id, cluster_id)]})


@router.get("/link/{link_name}")
def show_link(project_id: str, cluster_id: str, link_name: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    with store.session() as s:
        cluster_store.get(s, project_id, cluster_id)
        row = link_store.get(s, project_id, cluster_id, link_name)
        sensitive = _sensitive(row)
        unmapped, batch = _mappings()
        return JSONResponse({"links": [views.link(row, sensitive)], "fromTo-unMapping": unmapped,
                             "batchFromTo-mapping": batch})


def _sensitive(row) -> frozenset[str]:
    """The connector's secret inputs; every input when the connector is no longer installed."""
    try:
        return connectors.get(row.connector_name).sensitive_inputs
    except CdmError:
        return frozenset(i["name"] for c in (row.config or {}).get("configs", []) for i in c.get("inputs", []))


@router.put("/link/{link_name}")
async def update_link(project_id: str, cluster_id: str, link_name: str, body: LinksIn, request: Request,
                      caller: CallerDep, store: StoreDep, box: BoxDep) -> JSONResponse:
    name = link_name
    link = _one(body)
    if link.name != name:
        raise InvalidInput(f"The body names link [{link.name}] but the path names [{name}].", code="Cdm.0018")
    connector = connectors.get(link.connector_name)
    where = (project_id, cluster_id, name)

    def load() -> dict[str, Any]:
        with store.session() as s:
            cluster_store.get(s, project_id, cluster_id)
            row = link_store.get(s, project_id, cluster_id, name)
            return link_store.seal(_config(link), link.connector_name, connector.sensitive_inputs,
                                   connector.unbound_inputs, box, where, old=row)

    sealed = await anyio.to_thread.run_sync(load)
    inputs = link_store.unseal(sealed, where, box, connector.sensitive_inputs)
    results = await _check(request, project_id, link.connector_name, inputs)
    if results:
        return _failed(request, results, name)

    def save() -> None:
        with store.session() as s:
            row = link_store.get(s, project_id, cluster_id, name)
            row.connector_name = link.connector_name
            row.config = sealed
            if link.enabled is not None:
                row.enabled = link.enabled
            row.update_user = caller.user_name
            row.update_date = now_ms()

    await anyio.to_thread.run_sync(save)
    return _passed(request)


@router.delete("/link/{link_name}")
def delete_link(project_id: str, cluster_id: str, link_name: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    with store.session() as s:
        cluster_store.get(s, project_id, cluster_id)
        link_store.delete(s, link_store.get(s, project_id, cluster_id, link_name))
    return JSONResponse({})
