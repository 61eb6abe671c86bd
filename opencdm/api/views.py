"""Store rows rendered as CDM wire JSON (spec §5). Secrets never leave through here."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from opencdm import __version__, connectors
from opencdm.clusters.base import dask_address
from opencdm.errors import CdmError
from opencdm.store.links import MASK
from opencdm.store.tables import Cluster, Job, Link, Submission
from opencdm.wire.clusters import DEFAULT_FLAVOR, FLAVORS
from opencdm.wire.common import flat_inputs

CDM_VERSION = "2.10.0.300"  # the CDM release whose API we mirror; opencdm's own version is in `datastore`
SQOOP_GROUP = "org.apache.sqoop.submission.counter.SqoopCounters"
STATUS_DETAIL = {"100": "Creating", "200": "Normal", "300": "Failed", "303": "Create failed", "500": "Restarting",
                 "800": "Frozen", "900": "Stopped", "910": "Stopping", "920": "Starting"}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def instance_id(cluster: Cluster) -> str:
    return f"{cluster.id}-node-1"


def cluster_instance(c: Cluster, detail: bool) -> dict[str, Any]:
    flavor = c.flavor_id if c.flavor_id in FLAVORS else DEFAULT_FLAVOR
    item = {
        "flavor": {"id": flavor, "links": []}, "volume": {"type": "LOCAL_DISK", "size": 100},
        "status": "200" if c.status in ("200", "500") else c.status, "actions": [], "type": "cdm",
        "id": instance_id(c), "name": f"{c.name}-node-1", "isFrozen": "0", "role": "Standalone",
        "group": "", "shard_id": "dn-1", "trafficIp": "127.0.0.1", "private_ip": "127.0.0.1",
        "internal_ip": "127.0.0.1", "manageIp": "127.0.0.1", "publicIp": "",
    }
    if detail:
        item.update(config_status="In-Sync", links=[], resource=[{"resource_id": instance_id(c),
                                                                    "resource_type": "server"}])
    return item


def cluster(c: Cluster, detail: bool = False, runtime: Any = None) -> dict[str, Any]:
    """CDM's cluster JSON, plus two opencdm fields: ``backend`` (where partitions run) and ``capacity``
    (the cluster-wide partition slots in use, and runs waiting for one; zeros while it is not running)."""
    settings = c.settings or {}
    address = dask_address(settings)
    flavor = FLAVORS.get(c.flavor_id, FLAVORS[DEFAULT_FLAVOR])
    out: dict[str, Any] = {
        "id": c.id, "name": c.name, "status": c.status,
        "statusDetail": settings.get("statusDetail") or STATUS_DETAIL.get(c.status, "Unknown"),
        "isFrozen": "0", "created": iso(c.created), "updated": iso(c.updated),
        "datastore": {"type": "cdm", "version": CDM_VERSION}, "flavorName": flavor[0],
        "azName": settings.get("availability_zone") or "local", "dbuser": "cdm", "recentEvent": 0,
        "isAutoOff": bool(settings.get("isAutoOff", False)),
        "isScheduleBootOff": bool(settings.get("isScheduleBootOff", False)),
        "clusterMode": "sharding", "namespace": "opencdm", "publicEndpoint": "", "actionProgress": {},
        "failedReasons": {}, "customerConfig": {"serviceProvider": f"opencdm {__version__}", "localDisk": "true",
                                                "ssl": "false", "createFrom": "opencdm"},
        "task": {}, "instances": [cluster_instance(c, detail)],
        "backend": {"type": "dask", "address": address} if address else {"type": "local"},
        "capacity": (runtime.backend.slots.usage() | {"runs": len(runtime.active)} if runtime is not None
                     else {"slots": 0, "in-use": 0, "waiting": 0, "runs": 0}),
    }
    if detail:
        out.update({
            "security_group_id": settings.get("securityGroupId", ""), "subnet_id": settings.get("subnetId", ""),
            "vpc_id": settings.get("vpcId", ""), "publicEndpointDomainName": "", "endpointDomainName": "",
            "eipId": "", "maintainWindow": {"day": "", "startTime": "", "endTime": ""},
            "publicEndpointStatus": {"status": "", "errorMessage": ""}, "links": [], "config_status": "In-Sync",
            "actions": [], "eps_id": enterprise_project(c), "tags": settings.get("tags", []),
        })
    return out


def enterprise_project(c: Cluster) -> str:
    for tag in (c.settings or {}).get("sys_tags") or []:
        if tag.get("key") == "_sys_enterprise_project_id":
            return str(tag.get("value", "0"))
    return "0"


def _mask_config(config: dict[str, Any], sensitive: frozenset[str]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for group in out.get("configs", []):
        for item in group.get("inputs", []):
            if item.get("name") in sensitive:
                item["value"] = MASK
    return out


def link(row: Link, sensitive: frozenset[str]) -> dict[str, Any]:
    return {
        "name": row.name, "connector-name": row.connector_name,
        "link-config-values": _mask_config(row.config, sensitive), "id": row.id, "enabled": row.enabled,
        "creation-user": row.creation_user, "creation-date": row.creation_date,
        "update-user": row.update_user, "update-date": row.update_date,
    }


def job(row: Job, last: Submission | None) -> dict[str, Any]:
    out = dict(row.extra or {})
    out.update({
        "job_type": row.job_type, "name": row.name, "id": row.id,
        "from-connector-name": row.from_connector, "to-connector-name": row.to_connector,
        "from-link-name": row.from_link, "to-link-name": row.to_link,
        "from-config-values": row.from_config, "to-config-values": row.to_config,
        "driver-config-values": row.driver_config,
        "creation-user": row.creation_user, "creation-date": row.creation_date,
        "update-user": row.update_user, "update-date": row.update_date,
        "status": last.status if last else "NEW", "enabled": True, "is_incre_job": _flag(row.extra, "is_incre_job"),
        "is_incrementing": False, "is_use_sql": _uses_sql(row),
        "group_name": str(_input(row.driver_config, "groupJobConfig.groupName") or "DEFAULT"),
        "flag": 0, "type": "NORMAL_JOB" if row.job_type == "NORMAL_JOB" else row.job_type,
        "external_id": last.external_id if last else "",
        "execute_start_date": last.execute_date if last else 0,
        "execute_create_date": last.creation_date if last else 0,
        "execute_update_date": last.last_update_date if last else 0,
        "rows_read": last.rows_read if last else 0, "rows_written": last.rows_written if last else 0,
        "write_rows": last.rows_written if last else 0,
        "bytes_read": last.bytes_read if last else 0, "bytes_written": last.bytes_written if last else 0,
        "update_rows": 0, "delete_rows": 0, "files_read": last.files_read if last else 0,
        "files_written": last.files_written if last else 0,
    })
    return out


def _input(config: dict[str, Any], name: str) -> Any:
    for group in (config or {}).get("configs", []):
        for item in group.get("inputs", []):
            if item.get("name") == name:
                return item.get("value")
    return None


def _flag(extra: dict | None, name: str) -> bool:
    """A boolean the client stored with the job (``true``/``"true"``), else false."""
    value = (extra or {}).get(name, False)
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _uses_sql(row: Job) -> bool:
    try:
        return connectors.get(row.from_connector).uses_sql(flat_inputs(row.from_config))
    except CdmError:  # a connector no longer installed, or inputs it cannot read
        return False


def start_submission(s: Submission) -> dict[str, Any]:
    """``StartJobSubmission`` (Table 10), plus ``cluster_id`` so a client can follow the run up."""
    return {
        "isIncrementing": False, "delete_rows": 0, "update_rows": 0, "write_rows": s.rows_written,
        "submission-id": s.id, "submisson-id": s.id,  # the seed's example response spells it so
        "job-name": s.job_name, "creation-user": s.creation_user,
        "creation-date": s.creation_date, "execute-date": s.execute_date, "progress": s.progress,
        "status": s.status, "isStopingIncrement": "", "is-execute-auto": s.is_execute_auto,
        "last-update-date": s.last_update_date, "last-update-user": s.creation_user,
        "last-udpate-user": s.creation_user,  # the docs' spelling, for clients written from Table 10
        "isDeleteJob": s.is_delete_job, "cluster_id": s.cluster_id,
    }


def submission(s: Submission) -> dict[str, Any]:
    """``Submission``: counters always present (live while running), errors only when FAILED."""
    out = start_submission(s)
    out["external-id"] = s.external_id
    files = s.total_files > 0 or s.files_written > 0  # else no file was involved: -1 (n/a) as CDM shows
    out["counters"] = {SQOOP_GROUP: {
        "BYTES_WRITTEN": s.bytes_written, "TOTAL_FILES": s.total_files if files else -1, "BYTES_READ": s.bytes_read,
        "FILES_WRITTEN": s.files_written if files else -1, "TOTAL_SIZE": s.total_size if files else -1,
        "FILES_READ": s.files_read if files else -1, "ROWS_WRITTEN": s.rows_written, "ROWS_READ": s.rows_read,
        "FILES_SKIPPED": s.files_skipped if files else -1, "ROWS_WRITTEN_SKIPPED": s.rows_dirty,
    }}
    if s.status == "FAILED":
        out["error-summary"] = s.error_summary or ""
        out["error-details"] = s.error_details or ""
    if s.sub_jobs:  # an opencdm extension: the tables of an entire-database run
        out["sub-jobs"] = s.sub_jobs
    if s.write_path:  # an opencdm extension: how the run writes its target (see the README)
        out["write-path"] = s.write_path
    if s.checkpoint:  # an opencdm extension: a resumable run's progress by partition
        cp = s.checkpoint
        out["checkpoint"] = {"partitions": cp.get("parts", 0), "done": len(cp.get("done", {})),
                             **({"resumed-from": cp["resumed_from"]} if cp.get("resumed_from") else {})}
    return out
