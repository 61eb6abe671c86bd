"""Cluster routes: list, detail, create, delete, modify, and start/stop/restart through /action."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from opencdm.api import views
from opencdm.api.deps import CallerDep, StoreDep, SupervisorDep
from opencdm.clusters.base import DASK_TAG, dask_address
from opencdm.connectors import egress
from opencdm.errors import Conflict, InvalidInput
from opencdm.store import clusters as cluster_store
from opencdm.store import submissions as submission_store
from opencdm.store.db import now_ms
from opencdm.wire.clusters import (
    DEFAULT_FLAVOR,
    FLAVORS,
    ClusterActionIn,
    CreateClusterIn,
    DeleteClusterIn,
    ModifyClusterIn,
)

router = APIRouter(prefix="/v1.1/{project_id}", tags=["clusters"])

#: Longest stop.delayTime / restart.restartDelayTime accepted: a day.
MAX_DELAY = 86_400


@router.get("/clusters")
def list_clusters(project_id: str, caller: CallerDep, store: StoreDep, supervisor: SupervisorDep) -> JSONResponse:
    with store.reading() as s:
        return JSONResponse({"clusters": [views.cluster(c, runtime=supervisor.runtimes.get(c.id))
                                          for c in cluster_store.list_(s, project_id)]})


@router.get("/clusters/{cluster_id}")
def show_cluster(project_id: str, cluster_id: str, caller: CallerDep, store: StoreDep,
                 supervisor: SupervisorDep) -> JSONResponse:
    with store.reading() as s:
        c = cluster_store.get(s, project_id, cluster_id)
        return JSONResponse(views.cluster(c, detail=True, runtime=supervisor.runtimes.get(c.id)))


@router.post("/clusters", status_code=202)
def create_cluster(project_id: str, body: CreateClusterIn, caller: CallerDep, store: StoreDep,
                   supervisor: SupervisorDep) -> JSONResponse:
    spec = body.cluster
    flavor = (spec.instances[0].flavorRef if spec.instances else None) or DEFAULT_FLAVOR
    if flavor not in FLAVORS:
        raise InvalidInput(f"Unknown flavorRef [{flavor}]; known: {', '.join(FLAVORS)}.", code="Cdm.0014")
    settings = spec.model_dump(exclude={"instances", "name"}, exclude_none=True)
    if spec.instances:
        settings["availability_zone"] = spec.instances[0].availability_zone
    _check_dask(dask_address(settings), supervisor.context(project_id))
    quota = supervisor.settings.max_clusters_per_project
    with store.session() as s:
        if len(cluster_store.list_(s, project_id)) >= quota:
            raise InvalidInput(f"The number of clusters in this project exceeds the maximum value {quota} "
                               "(OPENCDM_MAX_CLUSTERS_PER_PROJECT); delete one first.", code="Cdm.0085")
        row = cluster_store.create(s, project_id, spec.name, flavor, settings)
        cid, name = row.id, row.name
    supervisor.bring_up(cid, flavor)
    return JSONResponse(status_code=202, content={
        "id": cid, "name": name, "task": {"id": uuid.uuid4().hex, "name": "createCluster"},
        "datastore": {"type": "cdm", "version": views.CDM_VERSION},
        "instances": [{"id": f"{cid}-node-1", "name": f"{name}-node-1", "type": "cdm", "shard_id": "dn-1"}],
    })


def _check_dask(address: str | None, ctx) -> None:
    """A Dask-bound cluster (system tag ``opencdm.dask-scheduler``): ``tcp://host:port`` or ``tls://host:port``,
    a host the server may reach (``OPENCDM_LINK_EGRESS_ALLOW``)."""
    if address is None:
        return
    url = urlsplit(address)
    if url.scheme not in ("tcp", "tls") or not url.hostname or not url.port or url.path not in ("", "/"):
        raise InvalidInput(f"The {DASK_TAG} system tag must be a Dask scheduler address such as tcp://host:8786, "
                           f"got {address[:100]!r}.", code="Cdm.0014")
    egress.address(url.hostname, url.port, ctx, f"cluster.sys_tags {DASK_TAG}")


@router.delete("/clusters/{cluster_id}", status_code=202)
def delete_cluster(project_id: str, cluster_id: str, caller: CallerDep, store: StoreDep,
                   supervisor: SupervisorDep, body: DeleteClusterIn | None = Body(default=None)) -> JSONResponse:
    with store.session() as s:
        row = cluster_store.get(s, project_id, cluster_id)
        if submission_store.active(s, cluster_id):
            raise Conflict(f"Cluster [{cluster_id}] has running jobs; stop them first.", code="Cdm.0052")
        s.delete(row)
    supervisor.forget_cluster(cluster_id)
    return JSONResponse(status_code=202, content={"jobId": uuid.uuid4().hex})


@router.post("/cluster/modify/{cluster_id}")
def modify_cluster(project_id: str, cluster_id: str, body: ModifyClusterIn, caller: CallerDep,
                   store: StoreDep) -> JSONResponse:
    with store.session() as s:
        row = cluster_store.get(s, project_id, cluster_id)
        changes = body.model_dump(exclude_none=True)
        if "autoOff" in changes:
            changes["isAutoOff"] = changes.pop("autoOff")
        if "scheduleBootOff" in changes:
            changes["isScheduleBootOff"] = changes.pop("scheduleBootOff")
        row.settings = {**(row.settings or {}), **changes}
        row.updated = now_ms()
    return JSONResponse({})


@router.post("/clusters/{cluster_id}/action")
def cluster_action(project_id: str, cluster_id: str, body: ClusterActionIn, caller: CallerDep, store: StoreDep,
                   supervisor: SupervisorDep) -> JSONResponse:
    chosen = [k for k in ("start", "stop", "restart") if getattr(body, k) is not None]
    if len(chosen) != 1:
        raise InvalidInput("The body must hold exactly one of start, stop or restart.", code="Cdm.0014")
    action = chosen[0]
    with store.session() as s:
        row = cluster_store.get(s, project_id, cluster_id)
        status, flavor = row.status, row.flavor_id
    task = uuid.uuid4().hex
    if action == "start":
        if status == cluster_store.RUNNING:
            return JSONResponse({"jobId": [task]})
        if status not in (cluster_store.STOPPED, cluster_store.FAILED):
            raise Conflict(f"Cluster [{cluster_id}] cannot start from status {status}.", code="Cdm.0014")
        supervisor.bring_up(cluster_id, flavor, via=cluster_store.STARTING)
        return JSONResponse({"jobId": [task]})
    if action == "stop":
        if status == cluster_store.STOPPED:
            return JSONResponse({"jobId": [task]})
        stop = body.stop
        mode = (stop.stopMode or "IMMEDIATELY").upper()
        if mode not in ("IMMEDIATELY", "GRACEFULLY"):
            raise InvalidInput("stop.stopMode must be IMMEDIATELY or GRACEFULLY.", code="Cdm.0014")
        delay = -1 if stop.delayTime is None else stop.delayTime
        if not -1 <= delay <= MAX_DELAY:
            raise InvalidInput(f"stop.delayTime must be -1 (wait for every job) or 0 to {MAX_DELAY} seconds.",
                               code="Cdm.0014")
        # GRACEFULLY: running jobs may finish (delayTime seconds; -1: however long), new ones are refused
        drain = 0 if mode == "IMMEDIATELY" else None if delay == -1 else delay
        supervisor.stop_cluster(cluster_id, drain=drain)
        return JSONResponse({"jobId": [task]})
    if status not in (cluster_store.RUNNING, cluster_store.FAILED):
        raise Conflict(f"Cluster [{cluster_id}] cannot restart from status {status}.", code="Cdm.0014")
    restart = body.restart
    mode = (restart.restartMode or "IMMEDIATELY").upper()
    level = (restart.restartLevel or "SERVICE").upper()
    if mode not in ("IMMEDIATELY", "FORCELY", "SOFTLY") or level not in ("SERVICE", "VM") \
            or (restart.type or "cdm") != "cdm":
        raise InvalidInput("restart.restartMode must be IMMEDIATELY, FORCELY or SOFTLY, restart.restartLevel "
                           "SERVICE or VM, and restart.type cdm.", code="Cdm.0014")
    delay = restart.restartDelayTime or 0
    if not 0 <= delay <= MAX_DELAY:
        raise InvalidInput(f"restart.restartDelayTime must be 0 to {MAX_DELAY} seconds.", code="Cdm.0014")
    # SOFTLY lets running jobs finish first; IMMEDIATELY and FORCELY stop them. A local cluster has no VM
    # of its own, so both levels restart the cluster's worker processes.
    supervisor.restart_cluster(cluster_id, flavor, delay=delay, drain=None if mode == "SOFTLY" else 0)
    return JSONResponse({"jobId": task})
