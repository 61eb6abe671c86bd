"""``GET .../cdm/job/{name}/dirty-data``: an opencdm extension that reads back a run's dirty rows.

CDM has no route for this (its console opens the OBS bucket). Here the rows a run recorded as
JSON-lines files (``throttlingConfig.recordDirtyData`` without ``writeToLink``, see
``engine/dirty.py``) are read from the job's folder under the project's file root, found with the
same helpers the run used, so no request can make the server read outside the project's roots.
Rows recorded through ``throttlingConfig.writeToLink`` live in that link's store: read them there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from opencdm.api.deps import CallerDep, StoreDep, SupervisorDep
from opencdm.connectors.files.paths import confine
from opencdm.engine.dirty import dirty_spec
from opencdm.errors import InvalidInput, NotFound
from opencdm.store import clusters as cluster_store
from opencdm.store import jobs as job_store
from opencdm.store.tables import Submission
from opencdm.wire.common import flat_inputs

router = APIRouter(prefix="/v1.1/{project_id}/clusters/{cluster_id}/cdm", tags=["jobs"])
#: A dirty row's reason is cut at 2,000 characters when recorded; its row could be larger: cap one line.
MAX_LINE = 1 << 20


def _read(files: list[Path], limit: int, ctx) -> tuple[list[dict[str, Any]], bool]:
    rows: list[dict[str, Any]] = []
    for path in files:
        confine(str(path), ctx, "a dirty-data file")  # a symlink planted in the folder cannot lead out
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if len(rows) == limit:
                    return rows, True
                line = line[:MAX_LINE].strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                    row = json.loads(item.get("row_json") or "null")
                except (json.JSONDecodeError, AttributeError):
                    continue  # a line cut by a crash mid-write
                rows.append({"partition": item.get("partition"), "row": row, "reason": item.get("reason", ""),
                             "recorded-at": item.get("recorded_at")})
    return rows, False


@router.get("/job/{job_name}/dirty-data")
def dirty_data(project_id: str, cluster_id: str, job_name: str, caller: CallerDep, store: StoreDep,
               supervisor: SupervisorDep, submission_id: int = Query(alias="submission-id", ge=1, le=2_147_483_647),
               limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    """Up to ``limit`` dirty rows of run ``submission-id`` of the job, each with its partition and reason."""
    ctx = supervisor.context(project_id)
    with store.session() as s:
        cluster_store.get(s, project_id, cluster_id)
        job = job_store.get(s, project_id, cluster_id, job_name)
        driver = flat_inputs(job.driver_config)
        if through := str(driver.get("throttlingConfig.writeToLink") or "").strip():
            raise InvalidInput(f"Job [{job_name}] records dirty data through link [{through}] "
                               "(throttlingConfig.writeToLink): read them in that link's store.", code="Cdm.0014")
        sub = s.get(Submission, submission_id)
        if sub is None or (sub.project_id, sub.cluster_id, sub.job_name) != (project_id, cluster_id, job_name):
            raise NotFound(f"Job [{job_name}] has no submission {submission_id}.", code="Cdm.0001")
        total = sub.rows_dirty
    # where this job's runs write their files, whether or not the job still records dirty data
    spec = dirty_spec({**driver, "throttlingConfig.recordDirtyData": "true"}, ctx, None, job_name)
    folder = Path(spec.directory or ".") / str(submission_id)
    files = sorted(folder.glob("part-*.jsonl")) if folder.is_dir() else []
    rows, truncated = _read(files, limit, ctx)
    return JSONResponse({"job-name": job_name, "submission-id": submission_id, "total": total,
                         "truncated": truncated, "dirty-data": rows})
