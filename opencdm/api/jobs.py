"""Job routes: create, show/list, update, delete, start, stop, status, history, random-cluster create+start."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from opencdm import connectors
from opencdm.api import views
from opencdm.api.deps import CallerDep, StoreDep, SupervisorDep
from opencdm.engine import expand
from opencdm.schedule import Schedule
from opencdm.engine.dirty import dirty_spec
from opencdm.engine.options import DriverOptions
from opencdm.errors import Conflict, InvalidInput
from opencdm.store import clusters as cluster_store
from opencdm.store import jobs as job_store
from opencdm.store import links as link_store
from opencdm.store import positions as position_store
from opencdm.store import schedules as schedule_store
from opencdm.store import status as st
from opencdm.store import submissions as submission_store
from opencdm.store.tables import Cluster
from opencdm.wire.common import flat_inputs
from opencdm.wire.jobs import JobIn, JobsIn, JobType, RandomClusterJobsIn, StartJobIn

router = APIRouter(prefix="/v1.1/{project_id}/clusters", tags=["jobs"])

GROUPS = {
    "from-config-values": {"fromJobConfig", "incrementalRead"},
    "to-config-values": {"toJobConfig"},
    "driver-config-values": {"throttlingConfig", "jarConfig", "schedulerConfig", "transformConfig",
                             "retryJobConfig", "groupJobConfig", "smnConfig"},
}
_rng = random.SystemRandom()
#: Largest page number (CDM's integer range, spec §8 Cdm.0009): the row offset stays a 64-bit integer.
MAX_INT = 2_147_483_647


def check_shape(job: JobIn) -> None:
    """Checks that need no cluster: connectors known and able, config group names known. No I/O."""
    for key, model in (("from-config-values", job.from_config_values), ("to-config-values", job.to_config_values),
                       ("driver-config-values", job.driver_config_values)):
        unknown = {c.name for c in model.configs} - GROUPS[key]
        if unknown:
            raise InvalidInput(f"Unknown config group(s) in {key}: {', '.join(sorted(unknown))}; "
                               f"allowed: {', '.join(sorted(GROUPS[key]))}.", code="Cdm.0089")
    for name, side in ((job.from_connector_name, "from"), (job.to_connector_name, "to")):
        if name is None:
            continue
        if side not in connectors.get(name).directions:
            raise InvalidInput(f"Connector {name} does not support the specified direction ({side}).",
                               code="Cdm.0061")
    if not job.from_link_name:
        raise InvalidInput("from-link-name cannot be left blank.", code="Cdm.0238")
    DriverOptions.parse(job.driver_config_values.flat())


def resolve(s: Session, cluster: Cluster, job: JobIn, ctx) -> dict[str, Any]:
    """Validate ``job`` against ``cluster`` (its links) and return the body to store, wire names."""
    check_shape(job)
    from_link = link_store.get(s, cluster.project_id, cluster.id, job.from_link_name)
    to_link = link_store.get(s, cluster.project_id, cluster.id, job.to_link_name)
    for given, link, side in ((job.from_connector_name, from_link, "from"), (job.to_connector_name, to_link, "to")):
        if given is not None and given != link.connector_name:
            raise InvalidInput(f"{side}-connector-name is {given} but link [{link.name}] is a "
                               f"{link.connector_name}.", code="Cdm.0018")
    body = job.dump()
    body["to-connector-name"] = to_link.connector_name
    body["name"] = job.name or f"job_{uuid.uuid4().hex[:12]}"
    for side, link, values in (("from", from_link, job.from_config_values), ("to", to_link, job.to_config_values)):
        connector = connectors.get(link.connector_name)
        if side not in connector.directions:
            raise InvalidInput(f"Connector {link.connector_name} does not support the specified direction "
                               f"({side}).", code="Cdm.0061")
        inputs = values.flat()
        expand.check(connector, inputs, None)  # bad macros are a 400 now, not a failed run later
        inputs = expand.expand(connector, inputs, datetime.now(UTC), None, ctx.timezone)
        if body.get("job_type") == "BATCH_JOB":  # checked as the sub-job of one table would run
            inputs = connector.batch_job(inputs, "opencdm_check", side)
        connector.check_job(link_store.unsealed_inputs(link, None), inputs, side, ctx)
    driver = job.driver_config_values.flat()
    Schedule.parse(driver, ZoneInfo(ctx.timezone))  # a bad schedule is a 400 now
    dirty_link = None
    if str(driver.get("throttlingConfig.writeToLink") or "").strip():
        row = link_store.get(s, cluster.project_id, cluster.id, str(driver["throttlingConfig.writeToLink"]).strip())
        bucket = driver.get("throttlingConfig.obsBucket")  # refuses links that cannot take it, or lack a bucket
        connectors.get(row.connector_name).dirty_job("check", True, bucket if isinstance(bucket, str) else None)
        dirty_link = (row.connector_name, {})
    dirty = dirty_spec(driver, ctx, dirty_link, body["name"])
    from_inputs = (link_store.unsealed_inputs(from_link, None), job.from_config_values.flat())
    if connectors.get(from_link.connector_name).permanent(*from_inputs) and \
            not connectors.get(to_link.connector_name).appends:
        raise InvalidInput(f"{to_link.connector_name} cannot receive a permanent stream (isPermanency=true); "
                           "write to a table, an Elasticsearch index or a DIS stream.", code="Cdm.0014")
    if DriverOptions.parse(driver).resumable:
        _check_resumable(body, from_link.connector_name, to_link.connector_name, from_inputs, ctx)
    if dirty.enabled and not connectors.get(to_link.connector_name).records_dirty:
        raise InvalidInput(f"{to_link.connector_name} cannot record dirty data: set throttlingConfig.recordDirtyData "
                           "to false.", code="Cdm.0014")
    return body


def _check_resumable(body: dict[str, Any], from_connector: str, to_connector: str, from_inputs: tuple, ctx) -> None:
    """``throttlingConfig.resumable`` only where a run can really be resumed; else a 400, not ignored."""
    why = None
    if body.get("job_type") == "BATCH_JOB":
        why = "an entire-database job (its tables commit one by one)"
    elif not connectors.get(to_connector).resumable:
        why = f"a {to_connector} destination"
    elif connectors.get(from_connector).extractor(from_inputs[0], from_inputs[1], ctx).stream_source() is not None:
        why = "a stream or incremental source (its runs continue from stored positions already)"
    if why:
        raise InvalidInput(f"throttlingConfig.resumable cannot apply to {why}.", code="Cdm.0014")


def _schedule(s: Session, row, ctx) -> None:
    """Keep the job's schedule state in step with its scheduler inputs (checked in ``check_shape``)."""
    s.flush()
    schedule_store.sync(s, row, Schedule.parse(flat_inputs(row.driver_config), ZoneInfo(ctx.timezone)),
                        datetime.now(UTC))


def check_count(n: int, supervisor) -> None:
    """One request creates at most ``OPENCDM_MAX_ITEMS_PER_REQUEST`` jobs."""
    limit = supervisor.settings.max_items_per_request
    if n > limit:
        raise InvalidInput(f"The number of jobs in one request ({n}) exceeds the maximum value {limit} "
                           "(OPENCDM_MAX_ITEMS_PER_REQUEST); send them in several requests.", code="Cdm.0085")


def _cluster(s: Session, project_id: str, cluster_id: str) -> Cluster:
    return cluster_store.get(s, project_id, cluster_id)


@router.post("/{cluster_id}/cdm/job")
def create_job(project_id: str, cluster_id: str, body: JobsIn, caller: CallerDep, store: StoreDep,
               supervisor: SupervisorDep) -> JSONResponse:
    check_count(len(body.jobs), supervisor)
    names = []
    with store.session() as s:
        cluster = _cluster(s, project_id, cluster_id)
        for job in body.jobs:  # all validated and created in one transaction: all or nothing
            resolved = resolve(s, cluster, job, supervisor.context(project_id))
            row = job_store.create(s, project_id, cluster.id, resolved, caller.user_name)
            _schedule(s, row, supervisor.context(project_id))
            names.append(row.name)
    return JSONResponse({"name": names[0], "validation-result": []})


@router.get("/{cluster_id}/cdm/job/{job_name}")
def show_jobs(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep,
              filter: str | None = None, page_no: int = Query(1, ge=1, le=MAX_INT),
              page_size: int = Query(10, ge=1, le=100), jobType: JobType = "NORMAL_JOB") -> JSONResponse:
    name = job_name
    with store.reading() as s:
        _cluster(s, project_id, cluster_id)
        if name == "all":
            total, rows = job_store.page(s, project_id, cluster_id, name_filter=filter, job_type=jobType,
                                         page_no=page_no, page_size=page_size)
            jobs = [views.job(r, submission_store.latest(s, r.id)) for r in rows]
            return JSONResponse({"total": total, "jobs": jobs, "page_no": page_no, "page_size": page_size})
        row = job_store.get(s, project_id, cluster_id, name)
        return JSONResponse({"total": 0, "jobs": [views.job(row, submission_store.latest(s, row.id))],
                             "page_no": page_no, "page_size": page_size})


@router.put("/{cluster_id}/cdm/job/{job_name}")
def update_job(project_id: str, cluster_id: str, job_name: str, body: JobsIn, caller: CallerDep,
               store: StoreDep, supervisor: SupervisorDep) -> JSONResponse:
    name = job_name
    if len(body.jobs) != 1:
        raise InvalidInput("Send exactly one job to update.", code="Cdm.0018")
    job = body.jobs[0]
    if job.name is not None and job.name != name:
        raise InvalidInput(f"The body names job [{job.name}] but the path names [{name}].", code="Cdm.0018")
    job.name = name
    with store.session() as s:
        cluster = _cluster(s, project_id, cluster_id)
        row = job_store.get(s, project_id, cluster_id, name, code="Cdm.0319")
        job_store.update(row, resolve(s, cluster, job, supervisor.context(project_id)), caller.user_name)
        _schedule(s, row, supervisor.context(project_id))
    return JSONResponse({"validation-result": []})


@router.delete("/{cluster_id}/cdm/job/{job_name}")
def delete_job(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep,
               supervisor: SupervisorDep) -> JSONResponse:
    name = job_name
    with store.session() as s:
        _cluster(s, project_id, cluster_id)
        row = job_store.get(s, project_id, cluster_id, name)
        if submission_store.active_for_job(s, row.id):
            raise Conflict(f"Job {name} is running; stop it before deleting it.", code="Cdm.0052")
        position_store.forget(s, project_id, position_store.job_key(cluster_id, name))
        supervisor.drop_kept_run(s, row)
        s.delete(row)
    return JSONResponse({})


@router.put("/{cluster_id}/cdm/job/{job_name}/start")
def start_job(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep,
              supervisor: SupervisorDep, body: StartJobIn | None = Body(default=None)) -> JSONResponse:
    name = job_name
    variables = {k: v for k, v in ((body.variables if body else None) or {}).items()}
    with store.session() as s:
        cluster = _cluster(s, project_id, cluster_id)
        row = job_store.get(s, project_id, cluster_id, name)
        sub = supervisor.start_run(s, cluster, row, caller.user_name, variables, resume=bool(body and body.resume))
    return JSONResponse({"submissions": [views.start_submission(sub)]})


@router.put("/{cluster_id}/cdm/job/{job_name}/stop")
def stop_job(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep,
             supervisor: SupervisorDep) -> JSONResponse:
    name = job_name
    with store.session() as s:
        _cluster(s, project_id, cluster_id)
        row = job_store.get(s, project_id, cluster_id, name)
        sub = submission_store.active_for_job(s, row.id)
        if sub is None:
            raise Conflict(f"Job {name} is not running.", code="Cdm.0053")
        sid, booting = sub.id, sub.status == st.BOOTING
    known = supervisor.stop_run(sid)
    if booting or not known:  # queued (or orphaned) runs end now; running ones end when workers notice
        with store.session() as s:
            submission_store.set_fields(s, sid, status=st.FAILED, progress=-1.0,
                                        error_summary="The run was stopped by the user.",
                                        error_details="Cancelled [Cdm.0053]: stopped before it ran")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # return once the run has really ended, so a status call agrees
        with store.reading() as s:
            if submission_store.active_for_job(s, row.id) is None:
                break
        time.sleep(0.1)
    return JSONResponse({"validation-result": []})


@router.get("/{cluster_id}/cdm/job/{job_name}/status")
def job_status(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep) -> JSONResponse:
    name = job_name
    with store.reading() as s:
        _cluster(s, project_id, cluster_id)
        row = job_store.get(s, project_id, cluster_id, name)
        sub = submission_store.latest(s, row.id)
        if sub is None:
            return JSONResponse({"submissions": [{"job-name": name, "status": st.NEVER_EXECUTED, "progress": 0,
                                                  "isIncrementing": False, "is-execute-auto": False,
                                                  "isDeleteJob": False, "isStopingIncrement": ""}]})
        return JSONResponse({"submissions": [views.submission(sub)]})


@router.get("/{cluster_id}/cdm/submissions")
def show_submissions(project_id: str, cluster_id: str, caller: CallerDep, store: StoreDep,
                     jname: str | None = None, page_no: int = Query(1, ge=1, le=MAX_INT),
                     page_size: int = Query(10, ge=1, le=100)) -> JSONResponse:
    with store.reading() as s:
        _cluster(s, project_id, cluster_id)
        total, rows = submission_store.history(s, project_id, cluster_id, jname, page_no, page_size)
        return JSONResponse({"submissions": [views.submission(r) for r in rows], "total": total,
                             "page_no": page_no, "page_size": page_size})


@router.post("/job")
def create_and_start_random_cluster_job(project_id: str, body: RandomClusterJobsIn, caller: CallerDep,
                                        store: StoreDep, supervisor: SupervisorDep) -> JSONResponse:
    """Pick a running cluster uniformly among ``clusters``, create every job there and start them, or
    create nothing at all."""
    check_count(len(body.jobs), supervisor)
    for job in body.jobs:
        check_shape(job)
    wanted = list(dict.fromkeys(body.clusters))  # de-duplicated, order kept
    with store.session() as s:
        found = {c.id: c for c in cluster_store.list_(s, project_id) if c.id in wanted}
        running = [found[c] for c in wanted if c in found and found[c].status == cluster_store.RUNNING]
        if not running:
            states = ", ".join(f"{c}: {found[c].status if c in found else 'not found'}" for c in wanted)
            raise InvalidInput(f"None of the given clusters is running (status 200): {states}.", code="Cdm.0037")
        cluster = _rng.choice(running)
        names: set[str] = set()
        subs = []
        for job in body.jobs:
            resolved = resolve(s, cluster, job, supervisor.context(project_id))
            if resolved["name"] in names:
                raise Conflict(f"Job name [{resolved['name']}] appears twice in the request.", code="Cdm.0104")
            names.add(resolved["name"])
            row = job_store.create(s, project_id, cluster.id, resolved, caller.user_name)
            _schedule(s, row, supervisor.context(project_id))
            subs.append(supervisor.start_run(s, cluster, row, caller.user_name, {}))
    return JSONResponse({"submissions": [views.start_submission(sub) for sub in subs]})
