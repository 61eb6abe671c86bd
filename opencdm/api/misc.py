"""Self-hosted answers for AZs, datastores, flavors, enterprise projects and instances (spec §4.6)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opencdm.api import views
from opencdm.api.deps import CallerDep, StoreDep
from opencdm.errors import NotFound
from opencdm.store import clusters as cluster_store
from opencdm.wire.clusters import FLAVORS

router = APIRouter(prefix="/v1.1/{project_id}", tags=["other"])

DATASTORE_ID = "opencdm-local"
LOCAL_AZ = "local"


@router.get("/regions/{region_id}/availability_zones")
def availability_zones(project_id: str, region_id: str, caller: CallerDep) -> JSONResponse:
    """One zone: this machine (a Dask cluster brings its own workers, not zones)."""
    return JSONResponse({"regionId": region_id, "defaultAZ": LOCAL_AZ, "availableZones": [
        {"availableZoneId": LOCAL_AZ, "availableZoneName": LOCAL_AZ, "availableZoneCode": LOCAL_AZ,
         "azStatus": "ACTIVE", "type": "local", "tags": {}}]})


def _version() -> dict:
    return {"active": "true", "id": views.CDM_VERSION, "image": "opencdm", "name": views.CDM_VERSION,
            "packages": "opencdm", "datastore": DATASTORE_ID, "links": []}


@router.get("/datastores")
def datastores(project_id: str, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"datastores": [{"id": DATASTORE_ID, "name": "cdm", "bigclusterEnable": False,
                                         "defaultVersion": views.CDM_VERSION, "versions": [_version()]}]})


def _flavor(flavor_id: str) -> dict:
    name, cpu, ram = FLAVORS[flavor_id]
    return {"cpu": cpu, "ram": ram, "name": name, "region": LOCAL_AZ, "typename": "cdm", "clusterMode": "sharding",
            "status": "normal", "str_id": flavor_id}


@router.get("/datastores/{datastore_id}/flavors")
def flavors(project_id: str, datastore_id: str, caller: CallerDep) -> JSONResponse:
    if datastore_id != DATASTORE_ID:
        raise NotFound(f"Datastore [{datastore_id}] does not exist; this server has [{DATASTORE_ID}].")
    return JSONResponse({"id": DATASTORE_ID, "dbname": "cdm", "versions": [
        {"id": views.CDM_VERSION, "name": views.CDM_VERSION, "flavors": [_flavor(f) for f in FLAVORS]}]})


@router.get("/flavors/{flavor_id}")
def flavor_detail(project_id: str, flavor_id: str, caller: CallerDep) -> JSONResponse:
    if flavor_id not in FLAVORS:
        raise NotFound(f"Flavor [{flavor_id}] does not exist.")
    name, cpu, ram = FLAVORS[flavor_id]
    return JSONResponse({"name": name, "str_id": flavor_id, "flavor_detail": [
        {"name": "cpu", "value": str(cpu)}, {"name": "mem", "value": str(ram)},
        {"name": "workers", "value": str(cpu)}]})


@router.get("/enterprise-projects")
def enterprise_projects(project_id: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    with store.reading() as s:
        rows = cluster_store.list_(s, project_id)
        return JSONResponse({"resources": [
            {"cluster_id": c.id, "sys_tags": [{"key": "_sys_enterprise_project_id", "value": views.enterprise_project(c)}]}
            for c in rows]})


@router.get("/clusters/{cluster_id}/enterprise-projects")
def cluster_enterprise_project(project_id: str, cluster_id: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    with store.reading() as s:
        c = cluster_store.get(s, project_id, cluster_id)
        return JSONResponse({"sys_tags": [{"key": "_sys_enterprise_project_id",
                                           "value": views.enterprise_project(c)}]})


@router.get("/instances/{instance_id}")
def instance(project_id: str, instance_id: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    """Each local cluster has one node, ``<cluster id>-node-1``."""
    cluster_id = instance_id.removesuffix("-node-1")
    with store.reading() as s:
        try:
            c = cluster_store.get(s, project_id, cluster_id)
        except NotFound:
            raise NotFound(f"Instance [{instance_id}] does not exist.", code="Cdm.0201") from None
        if views.instance_id(c) != instance_id:
            raise NotFound(f"Instance [{instance_id}] does not exist.", code="Cdm.0201")
        settings = c.settings or {}
        return JSONResponse({"instance": {
            "configurationStatus": "In-Sync", "paramsGroupId": "", "type": "cdm", "role": "Standalone",
            "subnetid": settings.get("subnetId", ""), "securegroup": "", "vpc": settings.get("vpcId", ""),
            "azcode": LOCAL_AZ, "region": LOCAL_AZ, "created": views.iso(c.created), "updated": views.iso(c.updated),
            "name": f"{c.name}-node-1", "id": instance_id, "flavor": {"id": c.flavor_id, "links": []},
            "datastore": {"type": "cdm", "version": views.CDM_VERSION}, "dbuser": "cdm", "payModel": 0,
            "publicIp": "", "trafficIp": "127.0.0.1", "trafficIpv6": "", "cluster_id": c.id}})
